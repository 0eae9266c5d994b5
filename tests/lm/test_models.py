"""LSTM and Transformer LMs behind the LM interface: parameter names, masking, incremental == batch."""

import numpy as np
import pytest
import torch

from kaldi_mpq.lm.interface import LanguageModel
from kaldi_mpq.testing.lm import tiny_lm, tiny_module, tiny_symbols

KINDS = ["lstm", "transformer"]
TOL = 1e-4


def _sentences(seed=0, n=9, vocab=20):
    rng = np.random.default_rng(seed)
    sym = tiny_symbols(vocab)
    words = [sym[f"w{i}"] for i in range(vocab)] + [sym.unk_id]
    return [list(rng.choice(words, size=int(L))) for L in rng.integers(0, 15, size=n)]


def test_lstm_parameter_names():
    m = tiny_module("lstm")
    names = dict(m.named_parameters())
    V = tiny_symbols().size
    assert names["embedding.weight"].shape == (V, 16)
    assert names["rnn.weight_ih_l0"].shape == (64, 16) and names["rnn.weight_hh_l1"].shape == (64, 16)
    assert {"rnn.bias_ih_l0", "rnn.bias_hh_l0", "output.weight", "output.bias"} <= set(names)
    assert isinstance(m.output, torch.nn.Linear) and m.rnn.batch_first


def test_transformer_parameter_names():
    m = tiny_module("transformer")
    names = set(dict(m.named_parameters()))
    for sub in ("attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.out_proj", "ff.fc1", "ff.fc2", "ln1", "ln2"):
        assert f"blocks.1.{sub}.weight" in names
    assert {"embedding.weight", "pos_embedding.weight", "final_ln.weight", "output.weight"} <= names
    sin = tiny_module("transformer", positions="sinusoidal", norm="post")
    assert "pos_embedding.weight" not in dict(sin.named_parameters())
    assert "pos_table" not in sin.state_dict()  # a buffer, rebuilt, not saved


@pytest.mark.parametrize("kind", KINDS)
def test_tied_weights_share_storage(kind):
    m = tiny_module(kind, tie_weights=True)
    assert m.output.weight is m.embedding.weight


@pytest.mark.parametrize("kind", KINDS)
def test_non_predictable_logits_are_minus_inf(kind):
    sym = tiny_symbols()
    m = tiny_module(kind, sym).eval()
    logits = m(torch.tensor([[sym.bos_id, sym["w1"], sym["w2"]]]))
    assert logits.shape == (1, 3, sym.size)
    bad = sym.non_predictable_ids()
    assert set(bad) == {sym.eps_id, sym.bos_id, sym["#0"]}
    assert torch.isneginf(logits[..., bad]).all()
    others = [i for i in range(sym.size) if i not in bad]
    assert torch.isfinite(logits[..., others]).all()


@pytest.mark.parametrize("kind,overrides", [
    ("lstm", {}), ("lstm", {"num_layers": 1, "tie_weights": True}),
    ("transformer", {"norm": "pre"}), ("transformer", {"norm": "post", "positions": "sinusoidal"}),
])
def test_incremental_equals_batch(kind, overrides):
    lm = tiny_lm(kind, seed=3, **overrides)
    sents = _sentences()
    batch = lm.score_sentences(sents)
    incremental = LanguageModel.score_sentences(lm, sents)  # the interface's advance() loop
    for s, a, b in zip(sents, batch, incremental):
        assert a.shape == (len(s) + 1,) and a.dtype == np.float64
        assert np.abs(a - b).max() <= TOL
    # probabilities over the predictable ids sum to 1
    states = lm.initial_state(1)
    sym = lm.symbols
    total = sum(np.exp(lm.advance(states, [w])[0][0]) for w in range(sym.size)
                if w not in sym.non_predictable_ids())
    assert abs(total - 1) < 1e-5


@pytest.mark.parametrize("kind", KINDS)
def test_select_and_concat_states_of_different_histories(kind):
    lm = tiny_lm(kind, seed=1)
    sym = lm.symbols
    w = [sym[f"w{i}"] for i in range(6)]
    a = lm.initial_state(2)
    _, a = lm.advance(a, [w[0], w[1]])
    _, a = lm.advance(a, [w[2], w[3]])
    b = lm.initial_state(1)
    _, b = lm.advance(b, [w[4]])
    merged = lm.concat_states([lm.select_states(a, [1, 0, 1]), b])
    got, _ = lm.advance(merged, [w[5]] * 4)
    ref = [lm.score_sentences([h + [w[5]]])[0][len(h)] for h in
           ([w[1], w[3]], [w[0], w[2]], [w[1], w[3]], [w[4]])]
    assert np.abs(got - np.array(ref)).max() <= TOL


def test_transformer_cache_stays_as_wide_as_the_longest_history():
    """Lattice expansion concatenates states of different lengths every round; without compaction the
    key/value cache grew by one (mostly empty) position per round."""
    lm = tiny_lm("transformer", seed=2)
    sym = lm.symbols
    w = [sym[f"w{i}"] for i in range(6)]
    short = lm.initial_state(1)
    long_ = lm.initial_state(1)
    hist_short, hist_long = [], []
    for r in range(8):
        merged = lm.concat_states([short, long_])
        _, merged = lm.advance(merged, [w[r % 6], w[(r + 1) % 6]])
        hist_short.append(w[r % 6])
        hist_long.append(w[(r + 1) % 6])
        long_ = lm.select_states(merged, [1])
        if r == 3:  # the long one restarts: the cache must shrink back to the longest history
            long_, hist_long = lm.initial_state(1), []
        if r % 3 == 2:  # the short history restarts now and then
            short, hist_short = lm.initial_state(1), []
        else:
            short = lm.select_states(merged, [0])
    merged = lm.concat_states([short, long_])
    assert merged.key_mask.shape[1] == int(merged.lengths.max()) == len(hist_long) + 1 == 5  # + <s>
    got, _ = lm.advance(merged, [w[5], w[5]])
    ref = [lm.score_sentences([h + [w[5]]])[0][len(h)] for h in (hist_short, hist_long)]
    assert np.abs(got - np.array(ref)).max() <= TOL


@pytest.mark.parametrize("kind", KINDS)
def test_score_sentences_chunks_and_empty(kind):
    lm = tiny_lm(kind)
    sents = _sentences(n=30)
    whole = lm.score_sentences(sents)
    lm.max_tokens = 20  # forces many chunks
    chunked = lm.score_sentences(sents)
    assert all(np.abs(a - b).max() <= 1e-5 for a, b in zip(whole, chunked))
    assert lm.score_sentences([]) == []
    assert lm.score_sentences([[]])[0].shape == (1,)


@pytest.mark.parametrize("kind", KINDS)
def test_output_layer_blocks_give_the_same_log_probs(kind):
    """Scoring with the output layer run a few rows at a time equals one call over all rows."""
    lm = tiny_lm(kind, seed=2)
    sents = _sentences(n=12)
    sym = lm.symbols
    states = lm.initial_state(3)
    _, states = lm.advance(states, [sym["w1"], sym["w2"], sym["w3"]])
    rows, words = [2, 0, 2, 1, 0], [sym["w4"], sym["w5"], sym.eos_id, sym["w4"], sym["w4"]]
    results = []
    for chunk in (0, 1, 3):
        lm.output_chunk = chunk
        results.append((lm.score_sentences(sents), lm.next_log_probs(states, rows, words),
                        lm.advance(states, words[:3])[0]))
    for got in results[1:]:
        assert all(np.abs(a - b).max() <= 1e-5 for a, b in zip(results[0][0], got[0]))
        assert np.abs(results[0][1] - got[1]).max() <= 1e-5
        assert np.abs(results[0][2] - got[2]).max() <= 1e-5


def test_transformer_too_long_sequence_is_an_error():
    lm = tiny_lm("transformer", max_len=8)
    from kaldi_mpq.errors import TextFormatError

    with pytest.raises(TextFormatError, match="max_len"):
        lm.score_sentences([[lm.symbols["w1"]] * 10])
