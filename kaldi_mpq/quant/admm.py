"""ADMM training of quantized LMs (paper 1, Sec. IV).

ADMM, per outer iteration ``k`` (scaled form, Eqs. 20-25)::

    Theta  <- extra-gradient steps on  F_ce(Theta) + gamma/2 ||Theta - Q + lambda||^2     (Eqs. 21-23)
              Theta_bar = Theta - eta1 * grad(Theta);  Theta = Theta - eta2 * grad(Theta_bar)
    Q      <- alpha * V = projection of Theta + lambda (Algorithm 1, warm-started)         (Eq. 24)
    lambda <- lambda + Theta - Q                                                         (Eq. 25)

after which the validation perplexity of the hard-quantized model ``Q`` is measured; the best ``Q``
over the iterations (iteration 0 = post-training quantization) is the result ("final hard
quantization"). Only coded rows (1-8 bit clusters) carry the penalty and the multiplier.

The training batches come through :class:`~kaldi_mpq.quant.training.TrainStream`: with stream (BPTT)
batches an LSTM carries its state from one batch to the next, as in its own training. The two gradient
evaluations of an extra-gradient step start from the same state; the state carried on is the one of
the first (at the current weights). The cross-entropy gradient is clipped to ``clip`` (the penalty
gradient is not).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.quant.api import QuantResult, TrainingData, register_quantizer
from kaldi_mpq.quant.clusters import as_rows
from kaldi_mpq.quant.layout import QuantLayout
from kaldi_mpq.quant.training import IterationTracker, TrainedConfig, TrainStream, backward_lm_loss

logger = logging.getLogger(__name__)


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


def _row_masks(layout: QuantLayout, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float masks shaped like each coded parameter: 1 on coded rows."""
    masks = {}
    for name, (sel, _) in layout.coded.items():
        m = torch.zeros(as_rows(params[name]).shape[0], 1)
        m[sel] = 1.0
        masks[name] = m.expand_as(as_rows(params[name])).reshape(params[name].shape).clone()
    return masks


@register_quantizer(ADMMConfig)
def _admm(model: nn.Module, config: ADMMConfig, data: TrainingData) -> QuantResult:
    layout = QuantLayout(model, config.plan)
    pull = config.eta2 * config.gamma * config.steps_per_iter
    if pull < 0.01:
        logger.warning("ADMM: eta2 * gamma * steps_per_iter = %.2g: the penalty hardly moves the weights "
                       "between multiplier updates, so the quantized model may drift rather than improve "
                       "(docs/quantization.md: e.g. --gamma 5 --eta2 0.02 for sum_over_time LSTMs)", pull)
    model.train()
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    masks = _row_masks(layout, params)
    alpha = layout.solve()
    codes = layout.codes(alpha)
    q = layout.quantized(alpha, codes)
    lam = {n: torch.zeros_like(params[n]) for n in masks}
    tracker = IterationTracker(model, layout, data, config.patience)
    tracker.offer(0, alpha, codes, q)
    stream = TrainStream(model, data.train)
    batches = iter(stream)

    def grad_at(batch, state):
        new_state = backward_lm_loss(model, params.values(), batch, state, config.loss_reduction, config.clip,
                                     "ADMM")
        grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in params.items()}
        for n, m in masks.items():  # gradient of gamma/2 ||Theta - Q + lambda||^2 on coded rows
            grads[n] = grads[n] + config.gamma * m * (params[n].detach() - q[n] + lam[n])
        return grads, new_state

    for it in range(1, config.max_iters + 1):
        model.train()
        for _ in tqdm(range(config.steps_per_iter), desc=f"ADMM iteration {it}", leave=False, disable=None):
            batch, state = next(batches)
            theta0 = {n: p.detach().clone() for n, p in params.items()}
            g, new_state = grad_at(batch, state)
            with torch.no_grad():
                for n, p in params.items():
                    p.copy_(theta0[n] - config.eta1 * g[n])
            g, _ = grad_at(batch, state)
            with torch.no_grad():
                for n, p in params.items():
                    p.copy_(theta0[n] - config.eta2 * g[n])
            stream.carry(new_state)
        model.eval()
        theta = {n: p.detach() for n, p in model.named_parameters()}
        targets = {n: theta[n] + lam[n] if n in lam else theta[n] for n in theta}
        alpha = layout.solve(targets, alpha_init=alpha)
        codes = layout.codes(alpha, targets)
        q = layout.quantized(alpha, codes)
        with torch.no_grad():
            for n in lam:
                lam[n] += masks[n] * (theta[n] - q[n])
        if not tracker.offer(it, alpha, codes, q):
            break
    return tracker.finish("admm")
