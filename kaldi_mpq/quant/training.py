"""What the quantization methods that train share: their config base, the training batch stream, the
gradient step of the LM loss, and the choice of the best hard-quantized iteration.

A training method (ADMM, modified BP, and the ones to come) subclasses :class:`TrainedConfig`, reads
its batches through :class:`TrainStream`, and lets an :class:`IterationTracker` measure the
hard-quantized model on the validation data after every outer iteration and keep the best one.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import torch
from torch import nn

from kaldi_mpq.errors import ConfigError, TrainingError
from kaldi_mpq.lm.evaluate import evaluate_perplexity
from kaldi_mpq.lm.loss import is_recurrent, lm_loss
from kaldi_mpq.quant.api import QuantConfig, QuantResult, TrainingData
from kaldi_mpq.quant.layout import QuantLayout
from kaldi_mpq.text.batching import Batch

logger = logging.getLogger(__name__)


@dataclass
class TrainedConfig(QuantConfig):
    """Shared by the training methods.

    Attributes:
        max_iters: outer iterations (paper: at most 20); the validation PPL of the hard-quantized model
            is measured after each and the best one is kept.
        steps_per_iter: SGD mini-batch steps per outer iteration (not given in the paper).
        patience: stop after this many iterations without a better validation PPL.
        loss_reduction: the training loss the step sizes apply to, as in
            :class:`~kaldi_mpq.lm.train.TrainConfig`: ``mean`` (per predicted token) or ``sum_over_time``
            (summed over the BPTT steps, averaged over the batch rows).
        clip: gradient-norm clipping of the cross-entropy gradient (0: none).

    ``kaldi-mpq quantize`` takes ``loss_reduction``, ``clip`` and the batching from the model's own
    training config (``train:`` section of its ``config.yaml``).
    """

    max_iters: int = 20
    steps_per_iter: int = 200
    patience: int = 2
    loss_reduction: str = "mean"
    clip: float = 0.0

    needs_data = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_iters < 1 or self.steps_per_iter < 1 or self.patience < 1:
            raise ConfigError("max_iters, steps_per_iter and patience must be >= 1")
        if self.loss_reduction not in ("mean", "sum_over_time"):
            raise ConfigError("loss_reduction must be mean or sum_over_time")
        if self.clip < 0:
            raise ConfigError("clip must be >= 0")


def valid_ppl(model: nn.Module, batches: Iterable[Batch]) -> float:
    """Perplexity of ``model`` on ``batches`` (:func:`~kaldi_mpq.lm.evaluate.evaluate_perplexity`)."""
    return evaluate_perplexity(model, batches).ppl


class TrainStream:
    """Endless training batches for the training methods, with the recurrent state carried over.

    When the batches carry state (:class:`~kaldi_mpq.text.batching.StreamBatches`) and the model has
    one (LSTM), each batch continues from the state the previous batch ended in, as in BPTT training;
    every new pass over the data starts from zeros. Otherwise the state is always ``None``.

    Example::

        stream = TrainStream(model, data.train)
        for batch, state in itertools.islice(stream, 100):
            loss, new_state = lm_loss(model, batch, state, "sum_over_time")
            stream.carry(new_state)
    """

    def __init__(self, model: nn.Module, batches: Iterable[Batch]):
        self.batches = batches
        self.carries_state = getattr(batches, "carries_state", False) and is_recurrent(model)
        self.state = None

    def __iter__(self):
        for epoch in itertools.count():
            if hasattr(self.batches, "set_epoch"):
                self.batches.set_epoch(epoch)
            self.state = None
            for batch in self.batches:
                yield batch, self.state

    def carry(self, state) -> None:
        """The state the next batch starts from (ignored unless the stream carries state)."""
        self.state = state if self.carries_state else None


def clip_grads(params: Iterable[torch.Tensor], clip: float) -> None:
    """Clip the gradient norm of ``params`` to ``clip`` (0: leave them)."""
    if clip > 0:
        nn.utils.clip_grad_norm_(list(params), clip)


def check_finite(loss: torch.Tensor, where: str) -> None:
    """Raise :class:`~kaldi_mpq.errors.TrainingError` naming ``where`` on a NaN or infinite loss."""
    if not math.isfinite(float(loss.detach())):
        raise TrainingError(f"{where}: non-finite loss {float(loss.detach())}")


def backward_lm_loss(model: nn.Module, params: Iterable[torch.Tensor], batch: Batch, state: Any,
                     reduction: str, clip: float, where: str) -> Any:
    """One backward pass of the LM loss: zero the gradients, forward and backward ``batch`` from
    ``state`` with ``reduction`` (``mean`` | ``sum_over_time``), clip the gradient of ``params`` to
    ``clip`` (0: none). Every training method (ADMM, BP, GQ, NAS) takes its steps through this.

    Returns the new (detached) recurrent state. Raises TrainingError naming ``where`` on a NaN loss.
    """
    model.zero_grad(set_to_none=True)
    loss, new_state = lm_loss(model, batch, state, reduction)
    check_finite(loss, where)
    loss.backward()
    clip_grads([p for p in params if p.grad is not None], clip)
    return new_state


class IterationTracker:
    """Evaluate the hard-quantized model after each outer iteration, keep the best, decide when to stop.

    The result of a training method is its best iteration on the validation data ("final hard
    quantization"); iteration 0 is post-training quantization.
    """

    def __init__(self, model: nn.Module, layout: QuantLayout, data: TrainingData, patience: int):
        self.model, self.layout, self.data, self.patience = model, layout, data, patience
        self.history: list[dict] = []
        self.best: Optional[tuple] = None
        self.bad = 0

    def offer(self, it: int, alpha: torch.Tensor, codes: dict, q: dict) -> bool:
        """Measure the quantized weights ``q``; returns False when training should stop."""
        theta = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        self.layout.write(q)
        ppl = valid_ppl(self.model, self.data.valid)
        self.layout.write(theta)
        self.history.append({"iter": it, "valid_ppl": ppl})
        logger.info("iteration %d: quantized valid ppl %.3f", it, ppl)
        if self.best is None or ppl < self.best[0]:
            self.best, self.bad = (ppl, alpha.clone(), {k: v.clone() for k, v in codes.items()}, q), 0
        else:
            self.bad += 1
        return self.bad < self.patience

    def finish(self, method: str) -> QuantResult:
        """Write the best iteration's weights into the model and return it."""
        _, alpha, codes, q = self.best
        self.layout.write(q)
        return QuantResult(self.layout, alpha, codes, method, self.history)
