"""N-best rescoring arithmetic: old-LM removal, linear / log-linear interpolation, identities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kaldi_mpq.errors import ConfigError, SymbolTableError
from kaldi_mpq.nbest.nbest import NbestEntry, NbestList
from kaldi_mpq.nbest.rescore import apply_scores, rescore_nbest, score_nbest
from kaldi_mpq.ngram.arpa import NgramLM
from kaldi_mpq.ngram.load import load_ngram_lm
from kaldi_mpq.ngram.interpolate import combine_logprobs
from kaldi_mpq.ngram.train import train_arpa
from kaldi_mpq.testing.lm import tiny_lm, tiny_symbols


def random_lists(symbols, ngram, rng, n_utts=5, n=6):
    """Lists whose graph cost = old n-gram cost + a non-LM part, as in a real first pass."""
    ids = symbols.ids([f"w{i}" for i in range(12)])
    lists = []
    for u in range(n_utts):
        entries = []
        for _ in range(n):
            words = tuple(ids[i] for i in rng.integers(0, 12, rng.integers(0, 7)))
            lm_cost = -ngram.sentence_log_prob(words)
            entries.append(NbestEntry(words, lm_cost + rng.uniform(0, 3), rng.uniform(50, 80)))
        lists.append(NbestList(f"utt{u}", entries))
    lists.append(NbestList("empty", []))
    return lists


def test_same_lm_back_is_identity(symbols, ngram):
    lists = random_lists(symbols, ngram, np.random.default_rng(0))
    for interp in ("linear", "log-linear"):
        out = rescore_nbest(lists, ngram, old_lm=ngram, weight=0.3, interpolation=interp)
        for a, b in zip(lists, out):
            assert a.key == b.key
            for ea, eb in zip(a.entries, b.entries):
                assert abs(ea.graph_cost - eb.graph_cost) < 1e-9
            best_a, best_b = a.best(0.1), b.best(0.1)
            assert (best_a is None and best_b is None) or best_a.words == best_b.words


def test_new_lm_replaces_old(symbols, ngram):
    lists = random_lists(symbols, ngram, np.random.default_rng(1))
    lm = tiny_lm("lstm", symbols=symbols)
    for w, interp in [(0.5, "linear"), (0.8, "log-linear"), (1.0, "linear")]:
        out = rescore_nbest(lists, lm, old_lm=ngram, weight=w, interpolation=interp)
        for a, b in zip(lists, out):
            for ea, eb in zip(a.entries, b.entries):
                nn = lm.score_sentences([ea.words])[0]
                ng = ngram.score_sentences([ea.words])[0]
                new = combine_logprobs(nn, ng, w, interp).sum()
                expected = ea.graph_cost + ng.sum() - new  # old LM out, mixture in
                assert abs(eb.graph_cost - expected) < 1e-4
                assert eb.acoustic_cost == ea.acoustic_cost and eb.words == ea.words
    # linear per-word mixing differs from log-linear mixing of sentence scores
    e = lists[0].entries[1]
    lin = rescore_nbest([NbestList("u", [e])], lm, ngram, 0.5, "linear")[0].entries[0].graph_cost
    log = rescore_nbest([NbestList("u", [e])], lm, ngram, 0.5, "log-linear")[0].entries[0].graph_cost
    assert lin <= log + 1e-9  # log of a mean >= mean of logs, word by word


def test_without_old_lm(symbols, ngram):
    lists = random_lists(symbols, ngram, np.random.default_rng(2))
    lm = tiny_lm("transformer", symbols=symbols)
    scores = score_nbest(lists, lm)
    out = apply_scores(lists, scores, 0.25, "log-linear")
    e0, r0 = lists[0].entries[0], out[0].entries[0]
    assert math.isclose(r0.graph_cost, 0.75 * e0.graph_cost - 0.25 * lm.sentence_log_prob(e0.words), abs_tol=1e-4)
    with pytest.raises(ConfigError, match="needs the old n-gram"):
        rescore_nbest(lists, lm, interpolation="linear")


def test_vocabulary_mismatch(symbols, ngram):
    with pytest.raises(SymbolTableError, match="word lists mismatch"):
        score_nbest([], tiny_lm("lstm", symbols=tiny_symbols(13)), old_lm=ngram)


def test_separate_ngram_to_interpolate_with(symbols, ngram, tmp_path):
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(12)]
    other_text = [" ".join(words[i] for i in rng.integers(0, 6, rng.integers(1, 8))) for _ in range(200)]
    train_arpa(other_text, tmp_path / "other.arpa", order=2)
    other = load_ngram_lm(tmp_path / "other.arpa", symbols)
    lists = random_lists(symbols, ngram, np.random.default_rng(4))
    lm = tiny_lm("lstm", symbols=symbols)
    # the old LM removed, the mix of the LM with `other` added
    out = rescore_nbest(lists, lm, old_lm=ngram, weight=0.4, interpolation="linear", ngram_lm=other)
    for a, b in zip(lists, out):
        for ea, eb in zip(a.entries, b.entries):
            new = combine_logprobs(lm.score_sentences([ea.words])[0], other.score_sentences([ea.words])[0], 0.4, "linear")
            assert abs(eb.graph_cost - (ea.graph_cost + ngram.sentence_log_prob(ea.words) - new.sum())) < 1e-4
    # weight 0: the old n-gram swapped for the other one
    swapped = rescore_nbest(lists, lm, old_lm=ngram, weight=0.0, ngram_lm=other)
    e, r = lists[0].entries[2], swapped[0].entries[2]
    assert math.isclose(r.graph_cost, e.graph_cost + ngram.sentence_log_prob(e.words) - other.sentence_log_prob(e.words), abs_tol=1e-6)
    # the old LM as the n-gram changes nothing
    same = rescore_nbest(lists, lm, old_lm=ngram, weight=0.4, ngram_lm=ngram)
    plain = rescore_nbest(lists, lm, old_lm=ngram, weight=0.4)
    assert [e.graph_cost for nb in same for e in nb.entries] == pytest.approx([e.graph_cost for nb in plain for e in nb.entries])
    with pytest.raises(ConfigError, match="needs the old LM"):
        rescore_nbest(lists, lm, weight=0.4, interpolation="log-linear", ngram_lm=other)


def test_an_ngram_file_loads_as_the_rescoring_lm(arpa_path, symbols, ngram, tmp_path):
    """``--lm some.arpa``: the n-gram on its own is a rescoring LM, scoring exactly as NgramLM does."""
    from kaldi_mpq.lm_loading import load_lm

    words = tmp_path / "words.txt"
    symbols.write(words)
    lm = load_lm(arpa_path, words=words)
    sents = [[symbols[w] for w in ("w1", "w2", "w3")], [symbols["w5"]]]
    for got, want in zip(lm.score_sentences(sents), ngram.score_sentences(sents)):
        np.testing.assert_allclose(got, want)
    with pytest.raises(ConfigError, match="words.txt"):
        load_lm(arpa_path)
