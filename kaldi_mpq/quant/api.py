"""The public verb ``quantize_(model, config)``, the method registry, and what every method shares
(torchao's shape): the config base, the training data, the result.

Example::

    result = quantize_(model, PTQConfig(plan=4))                       # uniform 4-bit, no training
    result = quantize_(model, ADMMConfig(plan="plan.yaml"), data=TrainingData(train_batches, valid_batches))
    save_packed("exp/lm_4bit", result.layout, result.alpha, result.codes, model_config, symbols)

A plan may be a :class:`~kaldi_mpq.quant.plan.Plan`, a uniform bit-width, a plan.yaml path or a
mapping. ``quantize_(model, plan)`` is post-training quantization with that plan, which is why
:class:`PTQConfig` is defined here; its handler is in :mod:`kaldi_mpq.quant.ptq`. Every other method is
one module holding its config dataclass and its handler, registered with :func:`register_quantizer`
(see :mod:`kaldi_mpq.quant`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Union

import torch
from torch import nn

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.quant.layout import QuantLayout
from kaldi_mpq.quant.plan import PlanLike, as_plan
from kaldi_mpq.text.batching import Batch


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
