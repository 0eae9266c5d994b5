"""LM training loop, usable as a library (``kaldi-mpq train-lm`` is a thin wrapper).

Example::

    from kaldi_mpq.lm.train import TrainConfig, train_lm, make_batches
    cfg = TrainConfig(optimizer="sgd", lr=1.0, schedule="step", decay=0.5, decay_start_epoch=4, epochs=13)
    train_b, valid_b = make_batches(train_ids, symbols, cfg), make_batches(valid_ids, symbols, cfg, train=False)
    result = train_lm(module, train_b, valid_b, cfg, out_dir="exp/lm", symbols=symbols,
                      model_config={"type": "lstm", ...})

Each epoch ends with an evaluation on the validation batches and an atomic checkpoint (``out_dir``:
``model.safetensors`` holds the best epoch so far; ``train_state.pt`` the last epoch's weights, optimizer,
schedule and random-number states). ``resume=True`` continues from it and gives the same final weights
as an uninterrupted run.

Under ``torchrun`` (a joined process group, :mod:`kaldi_mpq.lm.distributed`) the same call trains data-
parallel: each process takes its rows of every batch, gradients are all-reduced, and the run equals a
single process at the same ``batch_size`` up to summation order and dropout masks; rank 0 alone logs
and writes the checkpoint.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from kaldi_mpq.errors import ConfigError, TrainingError
from kaldi_mpq.fileio import Pathlike
from kaldi_mpq.lm.distributed import DataParallel
from kaldi_mpq.lm.evaluate import PerplexityResult, evaluate_perplexity
from kaldi_mpq.lm.loss import detach_state, is_recurrent, token_nll
from kaldi_mpq.lm.neural import default_device
from kaldi_mpq.text.batching import SentenceBatches, StreamBatches
from kaldi_mpq.text.symbols import SymbolTable

logger = logging.getLogger(__name__)

STATE_FILE = "train_state.pt"
LOG_EVERY_SECONDS = 60.0  # progress log lines when the bar is off


@dataclass
class TrainConfig:
    """Training options (the ``train:`` section of an LM config).

    Attributes:
        optimizer: ``sgd``, ``adam`` or ``adamw``.
        lr: initial learning rate.
        momentum: SGD momentum. weight_decay: L2 (``adamw``: decoupled).
        schedule: ``constant``; ``step`` (``lr * decay ** max(0, epoch - decay_start_epoch)``, epochs
            counted from 1: the classic PTB recipe); ``plateau`` (``lr *= decay`` after an epoch whose
            validation perplexity improved by less than ``plateau_min_improvement``, relative); ``cosine``
            (per step, down to ``min_lr``). ``warmup_steps`` of linear warm-up apply to every schedule,
            at most ``warmup_max_fraction`` of all the run's steps (so a preset made for a big corpus
            does not spend a small corpus's whole run warming up).
        clip: gradient-norm clipping (0: none).
        loss_reduction: ``mean`` (per predicted token) or ``sum_over_time`` (summed over the ``bptt``
            steps and averaged over the batch, as Zaremba et al.'s PTB recipe, whose lr 1 assumes it).
        epochs: maximum epochs. patience: stop after this many epochs without a better validation
            perplexity (0: never stop early).
        batching: ``stream`` (BPTT, ``batch_size`` rows of ``bptt`` steps) or ``sentence``
            (``batch_size`` sentences, at most ``max_tokens`` padded tokens, shuffled each epoch).
        seed: seeds the initialisation (by the caller), dropout and shuffling.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1``...
    """

    optimizer: str = "sgd"
    lr: float = 1.0
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: str = "step"
    decay: float = 0.5
    decay_start_epoch: int = 4
    plateau_min_improvement: float = 0.0
    warmup_steps: int = 0
    warmup_max_fraction: float = 0.25
    min_lr: float = 0.0
    clip: float = 5.0
    loss_reduction: str = "mean"
    epochs: int = 13
    patience: int = 0
    batching: str = "stream"
    batch_size: int = 20
    bptt: int = 35
    max_tokens: Optional[int] = None
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        checks = [
            (self.optimizer in ("sgd", "adam", "adamw"), "optimizer must be sgd, adam or adamw"),
            (self.schedule in ("constant", "step", "plateau", "cosine"),
             "schedule must be constant, step, plateau or cosine"),
            (self.loss_reduction in ("mean", "sum_over_time"), "loss_reduction must be mean or sum_over_time"),
            (self.batching in ("stream", "sentence"), "batching must be stream or sentence"),
            (self.lr > 0, "lr must be > 0"), (0 < self.decay <= 1, "decay must be in (0, 1]"),
            (self.epochs >= 1, "epochs must be >= 1"), (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.bptt >= 1, "bptt must be >= 1"), (self.clip >= 0, "clip must be >= 0"),
            (0 < self.warmup_max_fraction <= 1, "warmup_max_fraction must be in (0, 1]"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(f"train config: {msg}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown train option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        try:
            return cls(**d)
        except TypeError as e:
            raise ConfigError(f"train config: {e}") from None

    def to_dict(self) -> dict:
        return asdict(self)

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return default_device()
        return torch.device(self.device)


@dataclass
class EpochRecord:
    epoch: int
    lr: float
    train_ppl: float
    valid_ppl: float
    tokens_per_second: float
    seconds: float


@dataclass
class TrainResult:
    """``history`` per epoch; ``best_epoch`` and ``best_valid_ppl`` of the kept weights."""

    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_valid_ppl: float = float("inf")
    stopped_early: bool = False


def make_batches(
    sentences: Sequence[Sequence[int]], symbols: SymbolTable, config: TrainConfig, train: bool = True
):
    """The batches ``config`` asks for: :class:`StreamBatches` or :class:`SentenceBatches` (shuffled
    when ``train``). Validation stream batches use the same ``batch_size`` and ``bptt``."""
    bos, eos = symbols.bos_id, symbols.eos_id
    if config.batching == "stream":
        return StreamBatches(sentences, bos, eos, batch_size=config.batch_size, bptt=config.bptt)
    return SentenceBatches(sentences, bos, eos, batch_size=config.batch_size, max_tokens=config.max_tokens,
                           shuffle=train, seed=config.seed)


def make_optimizer(module: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in module.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


class LrSchedule:
    """The learning rate of every step: an epoch-level factor (step/plateau) times warm-up/cosine."""

    def __init__(self, config: TrainConfig, steps_per_epoch: int) -> None:
        self.config = config
        self.total_steps = max(1, steps_per_epoch * config.epochs)
        self.epoch_lr = config.lr  # after step/plateau decisions
        self.warmup = min(config.warmup_steps, max(1, int(config.warmup_max_fraction * self.total_steps)))

    def start_epoch(self, epoch: int) -> None:
        c = self.config
        if c.schedule == "step":
            self.epoch_lr = c.lr * c.decay ** max(0, epoch - c.decay_start_epoch)

    def end_epoch(self, improved_enough: bool) -> None:
        if self.config.schedule == "plateau" and not improved_enough:
            self.epoch_lr *= self.config.decay

    def lr_at(self, step: int) -> float:
        c = self.config
        lr = self.epoch_lr
        if c.schedule == "cosine":
            progress = min(1.0, step / self.total_steps)
            lr = c.min_lr + (c.lr - c.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
        if c.warmup_steps and step < self.warmup:
            lr *= (step + 1) / self.warmup
        return max(lr, c.min_lr) if c.schedule != "constant" else lr

    def state_dict(self) -> dict:
        return {"epoch_lr": self.epoch_lr}

    def load_state_dict(self, d: dict) -> None:
        self.epoch_lr = d["epoch_lr"]


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def train_epoch(
    module: nn.Module,
    batches,
    optimizer: torch.optim.Optimizer,
    schedule: LrSchedule,
    config: TrainConfig,
    step: int,
    epoch: int = 1,
    progress: bool = True,
    on_batch: Optional[Callable[[int, int], None]] = None,
    parallel: DataParallel = DataParallel(),
) -> tuple[float, int, int, float]:
    """One pass over ``batches``; returns ``(train loss nats/token, tokens, steps done, seconds)``.

    With ``parallel`` enabled, ``module`` is :meth:`DataParallel.wrap`'s view and ``batches`` this
    process's shard; the loss, tokens and rows are summed over the processes before each backward, so
    every process scales its loss by the whole batch's count and the returned figures are global.

    Raises:
        TrainingError: a NaN or infinite loss (names the epoch and batch).
    """
    device = next(module.parameters()).device
    module.train()
    carry = getattr(batches, "carries_state", False) and is_recurrent(module)
    state = None
    total_loss = 0.0
    total_tokens = 0
    start = last_log = time.perf_counter()
    bar = tqdm(batches, total=len(batches), desc=f"epoch {epoch}", unit="batch", disable=not progress,
               mininterval=1.0, leave=False, dynamic_ncols=True)
    for i, (inputs, targets) in enumerate(bar):
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        lr = schedule.lr_at(step)
        for g in optimizer.param_groups:
            g["lr"] = lr
        nll, n, state = token_nll(module, (inputs, targets), detach_state(state), carry=carry)
        value, n_all, rows = parallel.sum([nll.detach(), n, inputs.shape[0]])
        if not math.isfinite(value):
            raise TrainingError(f"loss is {value} at epoch {epoch}, batch {i + 1} (lr {lr:g}); "
                                f"lower the learning rate or clip gradients")
        denominator = rows if config.loss_reduction == "sum_over_time" else max(n_all, 1)
        # DDP averages the processes' gradients: scaling by world_size makes that the whole batch's
        loss = nll * parallel.world_size / denominator
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip > 0:
            nn.utils.clip_grad_norm_(module.parameters(), config.clip)
        optimizer.step()
        step += 1
        total_loss += value
        total_tokens += int(n_all)
        if progress and i % 20 == 0:
            secs = time.perf_counter() - start
            bar.set_postfix(ppl=f"{math.exp(min(total_loss / max(total_tokens, 1), 700)):.1f}",
                            tok_s=f"{total_tokens / max(secs, 1e-9):.0f}", lr=f"{lr:.3g}", refresh=False)
        elif not progress and time.perf_counter() - last_log > LOG_EVERY_SECONDS:
            last_log = time.perf_counter()
            logger.info("epoch %d: batch %d/%d, train ppl %.2f, %.0f tokens/s", epoch, i + 1, len(batches),
                        math.exp(min(total_loss / max(total_tokens, 1), 700)), total_tokens / (last_log - start))
        if on_batch is not None:
            on_batch(epoch, i)
    bar.close()
    return total_loss / max(total_tokens, 1), total_tokens, step, time.perf_counter() - start


def evaluate_sharded(module: nn.Module, batches, parallel: DataParallel) -> PerplexityResult:
    """Validation loss of ``module`` on this process's shard, summed over the processes."""
    part = evaluate_perplexity(module, batches)
    if not parallel.enabled:
        return part
    nll, tokens = parallel.sum([part.loss * part.tokens, part.tokens])
    return PerplexityResult(loss=nll / max(tokens, 1), tokens=int(tokens), seconds=part.seconds)


def train_lm(
    module: nn.Module,
    train_batches,
    valid_batches,
    config: TrainConfig,
    out_dir: Optional[Pathlike] = None,
    symbols: Optional[SymbolTable] = None,
    model_config: Optional[dict] = None,
    resume: bool = False,
    progress: bool = True,
    on_batch: Optional[Callable[[int, int], None]] = None,
) -> TrainResult:
    """Train ``module`` in place; at the end it holds the best validation epoch's weights.

    Args:
        module: an ``LstmLM`` / ``TransformerLM`` (initialised by the caller, after seeding).
        train_batches, valid_batches: from :func:`make_batches` (any re-iterable of ``(inputs, targets)``
            with ``__len__``; ``set_epoch`` is called if present).
        config: the options.
        out_dir: checkpoint directory written after every epoch (needs ``symbols`` and ``model_config``).
        resume: continue from ``out_dir``'s ``train_state.pt`` (a no-op if training had finished).
        progress: show a tqdm bar with tokens/s and perplexity.
        on_batch: called as ``on_batch(epoch, batch_index)`` after each optimizer step.

    Raises:
        TrainingError: NaN/inf loss, or ``resume`` without a training state.
    """
    from kaldi_mpq.lm.checkpoint import save_checkpoint

    parallel = DataParallel.current(config.device)
    module.to(parallel.device)
    optimizer = make_optimizer(module, config)
    schedule = LrSchedule(config, len(train_batches))
    result = TrainResult()
    first_epoch, step, bad_epochs = 1, 0, 0
    best_state = None
    torch.manual_seed(config.seed + parallel.rank)  # dropout: each process draws its own masks
    random.seed(config.seed + parallel.rank)  # unused by training, but saved in the state: the same run
    np.random.seed(config.seed + parallel.rank)  # then writes the same bytes
    if resume:
        state_path = Path(out_dir) / STATE_FILE if out_dir is not None else None
        if state_path is None or not state_path.is_file():
            raise TrainingError(f"--resume: no training state {state_path} (nothing to resume)")
        saved = torch.load(state_path, map_location="cpu", weights_only=False)
        module.load_state_dict(saved["last_model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        _restore_rng(saved, parallel, config.seed)
        result = saved["result"]
        first_epoch, step, bad_epochs = saved["epoch"] + 1, saved["step"], saved["bad_epochs"]
        best_state = saved["best_model"]
        logger.info("resuming after epoch %d (best valid ppl %.2f at epoch %d)",
                    saved["epoch"], result.best_valid_ppl, result.best_epoch)
        if saved.get("finished"):
            first_epoch = config.epochs + 1
    trainee = parallel.wrap(module)
    train_batches, valid_batches = parallel.shard(train_batches), parallel.shard(valid_batches)
    progress = progress and parallel.is_main
    for epoch in range(first_epoch, config.epochs + 1):
        if hasattr(train_batches, "set_epoch"):
            train_batches.set_epoch(epoch)
        schedule.start_epoch(epoch)
        loss, tokens, step, secs = train_epoch(trainee, train_batches, optimizer, schedule, config, step,
                                               epoch, progress, on_batch, parallel)
        lr = schedule.lr_at(max(step - 1, 0))  # the rate of the epoch's last update (after warm-up)
        valid = evaluate_sharded(module, valid_batches, parallel)
        if not math.isfinite(valid.loss):
            raise TrainingError(f"validation loss is {valid.loss} after epoch {epoch} (lr {lr:g}); the model "
                                f"diverged: lower the learning rate or clip gradients")
        rec = EpochRecord(epoch, lr, math.exp(min(loss, 700)), valid.ppl, tokens / max(secs, 1e-9), secs)
        result.history.append(rec)
        improved = valid.ppl < result.best_valid_ppl
        enough = valid.ppl < result.best_valid_ppl * (1 - config.plateau_min_improvement)
        if improved:
            result.best_epoch, result.best_valid_ppl = epoch, valid.ppl
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
            bad_epochs = 0
        else:
            bad_epochs += 1
        schedule.end_epoch(enough)
        logger.info("epoch %d: lr %.4g, train ppl %.2f, valid ppl %.2f%s, %.0f tokens/s, %.1f s",
                    epoch, lr, rec.train_ppl, rec.valid_ppl, " (best)" if improved else "",
                    rec.tokens_per_second, secs)
        finished = epoch == config.epochs or (config.patience and bad_epochs >= config.patience)
        if finished and epoch < config.epochs:
            result.stopped_early = True
            logger.info("early stop: no better validation perplexity for %d epochs", bad_epochs)
        if out_dir is not None:
            rng_states = parallel.gather(_rng_state())  # every process's, for an exact --resume
            if parallel.is_main:
                _save(out_dir, module, best_state, optimizer, schedule, result, epoch, step, bad_epochs,
                      bool(finished), config, symbols, model_config, save_checkpoint, rng_states)
            parallel.barrier()
        if finished:
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    return result


def _restore_rng(saved: dict, parallel: DataParallel, seed: int) -> None:
    """This process's random-number state from a training state (``rng_per_rank``: one per process of
    the run that wrote it); with another number of processes, fresh seeds (dropout masks then differ
    from an uninterrupted run's)."""
    states = saved.get("rng_per_rank") or [saved["rng"]]
    if len(states) == parallel.world_size:
        _set_rng_state(states[parallel.rank])
        return
    logger.warning("resuming on %d processes a run trained on %d: random-number states re-seeded, so "
                   "dropout differs from an uninterrupted run", parallel.world_size, len(states))
    torch.manual_seed(seed + parallel.rank + 1000 * saved["epoch"])


def _without_timing(result: TrainResult) -> TrainResult:
    """``result`` with the wall-clock figures zeroed (they are in the log): a training state that holds
    them would differ between two identical runs."""
    history = [dataclasses.replace(r, tokens_per_second=0.0, seconds=0.0) for r in result.history]
    return dataclasses.replace(result, history=history)


def _save(out_dir, module, best_state, optimizer, schedule, result, epoch, step, bad_epochs, finished,
          config, symbols, model_config, save_checkpoint, rng_states) -> None:
    if symbols is None or model_config is None:
        raise ValueError("out_dir needs symbols and model_config")
    buf = io.BytesIO()
    torch.save({
        "last_model": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        "best_model": best_state, "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
        "rng": rng_states[0], "rng_per_rank": rng_states, "result": _without_timing(result), "epoch": epoch, "step": step, "bad_epochs": bad_epochs,
        "finished": finished,
    }, buf)
    last = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    module.load_state_dict(best_state)  # the checkpoint's weights are the best epoch's
    try:
        save_checkpoint(out_dir, module, {
            "model": model_config, "train": config.to_dict(),
            "state": {"epoch": epoch, "best_epoch": result.best_epoch,
                      "valid_ppl": round(result.best_valid_ppl, 4), "finished": finished},
        }, symbols, extra_files={STATE_FILE: buf.getvalue()})
    finally:
        module.load_state_dict(last)
