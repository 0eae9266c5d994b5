"""Training loop: learning, determinism, resume after a kill, NaN loss, schedules, early stop."""

import math

import numpy as np
import pytest
import torch

from kaldi_mpq.errors import ConfigError, TrainingError
from kaldi_mpq.lm.checkpoint import read_config
from kaldi_mpq.lm_loading import load_lm
from kaldi_mpq.lm.evaluate import evaluate_perplexity
from kaldi_mpq.lm.train import LrSchedule, TrainConfig, make_batches, train_lm
from kaldi_mpq.testing.lm import TINY_MODELS, tiny_module, tiny_symbols


def _data(n=120, seed=0):
    """A learnable toy language: w0 w1 w2 ... counting up from a random start."""
    sym = tiny_symbols(12)
    rng = np.random.default_rng(seed)
    sents = []
    for _ in range(n):
        start, length = rng.integers(0, 12), rng.integers(2, 8)
        sents.append([sym[f"w{(start + k) % 12}"] for k in range(length)])
    return sym, sents


def _run(kind, cfg, out_dir=None, resume=False, on_batch=None, seed=0):
    sym, sents = _data()
    module = tiny_module(kind, sym, seed=seed)
    result = train_lm(module, make_batches(sents[:100], sym, cfg), make_batches(sents[100:], sym, cfg, train=False),
                      cfg, out_dir=out_dir, symbols=sym, model_config=TINY_MODELS[kind], resume=resume,
                      progress=False, on_batch=on_batch)
    return module, result


@pytest.mark.parametrize("kind,batching", [("lstm", "stream"), ("transformer", "sentence")])
def test_training_learns_and_checkpoints(kind, batching, tmp_path):
    cfg = TrainConfig(optimizer="adam", lr=0.03, schedule="constant", epochs=5, batching=batching,
                      batch_size=4, bptt=10, device="cpu")
    module, result = _run(kind, cfg, tmp_path / "lm")
    assert result.best_valid_ppl < 6 < result.history[0].train_ppl  # ~13 choices -> learns the counting
    lm = load_lm(tmp_path / "lm", device="cpu")
    sym, sents = _data()
    ppl = evaluate_perplexity(lm, make_batches(sents[100:], sym, cfg, train=False)).ppl
    assert ppl == pytest.approx(result.best_valid_ppl, rel=1e-5)
    state = read_config(tmp_path / "lm")["state"]
    assert state["finished"] and state["best_epoch"] == result.best_epoch


def test_same_seed_same_weights_and_resume_after_kill(tmp_path):
    cfg = TrainConfig(optimizer="sgd", lr=1.0, schedule="step", decay_start_epoch=1, epochs=3, batch_size=4,
                      bptt=5, device="cpu", seed=7)
    ref, _ = _run("lstm", cfg, tmp_path / "ref")
    again, _ = _run("lstm", cfg)
    for (n, a), b in zip(ref.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), n

    class Killed(Exception):
        pass

    def kill(epoch, batch):
        if epoch == 2 and batch == 3:
            raise Killed

    with pytest.raises(Killed):
        _run("lstm", cfg, tmp_path / "run", on_batch=kill)
    assert read_config(tmp_path / "run")["state"]["epoch"] == 1  # the last complete epoch
    resumed, result = _run("lstm", cfg, tmp_path / "run", resume=True, seed=99)  # init is overwritten
    assert [r.epoch for r in result.history] == [1, 2, 3]
    for (n, a), b in zip(ref.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), n


def test_resume_without_state_is_an_error(tmp_path):
    with pytest.raises(TrainingError, match="nothing to resume"):
        _run("lstm", TrainConfig(epochs=1, device="cpu"), tmp_path / "none", resume=True)


def test_nan_loss_is_an_error_and_leaves_no_checkpoint(tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=4, bptt=5, device="cpu")
    sym, sents = _data()
    module = tiny_module("lstm", sym)
    with torch.no_grad():
        module.output.bias.fill_(float("nan"))
    with pytest.raises(TrainingError, match="loss is nan at epoch 1, batch 1"):
        train_lm(module, make_batches(sents, sym, cfg), make_batches(sents, sym, cfg), cfg,
                 out_dir=tmp_path / "lm", symbols=sym, model_config=TINY_MODELS["lstm"], progress=False)
    assert not (tmp_path / "lm").exists()
    assert not list(tmp_path.iterdir())


def test_early_stopping_and_plateau_decay(monkeypatch):
    import kaldi_mpq.lm.train as train_mod
    from kaldi_mpq.lm.evaluate import PerplexityResult

    scripted = iter([10.0, 9.0, 9.5, 9.6, 9.7, 9.8])
    monkeypatch.setattr(train_mod, "evaluate_perplexity",
                        lambda module, batches: PerplexityResult(math.log(next(scripted)), 1, 1.0))
    cfg = TrainConfig(optimizer="sgd", lr=0.1, schedule="plateau", decay=0.5, epochs=6, patience=2,
                      batch_size=4, bptt=5, device="cpu")
    module, result = _run("lstm", cfg)
    assert result.stopped_early and [r.epoch for r in result.history] == [1, 2, 3, 4]
    assert [r.lr for r in result.history] == pytest.approx([0.1, 0.1, 0.1, 0.05])
    assert result.best_epoch == 2 and result.best_valid_ppl == pytest.approx(9.0)


def test_schedules():
    step = LrSchedule(TrainConfig(lr=1.0, schedule="step", decay=0.5, decay_start_epoch=4, epochs=13), 10)
    got = []
    for e in range(1, 8):
        step.start_epoch(e)
        got.append(step.lr_at(0))
    assert got == [1, 1, 1, 1, 0.5, 0.25, 0.125]
    cos = LrSchedule(TrainConfig(optimizer="adam", lr=1e-3, schedule="cosine", warmup_steps=10, min_lr=0,
                                 epochs=1), 100)
    assert cos.lr_at(0) == pytest.approx(1e-4, rel=1e-2) and cos.lr_at(50) == pytest.approx(5e-4, rel=1e-2)
    assert cos.lr_at(100) == pytest.approx(0, abs=1e-12)
    # a 500-step warm-up on a 40-step run is cut to a quarter of the run
    short = LrSchedule(TrainConfig(optimizer="adam", lr=1e-3, schedule="constant", warmup_steps=500, epochs=2), 20)
    assert short.lr_at(0) == pytest.approx(1e-4) and short.lr_at(9) == pytest.approx(1e-3)
    assert short.lr_at(30) == pytest.approx(1e-3)


def test_bad_train_config():
    with pytest.raises(ConfigError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ConfigError, match="unknown train option"):
        TrainConfig.from_dict({"learning_rate": 1})
    assert math.isclose(TrainConfig.from_dict({"lr": 0.5}).lr, 0.5)


def test_checkpoint_of_an_interrupted_run_is_refused_until_resumed(tmp_path, monkeypatch, capsys):
    from kaldi_mpq.cli import main as cli_main
    from kaldi_mpq.errors import CheckpointError
    from kaldi_mpq.lm.checkpoint import ALLOW_PARTIAL_ENV

    cfg = TrainConfig(optimizer="adam", lr=0.03, schedule="constant", epochs=3, batch_size=4, bptt=5, device="cpu")
    run = tmp_path / "run"

    def kill(epoch, batch):  # the periodic save of epoch 1 is on disk, as after a SIGKILL in epoch 2
        if epoch == 2 and batch == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run("lstm", cfg, run, on_batch=kill)
    monkeypatch.delenv(ALLOW_PARTIAL_ENV, raising=False)
    with pytest.raises(CheckpointError, match=rf"{run}: training did not finish \(epoch 1 of 3 done.*--resume"):
        load_lm(run, device="cpu")
    text = tmp_path / "text.txt"
    text.write_text("w1 w2 w3\n")
    assert cli_main(["eval-lm", "--lm", str(run), "--text", str(text), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert f"error: {run}: training did not finish" in err and ALLOW_PARTIAL_ENV in err
    monkeypatch.setenv(ALLOW_PARTIAL_ENV, "1")  # the explicit opt-in
    load_lm(run, device="cpu")
    monkeypatch.delenv(ALLOW_PARTIAL_ENV)
    _run("lstm", cfg, run, resume=True)
    load_lm(run, device="cpu")
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated
    with pytest.raises(CheckpointError, match=rf"{weights}: corrupt weights file"):
        load_lm(run, device="cpu")
