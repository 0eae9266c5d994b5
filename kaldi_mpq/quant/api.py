"""The public verb ``quantize_(model, config)`` and one config dataclass per method (torchao's shape).

Example::

    result = quantize_(model, PTQConfig(plan=4))                       # uniform 4-bit, no training
    result = quantize_(model, ADMMConfig(plan="plan.yaml"), data=TrainingData(train_batches, valid_batches))
    save_packed("exp/lm_4bit", result.layout, result.alpha, result.codes, model_config, symbols)

A plan may be a :class:`~kaldi_mpq.quant.plan.Plan`, a uniform bit-width, a plan.yaml path or a
mapping. ``quantize_(model, plan)`` is post-training quantization with that plan. Adding a method means
a config dataclass plus a private handler registered with :func:`register_quantizer`.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Union

import torch
from torch import nn

from kaldi_mpq.errors import ConfigError, TrainingError
from kaldi_mpq.lm.loss import is_recurrent
from kaldi_mpq.text.batching import Batch
from kaldi_mpq.quant.layout import QuantLayout
from kaldi_mpq.quant.plan import Plan, PlanLike, as_plan

logger = logging.getLogger(__name__)



@dataclass
class QuantConfig:
    """Base of every method config.

    Attributes:
        plan: cluster -> bits (a Plan, an int for uniform precision, a plan.yaml path or a mapping).
        granularity: overrides the plan's: ``layer`` | ``sublayer`` (alias ``gate``) | ``node``.
        bias: overrides the plan's: ``column`` | ``float``.
    """

    plan: PlanLike = 8
    granularity: Optional[str] = None
    bias: Optional[str] = None

    def __post_init__(self) -> None:
        self.plan = as_plan(self.plan, self.granularity, self.bias)

    needs_data = False


@dataclass
class PTQConfig(QuantConfig):
    """Post-training quantization: solve each cluster's scale (Algorithm 1), round, no retraining."""


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


@dataclass
class ADMMConfig(TrainedConfig):
    """ADMM (paper 1, Sec. IV): gamma = penalty, eta1 / eta2 the extra-gradient step sizes."""

    gamma: float = 1e-3
    eta1: float = 0.02
    eta2: float = 0.001

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.gamma > 0 and self.eta1 > 0 and self.eta2 > 0):
            raise ConfigError("gamma, eta1 and eta2 must be > 0")


@dataclass
class BPConfig(TrainedConfig):
    """Modified back-propagation (BinaryConnect): quantized forward pass, the gradient applied to the
    full-precision weights (straight-through), plain SGD with learning rate ``lr``.

    ``als_steps``: scale-solve iterations per step (warm-started)."""

    lr: float = 0.02
    als_steps: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.lr > 0 or self.als_steps < 1:
            raise ConfigError("lr must be > 0 and als_steps >= 1")


@dataclass
class TrainingData:
    """Batches ``(inputs [B, T], targets [B, T])`` (targets ``-100`` do not count): re-iterable."""

    train: Iterable[Batch]
    valid: Iterable[Batch]


@dataclass
class QuantResult:
    """What a method produced: the model holds the hard-quantized weights.

    ``history``: one record per evaluation (``iter``, ``valid_ppl``; iteration 0 is before training).
    ``centroids``: cluster index -> its table of ``2^bits`` integer levels (int8) when the codes are not
    the uniform ``{-m..m}`` (GQ); a coded weight is ``alpha[cluster] * code`` either way.
    """

    layout: QuantLayout
    alpha: torch.Tensor
    codes: dict[str, torch.Tensor]
    method: str
    history: list[dict] = field(default_factory=list)
    centroids: dict[int, torch.Tensor] = field(default_factory=dict)

    @property
    def best_valid_ppl(self) -> Optional[float]:
        return min((h["valid_ppl"] for h in self.history), default=None)


_HANDLERS: dict[type, Callable] = {}


def register_quantizer(config_type: type) -> Callable:
    """Register ``handler(model, config, data) -> QuantResult`` for ``config_type``.

    Example::

        @dataclass
        class MyConfig(QuantConfig):
            strength: float = 1.0

        @register_quantizer(MyConfig)
        def _my_method(model, config, data):
            layout = QuantLayout(model, config.plan)
            alpha, codes = layout.quantize_model()
            return QuantResult(layout, alpha, codes, "mine")
    """

    def deco(fn: Callable) -> Callable:
        _HANDLERS[config_type] = fn
        return fn

    return deco


def quantize_(model: nn.Module, config: Union[QuantConfig, PlanLike], data: Optional[TrainingData] = None
              ) -> QuantResult:
    """Quantize ``model`` in place with ``config`` (a plan means :class:`PTQConfig`)."""
    if not isinstance(config, QuantConfig):
        config = PTQConfig(plan=config)
    handler = _HANDLERS.get(type(config))
    if handler is None:
        raise ConfigError(f"no quantizer registered for {type(config).__name__}")
    if config.needs_data and data is None:
        raise ConfigError(f"{type(config).__name__} needs training and validation data")
    return handler(model, config, data)


# -- shared helpers of the training methods --------------------------------------------------------------
def valid_ppl(model: nn.Module, batches: Iterable[Batch]) -> float:
    from kaldi_mpq.lm.evaluate import evaluate_perplexity

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
    if clip > 0:
        nn.utils.clip_grad_norm_(list(params), clip)


def check_finite(loss: torch.Tensor, where: str) -> None:
    if not math.isfinite(float(loss.detach())):
        raise TrainingError(f"{where}: non-finite loss {float(loss.detach())}")


@register_quantizer(PTQConfig)
def _ptq(model: nn.Module, config: PTQConfig, data: Optional[TrainingData]) -> QuantResult:
    layout = QuantLayout(model, config.plan)
    alpha, codes = layout.quantize_model()
    result = QuantResult(layout, alpha, codes, "ptq")
    if data is not None:
        result.history.append({"iter": 0, "valid_ppl": valid_ppl(model, data.valid)})
    return result
