"""The rescoring core: the graph-cost rule both rescorers use, its default interpolation and checks."""

from __future__ import annotations

import numpy as np
import pytest

from kaldi_mpq.errors import ConfigError, SymbolTableError
from kaldi_mpq.ngram.interpolate import combine_logprobs
from kaldi_mpq.rescoring.core import GraphCost, RescoringLMs, check_settings, default_interpolation
from kaldi_mpq.testing.lm import tiny_lm, tiny_symbols

LM = np.log([0.2, 0.5, 0.1])
OLD = np.log([0.1, 0.4, 0.3])
NGRAM = np.log([0.3, 0.2, 0.6])


def test_interpolation_defaults_to_linear_only_with_an_old_lm():
    assert default_interpolation(True) == "linear" and default_interpolation(False) == "log-linear"
    assert GraphCost(0.3, None, has_old_lm=False).interpolation == "log-linear"
    assert GraphCost(0.3, None, has_old_lm=True).interpolation == "linear"
    check_settings(False, 0.3, None)  # the default is always a valid choice
    with pytest.raises(ConfigError, match="needs the old n-gram"):
        GraphCost(0.3, "linear", has_old_lm=False)
    with pytest.raises(ConfigError, match="needs the old LM"):
        GraphCost(0.3, "log-linear", has_old_lm=False, has_ngram_lm=True)
    with pytest.raises(ConfigError, match="weight"):
        GraphCost(1.5)


@pytest.mark.parametrize("interp", ["linear", "log-linear"])
def test_graph_cost_rule(interp):
    removed = GraphCost(0.4, interp)
    assert removed.graph_scale == 1.0
    np.testing.assert_allclose(removed.word_terms(LM, OLD), OLD - combine_logprobs(LM, OLD, 0.4, interp))
    assert removed.hypothesis(7.0, LM, OLD) == pytest.approx(7.0 + OLD.sum() - combine_logprobs(LM, OLD, 0.4, interp).sum())
    mixed = GraphCost(0.4, interp, has_ngram_lm=True)  # old LM removed, the LM mixed with another n-gram
    assert mixed.hypothesis(7.0, LM, OLD, NGRAM) == pytest.approx(
        7.0 + OLD.sum() - combine_logprobs(LM, NGRAM, 0.4, interp).sum())
    kept = GraphCost(0.4, "log-linear", has_old_lm=False)  # the graph cost stands for the n-gram
    assert kept.graph_scale == pytest.approx(0.6)
    assert kept.hypothesis(7.0, LM) == pytest.approx(0.6 * 7.0 - 0.4 * LM.sum())


def test_rescoring_lms_checks_and_order():
    symbols = tiny_symbols(12)
    lm, old, other = (tiny_lm("lstm", symbols=symbols, seed=s) for s in range(3))
    assert RescoringLMs(lm).scorers == [lm]
    assert RescoringLMs(lm, old, other).scorers == [lm, old, other]
    assert RescoringLMs(lm, old).graph_cost(0.5).interpolation == "linear"
    with pytest.raises(ConfigError, match="needs the old LM"):
        RescoringLMs(lm, None, other)
    with pytest.raises(SymbolTableError, match="word lists mismatch"):
        RescoringLMs(lm, tiny_lm("lstm", symbols=tiny_symbols(13)))
