"""The LMs of a rescoring run and the one rule that turns their scores into new graph costs.

A run has up to three LMs (:class:`RescoringLMs`): the new LM (neural, possibly quantized), the old
n-gram LM of the first pass to remove from the graph costs (``--old-lm``), and a separate n-gram to
mix the new LM with instead of the old one (``--ngram``; it needs ``--old-lm``). Word by word each
gives a natural-log probability, and :class:`GraphCost` combines them::

    with an old LM:   graph' = graph + log P_old(w | h) - log P_new(w | h)
                      log P_new = weight-mix of log P_lm and log P_ngram (P_old when no --ngram)
    without:          graph' = (1 - weight) * graph - weight * log P_lm(w | h)

With an old LM the non-LM parts of the graph cost (pronunciation, transition probabilities) stay, as
Kaldi's ``lattice-lmrescore --lm-scale=-1`` removes an LM; without one the graph cost itself stands
for the n-gram side of a log-linear mix. N-best rescoring sums the per-word terms over a hypothesis;
lattice rescoring adds each word's term to its arc and the ``</s>`` term to the final weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.fileio import Pathlike
from kaldi_mpq.lm.interface import LanguageModel
from kaldi_mpq.ngram.interpolate import DEFAULT_INTERPOLATION, DEFAULT_WEIGHT, check_interpolation, combine_logprobs


def default_interpolation(has_old_lm: bool) -> str:
    """The interpolation used when none is asked for: ``linear`` (a per-word mix of probabilities)
    when the old n-gram is given, else ``log-linear`` (the graph cost stands for the n-gram)."""
    return DEFAULT_INTERPOLATION if has_old_lm else "log-linear"


def check_lm_set(has_old_lm: bool, has_ngram_lm: bool) -> None:
    """Raise :class:`ConfigError` for a separate n-gram LM without the old LM to remove."""
    if has_ngram_lm and not has_old_lm:
        raise ConfigError("a separate n-gram LM to interpolate with (--ngram) needs the old LM to remove (--old-lm)")


def check_settings(has_old_lm: bool, weight: float, interpolation: Optional[str], has_ngram_lm: bool = False) -> None:
    """Raise :class:`ConfigError` for a bad weight or kind, ``linear`` without an old LM, or a separate
    n-gram LM without an old LM (``interpolation`` ``None``: :func:`default_interpolation`)."""
    interpolation = interpolation or default_interpolation(has_old_lm)
    check_interpolation(weight, interpolation)
    check_lm_set(has_old_lm, has_ngram_lm)
    if not has_old_lm and interpolation == "linear":
        raise ConfigError(
            "linear interpolation needs the old n-gram LM (--old-lm); without it use "
            "--interpolation log-linear (the graph cost then stands for the n-gram)"
        )


@dataclass(frozen=True)
class GraphCost:
    """The new graph cost of a rescoring run (see the module docstring); checked on creation.

    Attributes:
        weight: weight of the new LM in ``[0, 1]``.
        interpolation: ``linear`` or ``log-linear``; ``None``: :func:`default_interpolation`.
        has_old_lm: the old n-gram is removed (else the graph cost is mixed log-linearly).
        has_ngram_lm: a separate n-gram is the other side of the mix.

    Raises:
        ConfigError: as :func:`check_settings`.
    """

    weight: float = DEFAULT_WEIGHT
    interpolation: Optional[str] = DEFAULT_INTERPOLATION
    has_old_lm: bool = True
    has_ngram_lm: bool = False

    def __post_init__(self) -> None:
        if self.interpolation is None:
            object.__setattr__(self, "interpolation", default_interpolation(self.has_old_lm))
        check_settings(self.has_old_lm, self.weight, self.interpolation, self.has_ngram_lm)

    @property
    def graph_scale(self) -> float:
        """Factor on the first-pass graph cost: 1 when the old LM is removed word by word, else ``1 - weight``."""
        return 1.0 if self.has_old_lm else 1.0 - self.weight

    def word_terms(self, lm: np.ndarray, old: Optional[np.ndarray] = None,
                   ngram: Optional[np.ndarray] = None) -> np.ndarray:
        """Per word, what rescoring adds to the scaled graph cost, from the LMs' log-probs (in
        :attr:`RescoringLMs.scorers` order): ``log P_old - log P_new``, or ``-weight * log P_lm``."""
        if not self.has_old_lm:
            return -self.weight * np.asarray(lm)
        other = ngram if self.has_ngram_lm else old
        return np.asarray(old) - combine_logprobs(lm, other, self.weight, self.interpolation)

    def hypothesis(self, graph_cost: float, lm: np.ndarray, old: Optional[np.ndarray] = None,
                   ngram: Optional[np.ndarray] = None) -> float:
        """The new graph cost of a whole hypothesis whose words (and ``</s>``) have these log-probs."""
        return self.graph_scale * graph_cost + float(self.word_terms(lm, old, ngram).sum())


@dataclass(frozen=True)
class RescoringLMs:
    """The LMs of a rescoring run, checked on creation.

    Attributes:
        lm: the new LM.
        old: the first-pass n-gram to remove, or ``None``.
        ngram: the n-gram to mix ``lm`` with instead of ``old``, or ``None``.

    Raises:
        ConfigError: ``ngram`` without ``old``.
        SymbolTableError: "word lists mismatch" between the LMs.
    """

    lm: LanguageModel
    old: Optional[LanguageModel] = None
    ngram: Optional[LanguageModel] = None

    def __post_init__(self) -> None:
        check_lm_set(self.old is not None, self.ngram is not None)
        for other in (self.old, self.ngram):
            if other is not None:
                self.lm.symbols.check_same(other.symbols)

    @property
    def scorers(self) -> list[LanguageModel]:
        """The LMs to score every word with, in the argument order of :meth:`GraphCost.word_terms`."""
        return [m for m in (self.lm, self.old, self.ngram) if m is not None]

    def graph_cost(self, weight: float = DEFAULT_WEIGHT, interpolation: Optional[str] = None) -> GraphCost:
        """The :class:`GraphCost` of these LMs."""
        return GraphCost(weight, interpolation, self.old is not None, self.ngram is not None)


def load_rescoring_lms(lm_dir: Pathlike, words: Pathlike, old_lm: Optional[Pathlike] = None,
                       device: Optional[str] = None, ngram: Optional[Pathlike] = None) -> RescoringLMs:
    """The new LM (a checkpoint dir, checked against the lang dir's ``words.txt``) and the ARPA files of
    the old n-gram and of the n-gram to mix with, mapped to the same words.

    Raises:
        SymbolTableError: "word lists mismatch" between the LM and ``words``.
        ConfigError: ``ngram`` without ``old_lm``.
    """
    from kaldi_mpq.lm_loading import load_lm
    from kaldi_mpq.ngram.load import load_ngram_lm

    check_lm_set(old_lm is not None, ngram is not None)
    lm = load_lm(lm_dir, words=words, device=device)
    old = load_ngram_lm(old_lm, lm.symbols) if old_lm is not None else None
    mix = load_ngram_lm(ngram, lm.symbols) if ngram is not None else None
    return RescoringLMs(lm, old, mix)
