"""Interpolating two LMs word by word: the neural LM with the n-gram LM.

Two kinds, with ``weight`` the weight of the *first* (neural) LM:

* ``linear``: ``P(w|h) = weight * P_a(w|h) + (1 - weight) * P_b(w|h)``, the papers' equal-weight
  interpolation at ``weight = 0.5``;
* ``log-linear``: ``log P(w|h) = weight * log P_a(w|h) + (1 - weight) * log P_b(w|h)`` (not normalised),
  what Kaldi's ``lmrescore*.sh --weight`` computes.

:class:`InterpolatedLM` is itself a :class:`LanguageModel`, so n-best and lattice rescoring treat the mix
like any other LM.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.lm.interface import LanguageModel
from kaldi_mpq.text.symbols import SymbolTable

INTERPOLATIONS = ("linear", "log-linear")
DEFAULT_WEIGHT = 0.5
DEFAULT_INTERPOLATION = "linear"


def check_interpolation(weight: float, interpolation: str) -> None:
    """Raise :class:`ConfigError` unless ``0 <= weight <= 1`` and the kind is known."""
    if interpolation not in INTERPOLATIONS:
        raise ConfigError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"interpolation weight must be in [0, 1], got {weight}")


def combine_logprobs(a: np.ndarray, b: np.ndarray, weight: float, interpolation: str) -> np.ndarray:
    """Word-level combination of natural-log probabilities ``a`` (first LM) and ``b`` (second LM)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if interpolation == "log-linear":
        return weight * a + (1.0 - weight) * b
    if weight == 1.0:
        return a.copy()
    if weight == 0.0:
        return b.copy()
    return np.logaddexp(a + math.log(weight), b + math.log1p(-weight))


class InterpolatedLM(LanguageModel):
    """Word-level interpolation of two LMs sharing a vocabulary; states are ``(state_a, state_b)``.

    Args:
        first: the LM that ``weight`` weighs (the neural LM).
        second: the other one (the n-gram LM).
        weight: in ``[0, 1]``.
        interpolation: ``linear`` or ``log-linear``.

    Raises:
        SymbolTableError: "word lists mismatch" when the two vocabularies differ.
    """

    def __init__(
        self,
        first: LanguageModel,
        second: LanguageModel,
        weight: float = DEFAULT_WEIGHT,
        interpolation: str = DEFAULT_INTERPOLATION,
    ):
        check_interpolation(weight, interpolation)
        first.symbols.check_same(second.symbols)
        self.first, self.second = first, second
        self.weight, self.interpolation = weight, interpolation

    @property
    def symbols(self) -> SymbolTable:
        return self.first.symbols

    def initial_state(self, batch_size: int):
        return self.first.initial_state(batch_size), self.second.initial_state(batch_size)

    def advance(self, states, words):
        la, sa = self.first.advance(states[0], words)
        lb, sb = self.second.advance(states[1], words)
        return combine_logprobs(la, lb, self.weight, self.interpolation), (sa, sb)

    def next_log_probs(self, states, rows, words):
        la = self.first.next_log_probs(states[0], rows, words)
        lb = self.second.next_log_probs(states[1], rows, words)
        return combine_logprobs(la, lb, self.weight, self.interpolation)

    def step(self, states, words):
        return self.first.step(states[0], words), self.second.step(states[1], words)

    def select_states(self, states, indices):
        return self.first.select_states(states[0], indices), self.second.select_states(states[1], indices)

    def concat_states(self, states: Sequence):
        return (
            self.first.concat_states([s[0] for s in states]),
            self.second.concat_states([s[1] for s in states]),
        )

    def score_sentences(self, sentences):
        a = self.first.score_sentences(sentences)
        b = self.second.score_sentences(sentences)
        return [combine_logprobs(x, y, self.weight, self.interpolation) for x, y in zip(a, b)]
