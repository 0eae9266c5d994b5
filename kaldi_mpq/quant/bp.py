"""Modified back-propagation (BinaryConnect), the baseline of paper 1.

Each step quantizes the full-precision weights (the scales warm-started, ``als_steps`` solver steps),
runs forward and backward with the quantized weights, and applies the gradient to the full-precision
weights (straight-through), by plain SGD. After each outer iteration the hard-quantized model is
measured on the validation data and the best iteration is the result, as for ADMM.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.quant.api import QuantResult, TrainingData, register_quantizer
from kaldi_mpq.quant.layout import QuantLayout
from kaldi_mpq.quant.training import IterationTracker, TrainedConfig, TrainStream, backward_lm_loss


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


@register_quantizer(BPConfig)
def _bp(model: nn.Module, config: BPConfig, data: TrainingData) -> QuantResult:
    layout = QuantLayout(model, config.plan)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.SGD(params.values(), lr=config.lr)
    alpha = layout.solve()
    codes = layout.codes(alpha)
    tracker = IterationTracker(model, layout, data, config.patience)
    tracker.offer(0, alpha, codes, layout.quantized(alpha, codes))
    stream = TrainStream(model, data.train)
    batches = iter(stream)
    for it in range(1, config.max_iters + 1):
        model.train()
        for _ in tqdm(range(config.steps_per_iter), desc=f"BP iteration {it}", leave=False, disable=None):
            theta = {n: p.detach().clone() for n, p in params.items()}
            alpha = layout.solve(alpha_init=alpha, max_steps=config.als_steps)
            layout.write(layout.quantized(alpha, layout.codes(alpha)))  # quantized forward
            batch, state = next(batches)
            stream.carry(backward_lm_loss(model, params.values(), batch, state, config.loss_reduction, config.clip, "BP"))
            layout.write(theta)  # straight-through: the gradient updates the full-precision weights
            optimizer.step()
        model.eval()
        alpha = layout.solve(alpha_init=alpha)
        codes = layout.codes(alpha)
        if not tracker.offer(it, alpha, codes, layout.quantized(alpha, codes)):
            break
    return tracker.finish("bp")
