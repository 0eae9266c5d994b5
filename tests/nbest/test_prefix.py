"""Prefix-tree scoring equals plain sentence scoring, for n-gram and neural LMs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kaldi_mpq.lm.interface import LanguageModel
from kaldi_mpq.lm.lstm import LstmLM
from kaldi_mpq.lm.neural import NeuralLM
from kaldi_mpq.lm.transformer import TransformerLM
from kaldi_mpq.nbest.prefix import Trie, score_with_prefix_tree
from kaldi_mpq.ngram.arpa import NgramLM
from kaldi_mpq.ngram.load import load_ngram_lm
from kaldi_mpq.ngram.interpolate import InterpolatedLM
from kaldi_mpq.ngram.train import train_arpa
from kaldi_mpq.text.symbols import SymbolTable

WORDS = [f"w{i}" for i in range(12)]


def nbest_like(rng, symbols, n_utts=6, n=8):
    """Hypotheses that share prefixes, as an N-best list does, with duplicates and an empty one."""
    ids = symbols.ids(WORDS)
    out = [[]]
    for _ in range(n_utts):
        base = [ids[i] for i in rng.integers(0, len(ids), rng.integers(1, 9))]
        for _ in range(n):
            cut = int(rng.integers(0, len(base) + 1))
            out.append(base[:cut] + [ids[i] for i in rng.integers(0, len(ids), rng.integers(0, 3))])
    out.append(list(out[3]))
    return out


def neural(kind: str, symbols: SymbolTable) -> NeuralLM:
    torch.manual_seed(0)
    if kind == "lstm":
        module = LstmLM(symbols.size, embed_dim=16, hidden_dim=16, num_layers=2)
    else:
        module = TransformerLM(symbols.size, d_model=16, num_layers=2, num_heads=2, ff_dim=32, dropout=0.0)
    return NeuralLM(module, symbols, device="cpu")


@pytest.fixture(scope="module")
def symbols():
    return SymbolTable.from_words(WORDS)


@pytest.fixture(scope="module")
def ngram(symbols, tmp_path_factory):
    rng = np.random.default_rng(0)
    text = [" ".join(WORDS[i] for i in rng.integers(0, 12, 6)) for _ in range(200)]
    path = tmp_path_factory.mktemp("lm") / "lm.arpa"
    train_arpa(text, path, order=3)
    return load_ngram_lm(path, symbols)


@pytest.mark.parametrize("kind", ["ngram", "lstm", "transformer"])
@pytest.mark.parametrize("max_batch", [3, 4096])
def test_prefix_tree_equals_sentence_scoring(kind, max_batch, symbols, ngram):
    lm = ngram if kind == "ngram" else neural(kind, symbols)
    sents = nbest_like(np.random.default_rng(1), symbols)
    got = score_with_prefix_tree(lm, sents, max_batch=max_batch)
    ref = LanguageModel.score_sentences(lm, sents)  # the plain, unshared incremental loop
    assert [len(g) for g in got] == [len(s) + 1 for s in sents]
    assert max(np.abs(g - r).max() for g, r in zip(got, ref)) < 1e-4


def test_prefix_tree_shares_prefixes(symbols, ngram):
    scored, stepped = [], []

    class Counting(NgramLM):
        def next_log_probs(self, states, rows, words):
            scored.append(len(words))
            return super().next_log_probs(states, rows, words)

        def step(self, states, words):
            stepped.append(len(words))
            return super().step(states, words)

    lm = Counting.__new__(Counting)
    lm.__dict__.update(ngram.__dict__)
    a, b, c = symbols.ids(["w1", "w2", "w3"])
    score_with_prefix_tree(lm, [[a, b, c], [a, b], [a, c]])
    # scored -- depth 0: a; depth 1: b, c; depth 2: c + </s> of [a,b] + </s> of [a,c]; depth 3: </s>
    assert scored == [1, 2, 3, 1]
    assert stepped == [1, 2, 1]  # each trie node's state is computed once
    assert score_with_prefix_tree(lm, []) == []


def test_trie_layout():
    sents = sorted([(1, 2, 3), (1, 2), (1, 4), (), (5,), (1, 2, 3)])
    trie = Trie(sents)
    prefixes = {s[:t] for s in sents for t in range(1, len(s) + 1)}
    assert trie.num_nodes == len(prefixes) + 1
    for i, s in enumerate(sents):
        for t, w in enumerate(s):
            k = trie.node[i, t]
            assert trie.word[k] == w and trie.depth[k] == t + 1
            assert trie.parent[k] == (trie.node[i, t - 1] if t else 0)
        assert trie.terminal[i] == (trie.node[i, len(s) - 1] if s else 0)
    assert len({trie.node[i, len(s) - 1] for i, s in enumerate(sents) if s == (1, 2, 3)}) == 1


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_next_log_probs_equals_advance(kind, symbols):
    lm = neural(kind, symbols)
    lm.max_tokens = 8  # chunks of 2 states
    ids = symbols.ids(WORDS)
    states = lm.step(lm.initial_state(5), ids[:5])
    rows = np.array([4, 0, 0, 2, 1, 4, 3, 0])
    words = np.array(ids[3:11])
    want = lm.advance(lm.select_states(states, rows), words)[0]
    assert np.abs(lm.next_log_probs(states, rows, words) - want).max() < 1e-6
    mixed = InterpolatedLM(lm, lm, 0.3)
    assert np.abs(mixed.next_log_probs((states, states), rows, words) - want).max() < 1e-6
    assert lm.next_log_probs(states, [], []).shape == (0,)
