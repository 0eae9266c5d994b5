"""N-best rescoring: remove the old n-gram LM from the graph costs, add the new (interpolated) LM.

The graph-cost rule is the rescoring core's (:class:`kaldi_mpq.rescoring.core.GraphCost`), summed
over each hypothesis' words and ``</s>``::

    graph' = graph + log P_old(words) - log P_new(words)          (old LM given)
    graph' = (1 - weight) * graph - weight * log P_lm(words)       (no old LM)

with ``P_new`` the word-level interpolation of the new LM with the old one, or with ``ngram_lm``.

LM scores are computed once (:func:`score_nbest`, prefix tree, all utterances batched together);
:func:`apply_scores` then combines them for any weight, so sweeping the weight costs no LM calls.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from kaldi_mpq.lattice.lattice import Lattice
from kaldi_mpq.lm.interface import LanguageModel
from kaldi_mpq.nbest.lattice_roundtrip import DEFAULT_N, nbest_from_lattice, nbest_to_lattice
from kaldi_mpq.nbest.nbest import NbestList, all_sentences
from kaldi_mpq.nbest.prefix import DEFAULT_MAX_BATCH, score_with_prefix_tree
from kaldi_mpq.ngram.interpolate import DEFAULT_INTERPOLATION, DEFAULT_WEIGHT
from kaldi_mpq.rescoring.core import GraphCost, RescoringLMs

logger = logging.getLogger(__name__)


@dataclass
class NbestScores:
    """Per-token natural-log probabilities of every entry, in :func:`all_sentences` order.

    Attributes:
        lm: the new LM's (words then ``</s>``).
        old: the old LM's, or ``None`` when there is no old LM.
        ngram: the n-gram interpolated with, when it is not the old LM (``None``: the old LM).
    """

    lm: list[np.ndarray]
    old: Optional[list[np.ndarray]]
    ngram: Optional[list[np.ndarray]] = None

    def graph_cost(self, weight: float, interpolation: Optional[str]) -> GraphCost:
        """The graph-cost rule for these scores (raises ConfigError for bad settings)."""
        return GraphCost(weight, interpolation, self.old is not None, self.ngram is not None)

    def of_entry(self, k: int) -> list[np.ndarray]:
        """Entry ``k``'s log-probs in :meth:`GraphCost.word_terms` order."""
        return [scores[k] for scores in (self.lm, self.old, self.ngram) if scores is not None]


def score_nbest(
    lists: Sequence[NbestList],
    lm: LanguageModel,
    old_lm: Optional[LanguageModel] = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    ngram_lm: Optional[LanguageModel] = None,
) -> NbestScores:
    """Score every hypothesis of every list with ``lm`` (and ``old_lm``, ``ngram_lm``), shared prefixes once.

    Raises:
        SymbolTableError: "word lists mismatch" if the LMs' vocabularies differ.
        ConfigError: ``ngram_lm`` without ``old_lm``.
    """
    lms = RescoringLMs(lm, old_lm, ngram_lm)
    sentences = all_sentences(lists)
    lm_scores, old, ngram = (score_with_prefix_tree(m, sentences, max_batch) if m is not None else None
                             for m in (lms.lm, lms.old, lms.ngram))
    logger.info("scored %d hypotheses, %d words", len(sentences), sum(len(s) + 1 for s in sentences))
    return NbestScores(lm=lm_scores, old=old, ngram=ngram)


def apply_scores(
    lists: Sequence[NbestList],
    scores: NbestScores,
    weight: float = DEFAULT_WEIGHT,
    interpolation: str = DEFAULT_INTERPOLATION,
) -> list[NbestList]:
    """New lists whose graph costs carry the new LM instead of the old (see the module docstring).

    Raises:
        ConfigError: a bad weight or kind, or ``linear`` without an old LM.
    """
    rule = scores.graph_cost(weight, interpolation)
    out = []
    k = 0
    for nb in lists:
        entries = []
        for e in nb.entries:
            entries.append(e.with_graph_cost(rule.hypothesis(e.graph_cost, *scores.of_entry(k))))
            k += 1
        out.append(NbestList(nb.key, entries))
    return out


def rescore_nbest(
    lists: Sequence[NbestList],
    lm: LanguageModel,
    old_lm: Optional[LanguageModel] = None,
    weight: float = DEFAULT_WEIGHT,
    interpolation: str = DEFAULT_INTERPOLATION,
    max_batch: int = DEFAULT_MAX_BATCH,
    ngram_lm: Optional[LanguageModel] = None,
) -> list[NbestList]:
    """:func:`score_nbest` then :func:`apply_scores`."""
    GraphCost(weight, interpolation, old_lm is not None, ngram_lm is not None)  # bad settings fail before scoring
    return apply_scores(lists, score_nbest(lists, lm, old_lm, max_batch, ngram_lm), weight, interpolation)


def rescore_lattice_nbest(
    lattices: Sequence[Lattice],
    lms: RescoringLMs,
    n: int = DEFAULT_N,
    acwt: float = 0.1,
    weight: float = DEFAULT_WEIGHT,
    interpolation: Optional[str] = DEFAULT_INTERPOLATION,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> list[Optional[Lattice]]:
    """Each lattice's ``n`` best word sequences rescored and written back as one lattice (``None``
    where a lattice has no path): what ``nbest-rescore`` does to every archive."""
    lists = [nbest_from_lattice(lat, n, acwt) for lat in lattices]
    new = rescore_nbest(lists, lms.lm, lms.old, weight, interpolation, max_batch, lms.ngram)
    return [nbest_to_lattice(nb) for nb in new]
