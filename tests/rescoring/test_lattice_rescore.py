"""Pruned lattice rescoring: exactness with long histories and no pruning, identities, pruning, empties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.lattice.lattice import Lattice
from kaldi_mpq.rescoring.lattice_rescore import LatticeRescoreConfig, rescore_lattices
from kaldi_mpq.ngram.load import load_ngram_lm
from kaldi_mpq.ngram.interpolate import combine_logprobs
from kaldi_mpq.ngram.train import train_arpa
from kaldi_mpq.testing.lm import tiny_lm, tiny_symbols
from kaldi_mpq.testing.lattices import all_paths, random_lattice

EXACT = dict(max_ngram_order=100, beam=math.inf, max_arcs=10**9)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    symbols = tiny_symbols(12)
    rng = np.random.default_rng(0)
    text = [" ".join(f"w{i}" for i in rng.integers(0, 12, rng.integers(1, 8))) for _ in range(300)]
    path = tmp_path_factory.mktemp("lm") / "lm.arpa"
    train_arpa(text, path, order=3)
    lats = [random_lattice(np.random.default_rng(k), symbols, f"utt{k}") for k in range(6)]
    return symbols, load_ngram_lm(path, symbols), lats


def _match(got_paths, expected):
    got = sorted((p[0], round(p[2], 6), p[3], p[1]) for p in got_paths)
    exp = sorted((p[0], round(p[2], 6), p[3], p[1]) for p in expected)
    assert len(got) == len(exp)
    for g, e in zip(got, exp):
        assert g[:3] == e[:3]
        assert abs(g[3] - e[3]) < 1e-4


@pytest.mark.parametrize("interp,weight", [("linear", 0.5), ("log-linear", 0.7)])
def test_exact_when_histories_are_full(setup, interp, weight):
    symbols, ngram, lats = setup
    lm = tiny_lm("lstm", symbols=symbols)
    cfg = LatticeRescoreConfig(weight=weight, interpolation=interp, pops_per_round=3, **EXACT)
    out = rescore_lattices(lats, lm, ngram, cfg)
    for lat, new in zip(lats, out):
        expected = []
        for words, g, ac, ali in all_paths(lat):
            nn, ng = lm.score_sentences([words])[0], ngram.score_sentences([words])[0]
            expected.append((words, g + ng.sum() - combine_logprobs(nn, ng, weight, interp).sum(), ac, ali))
        _match(all_paths(new), expected)


def test_old_lm_back_in_is_identity(setup):
    symbols, ngram, lats = setup
    out = rescore_lattices(lats, ngram, ngram, LatticeRescoreConfig(max_ngram_order=3, beam=8.0))
    for lat, new in zip(lats, out):
        a, b = lat.best_path(0.1), new.best_path(0.1)
        assert a.words == b.words
        assert abs(a.graph_cost - b.graph_cost) < 1e-6 and abs(a.acoustic_cost - b.acoustic_cost) < 1e-9


def test_without_old_lm_and_pruning(setup):
    symbols, ngram, lats = setup
    lm = tiny_lm("transformer", symbols=symbols)
    cfg = LatticeRescoreConfig(weight=0.4, interpolation="log-linear", **EXACT)
    out = rescore_lattices(lats[:2], lm, None, cfg)
    for lat, new in zip(lats[:2], out):
        expected = [(w, 0.6 * g - 0.4 * lm.sentence_log_prob(w), ac, al) for w, g, ac, al in all_paths(lat)]
        _match(all_paths(new), expected)
    with pytest.raises(ConfigError, match="needs the old n-gram"):
        rescore_lattices(lats, lm, None, LatticeRescoreConfig())
    # a tight beam and arc budget keep fewer arcs, but always a complete best path
    small = rescore_lattices(lats, lm, ngram, LatticeRescoreConfig(max_ngram_order=2, beam=0.5, max_arcs=4))
    full = rescore_lattices(lats, lm, ngram, LatticeRescoreConfig(**EXACT))
    assert sum(x.num_arcs for x in small) < sum(x.num_arcs for x in full)
    assert all(x.best_path(0.1) is not None for x in small)


def test_lattice_without_complete_path(setup):
    symbols, ngram, _ = setup
    w = symbols["w1"]
    # state 1 is final but unreachable from the start: no complete path
    lat = Lattice.from_arrays("dead", 3, [0], [2], [w], [1.0], [1.0], [np.inf, 0.0, np.inf], [np.inf, 0.0, np.inf])
    assert rescore_lattices([lat], ngram, ngram) == [None]


def test_exact_with_separate_ngram(setup, tmp_path):
    symbols, ngram, lats = setup
    rng = np.random.default_rng(5)
    text = [" ".join(f"w{i}" for i in rng.integers(0, 6, rng.integers(1, 8))) for _ in range(200)]
    train_arpa(text, tmp_path / "other.arpa", order=2)
    other = load_ngram_lm(tmp_path / "other.arpa", symbols)
    lm = tiny_lm("lstm", symbols=symbols)
    cfg = LatticeRescoreConfig(weight=0.4, interpolation="linear", **EXACT)
    out = rescore_lattices(lats[:3], lm, ngram, cfg, ngram_lm=other)
    for lat, new in zip(lats, out):
        expected = []
        for words, g, ac, ali in all_paths(lat):
            nn, ng = lm.score_sentences([words])[0], other.score_sentences([words])[0]
            old = ngram.sentence_log_prob(words)
            expected.append((words, g + old - combine_logprobs(nn, ng, 0.4, "linear").sum(), ac, ali))
        _match(all_paths(new), expected)
    with pytest.raises(ConfigError, match="needs the old LM"):
        rescore_lattices(lats[:1], lm, None, LatticeRescoreConfig(interpolation="log-linear"), ngram_lm=other)


def _sausage(symbols, positions=12, width=4):
    """A chain of ``positions`` slots of ``width`` word arcs each, all costs 0: the input lattice then
    says nothing about which way is best, so best-first expansion goes wide before reaching the end."""
    words = symbols.ids([f"w{i}" for i in range(width)])
    src = [p for p in range(positions) for _ in range(width)]
    final = np.full(positions + 1, np.inf)
    final[-1] = 0.0
    return Lattice.from_arrays("sausage", positions + 1, src, [s + 1 for s in src], words * positions,
                               np.zeros(len(src)), np.zeros(len(src)), final, final.copy())


def test_max_arcs_bounds_output_and_lm_queries(setup):
    symbols, _, _ = setup
    lat = _sausage(symbols)
    lm = tiny_lm("lstm", symbols=symbols)
    wide = dict(max_ngram_order=4, beam=math.inf, weight=0.5, interpolation="log-linear")
    (full,) = rescore_lattices([lat], lm, None, LatticeRescoreConfig(**wide, max_arcs=10**9))
    assert full.num_arcs > 2000  # 4**3 histories per position: the expansion the budget must stop
    for budget in (200, 1000):
        counted = _Counting(lm)
        (out,) = rescore_lattices([lat], counted, None, LatticeRescoreConfig(**wide, max_arcs=budget))
        assert 12 <= out.num_arcs <= budget
        assert len(out.best_path(0.1).words) == 12
        assert counted.rows <= budget + LatticeRescoreConfig().pops_per_round  # one per arc, plus </s> queries
    # a budget below the length of the input's best path still gives one complete path
    (tiny,) = rescore_lattices([lat], lm, None, LatticeRescoreConfig(**wide, max_arcs=5))
    assert tiny.num_arcs == 12 and len(tiny.best_path(0.1).words) == 12


class _Counting:
    """An LM that counts the rows it scores."""

    def __init__(self, lm):
        self.lm, self.rows = lm, 0

    def __getattr__(self, name):
        return getattr(self.lm, name)

    def advance(self, states, words):
        self.rows += len(words)
        return self.lm.advance(states, words)
