"""N-best rescoring: remove the old n-gram LM from the graph costs, add the new (interpolated) LM.

With an old LM (the first-pass n-gram, as Kaldi's ``lattice-lmrescore --lm-scale=-1`` removes it)::

    graph' = graph + log P_old(words) - log P_new(words)
    log P_new(w | h) = interpolation of log P_lm(w | h) and log P_old(w | h), word by word

so the non-LM parts of the graph cost (pronunciation, transition probabilities) stay. A separate
``ngram_lm`` replaces the old LM on the interpolation side (remove the first-pass LM, mix the neural LM
with another n-gram -- a bigger one, or one trained on different text)::

    log P_new(w | h) = interpolation of log P_lm(w | h) and log P_ngram(w | h)

Without an old
LM the graph cost itself stands for the n-gram side of a log-linear mix::

    graph' = (1 - weight) * graph - weight * log P_lm(words)

LM scores are computed once (:func:`score_nbest`, prefix tree, all utterances batched together);
:func:`apply_scores` then combines them for any weight, so sweeping the weight costs no LM calls.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.lm.interface import LanguageModel
from kaldi_mpq.nbest.nbest import NbestList, all_sentences
from kaldi_mpq.nbest.prefix import DEFAULT_MAX_BATCH, score_with_prefix_tree
from kaldi_mpq.ngram.interpolate import (
    DEFAULT_INTERPOLATION,
    DEFAULT_WEIGHT,
    check_interpolation,
    combine_logprobs,
)

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


def check_settings(has_old_lm: bool, weight: float, interpolation: str, has_ngram_lm: bool = False) -> None:
    """Raise :class:`ConfigError` for a bad weight or kind, ``linear`` without an old LM, or a separate
    n-gram LM without an old LM."""
    check_interpolation(weight, interpolation)
    if has_ngram_lm and not has_old_lm:
        raise ConfigError("a separate n-gram LM to interpolate with (--ngram) needs the old LM to remove (--old-lm)")
    if not has_old_lm and interpolation == "linear":
        raise ConfigError(
            "linear interpolation needs the old n-gram LM (--old-lm); without it use "
            "--interpolation log-linear (the graph cost then stands for the n-gram)"
        )


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
    if ngram_lm is not None and old_lm is None:
        check_settings(False, DEFAULT_WEIGHT, "log-linear", True)
    for other in (old_lm, ngram_lm):
        if other is not None:
            lm.symbols.check_same(other.symbols)
    sentences = all_sentences(lists)
    lm_scores = score_with_prefix_tree(lm, sentences, max_batch)
    old = score_with_prefix_tree(old_lm, sentences, max_batch) if old_lm is not None else None
    ngram = score_with_prefix_tree(ngram_lm, sentences, max_batch) if ngram_lm is not None else None
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
    check_settings(scores.old is not None, weight, interpolation)
    out = []
    k = 0
    for nb in lists:
        entries = []
        for e in nb.entries:
            lm_lp = scores.lm[k]
            if scores.old is None:
                graph = (1.0 - weight) * e.graph_cost - weight * float(lm_lp.sum())
            else:
                old_lp = scores.old[k]
                other = scores.ngram[k] if scores.ngram is not None else old_lp
                new_lp = combine_logprobs(lm_lp, other, weight, interpolation)
                graph = e.graph_cost + float(old_lp.sum()) - float(new_lp.sum())
            entries.append(e.with_graph_cost(graph))
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
    check_settings(old_lm is not None, weight, interpolation, ngram_lm is not None)
    return apply_scores(lists, score_nbest(lists, lm, old_lm, max_batch, ngram_lm), weight, interpolation)
