"""Perplexity evaluation agrees with the LM interface's scores."""

import math

import numpy as np
import pytest

from kaldi_mpq.lm.evaluate import evaluate_perplexity
from kaldi_mpq.testing.lm import tiny_lm
from kaldi_mpq.text.batching import SentenceBatches, StreamBatches, WindowBatches


def _sentences(sym, n=25, seed=0):
    rng = np.random.default_rng(seed)
    return [[sym[f"w{int(i)}"] for i in rng.integers(0, 20, size=int(L))] for L in rng.integers(0, 12, size=n)]


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_sentence_perplexity_matches_score_sentences(kind):
    lm = tiny_lm(kind, seed=2)
    sym = lm.symbols
    sents = _sentences(sym)
    scores = lm.score_sentences(sents)
    expected = math.exp(-sum(s.sum() for s in scores) / sum(len(s) for s in scores))
    res = evaluate_perplexity(lm, SentenceBatches(sents, sym.bos_id, sym.eos_id, batch_size=7))
    assert res.ppl == pytest.approx(expected, rel=1e-5)
    assert res.tokens == sum(len(s) + 1 for s in sents)


def test_lstm_stream_perplexity_is_incremental_scoring_of_the_whole_text():
    lm = tiny_lm("lstm", seed=4)
    sym = lm.symbols
    sents = _sentences(sym, n=10)
    states = lm.initial_state(1)
    total = 0.0
    for i, s in enumerate(sents):
        if i:  # the stream goes on: </s> then <s> (not predicted) then the next sentence
            _, states = lm.advance(states, [sym.bos_id])
        for w in s + [sym.eos_id]:
            logp, states = lm.advance(states, [w])
            total += logp[0]
    n = sum(len(s) + 1 for s in sents)
    res = evaluate_perplexity(lm, StreamBatches(sents, sym.bos_id, sym.eos_id, batch_size=1, bptt=6))
    assert res.tokens == n and res.ppl == pytest.approx(math.exp(-total / n), rel=1e-5)


def test_transformer_window_with_full_context_equals_one_pass():
    lm = tiny_lm("transformer", seed=5)
    sym = lm.symbols
    sents = _sentences(sym, n=6)
    whole = evaluate_perplexity(lm, WindowBatches(sents, sym.bos_id, sym.eos_id, window=128, stride=128))
    windows = evaluate_perplexity(lm, WindowBatches(sents, sym.bos_id, sym.eos_id, window=128, stride=5))
    assert whole.tokens == windows.tokens and windows.ppl == pytest.approx(whole.ppl, rel=1e-5)
