"""Interpolation arithmetic and the interpolated LM."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kaldi_mpq.errors import ConfigError, SymbolTableError
from kaldi_mpq.lm.interface import LanguageModel
from kaldi_mpq.ngram.interpolate import InterpolatedLM, combine_logprobs
from kaldi_mpq.text.symbols import SymbolTable


class FixedLM(LanguageModel):
    """P(w) from a fixed unigram table; states count words (to check state plumbing)."""

    def __init__(self, symbols, probs):
        self._s, self.probs = symbols, probs

    @property
    def symbols(self):
        return self._s

    def initial_state(self, n):
        return np.zeros(n, dtype=np.int64)

    def advance(self, states, words):
        return np.log([self.probs[int(w)] for w in words]), np.asarray(states) + 1

    def select_states(self, states, idx):
        return np.asarray(states)[np.asarray(idx)]

    def concat_states(self, states):
        return np.concatenate(states)


def test_linear_and_log_linear_arithmetic():
    a, b = np.log([0.2, 0.5]), np.log([0.4, 0.1])
    np.testing.assert_allclose(np.exp(combine_logprobs(a, b, 0.5, "linear")), [0.3, 0.3])
    np.testing.assert_allclose(np.exp(combine_logprobs(a, b, 0.25, "linear")), [0.35, 0.2])
    np.testing.assert_allclose(combine_logprobs(a, b, 0.8, "log-linear"), 0.8 * a + 0.2 * b)
    np.testing.assert_array_equal(combine_logprobs(a, b, 1.0, "linear"), a)
    np.testing.assert_array_equal(combine_logprobs(a, b, 0.0, "linear"), b)


def test_interpolated_lm():
    sym = SymbolTable.from_words(["x", "y"])
    x, y = sym.ids(["x", "y"])
    lm = InterpolatedLM(
        FixedLM(sym, {x: 0.6, y: 0.3, sym.eos_id: 0.1}), FixedLM(sym, {x: 0.2, y: 0.2, sym.eos_id: 0.6}), 0.5
    )
    lp = lm.score_sentences([[x, y]])[0]
    np.testing.assert_allclose(np.exp(lp), [0.4, 0.25, 0.35])
    inc = LanguageModel.score_sentences(lm, [[x, y]])[0]
    np.testing.assert_allclose(inc, lp)
    st = lm.concat_states([lm.initial_state(1), lm.initial_state(2)])
    assert len(lm.select_states(st, [2, 0])[0]) == 2
    assert math.isclose(lm.sentence_log_prob([x]), math.log(0.4) + math.log(0.35))


def test_bad_settings_and_mismatch():
    sym = SymbolTable.from_words(["x", "y"])
    other = SymbolTable.from_words(["x", "z"])
    f = FixedLM(sym, {})
    with pytest.raises(ConfigError, match="weight"):
        InterpolatedLM(f, f, 1.5)
    with pytest.raises(ConfigError, match="interpolation"):
        InterpolatedLM(f, f, 0.5, "geometric")
    with pytest.raises(SymbolTableError, match="word lists mismatch"):
        InterpolatedLM(f, FixedLM(other, {}), 0.5)
