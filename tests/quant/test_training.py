"""ADMM / BP fine-tuning batches: stream (BPTT) batches carry the LSTM state, the model's training config
is followed by default, the loss reductions match the LM trainer's."""

import itertools

import pytest
import torch

from kaldi_mpq.lm.checkpoint import build_model, save_checkpoint
from kaldi_mpq.lm.train import TrainConfig
from kaldi_mpq.quant import ADMMConfig, BPConfig, TrainingData, quantize_
from kaldi_mpq.lm.loss import lm_loss
from kaldi_mpq.quant.training import TrainStream
from kaldi_mpq.quant.pipeline import quantize_files, train_config_of
from kaldi_mpq.text.batching import SentenceBatches, StreamBatches

SENTS = [[4 + (i * 7 + j) % 60 for j in range(3 + i % 5)] for i in range(60)]
LSTM = dict(type="lstm", embed_dim=16, hidden_dim=16, num_layers=2)


@pytest.fixture
def lstm(symbols):
    torch.manual_seed(0)
    return build_model(LSTM, symbols)


def _spy(model):
    """Record (training?, state passed in, state returned) of every forward_with_state call."""
    calls = []
    inner = model.forward_with_state

    def spy(inputs, state=None):
        logits, new = inner(inputs, state)
        calls.append((model.training, state, tuple(s.detach().clone() for s in new)))
        return logits, new

    model.forward_with_state = spy
    return calls


def test_train_stream_carries_state_and_restarts_each_pass(lstm, symbols):
    batches = StreamBatches(SENTS, symbols.bos_id, symbols.eos_id, batch_size=4, bptt=5)
    stream = TrainStream(lstm, batches)
    seen, returned = [], []
    for batch, state in itertools.islice(stream, 2 * len(batches)):
        seen.append(state)
        _, new = lm_loss(lstm, batch, state)
        returned.append(new)
        stream.carry(new)
    n = len(batches)
    assert seen[0] is None and seen[n] is None  # every pass starts from zeros
    for k in range(1, 2 * n):
        if k != n:  # each batch continues from the state the previous one ended in
            assert seen[k] is returned[k - 1] and not seen[k][0].requires_grad
    assert seen[1][0].shape == (2, 4, 16)


def test_sentence_batches_never_carry_state(lstm, symbols):
    stream = TrainStream(lstm, SentenceBatches(SENTS, symbols.bos_id, symbols.eos_id, batch_size=8))
    for batch, state in itertools.islice(stream, 5):
        assert state is None
        stream.carry(lm_loss(lstm, batch, state)[1])


def test_loss_reductions_match_the_lm_trainer(lstm, symbols):
    inputs, targets = next(iter(StreamBatches(SENTS, symbols.bos_id, symbols.eos_id, batch_size=4, bptt=6)))
    with torch.no_grad():
        mean, _ = lm_loss(lstm, (inputs, targets), None, "mean")
        summed, _ = lm_loss(lstm, (inputs, targets), None, "sum_over_time")
    n = int((targets != -100).sum())
    assert summed.item() == pytest.approx(mean.item() * n / inputs.shape[0], rel=1e-5)


@pytest.mark.parametrize("config", [ADMMConfig(plan=2, max_iters=1, steps_per_iter=6, patience=1),
                                    BPConfig(plan=2, max_iters=1, steps_per_iter=6, patience=1)],
                         ids=["admm", "bp"])
def test_training_methods_carry_the_lstm_state(lstm, symbols, config):
    train = StreamBatches(SENTS, symbols.bos_id, symbols.eos_id, batch_size=4, bptt=5)
    valid = StreamBatches(SENTS[:20], symbols.bos_id, symbols.eos_id, batch_size=2, bptt=5)
    calls = _spy(lstm)
    quantize_(lstm, config, TrainingData(train, valid))
    steps = [c for c in calls if c[0]]
    per_step = 2 if isinstance(config, ADMMConfig) else 1  # extra-gradient: two evaluations per step
    assert len(steps) == per_step * config.steps_per_iter
    groups = [steps[i:i + per_step] for i in range(0, len(steps), per_step)]
    assert groups[0][0][1] is None
    for prev, cur in zip(groups, groups[1:]):
        for _, state_in, _ in cur:  # every evaluation of a step starts where the previous step ended
            assert all(torch.equal(a, b) for a, b in zip(state_in, prev[0][2]))


def test_quantize_files_follows_the_models_training_config(tmp_path, lstm, symbols):
    train = {**TrainConfig(batching="stream", batch_size=3, bptt=7, loss_reduction="sum_over_time",
                           clip=2.5).to_dict()}
    save_checkpoint(tmp_path / "fp", lstm, {"model": LSTM, "train": train}, symbols)
    text = tmp_path / "text.txt"
    text.write_text("\n".join(" ".join(symbols.words(s)) for s in SENTS) + "\n")
    tcfg = train_config_of({"train": train})
    assert (tcfg.batching, tcfg.batch_size, tcfg.bptt) == ("stream", 3, 7)
    assert train_config_of({"train": train}, batching="sentence", batch_size=5).max_tokens is None
    seen = {}
    import kaldi_mpq.quant.admm as admm
    import kaldi_mpq.quant.bp as bp

    real = admm.TrainStream

    def spy(model, batches):
        seen["batches"] = batches
        return real(model, batches)

    admm.TrainStream = bp.TrainStream = spy
    try:
        result = quantize_files(tmp_path / "fp", tmp_path / "a2", ADMMConfig(plan=2, max_iters=1, steps_per_iter=2),
                                train=text, valid=text)
        assert isinstance(seen["batches"], StreamBatches) and seen["batches"].bptt == 7
        assert seen["batches"].batch_size == 3
        quantize_files(tmp_path / "fp", tmp_path / "b2", BPConfig(plan=2, max_iters=1, steps_per_iter=2),
                       train=text, valid=text, batching="sentence", batch_size=4)
        assert isinstance(seen["batches"], SentenceBatches) and seen["batches"].batch_size == 4
    finally:
        admm.TrainStream = bp.TrainStream = real
    assert result.history[0]["iter"] == 0 and len(result.history) == 2
