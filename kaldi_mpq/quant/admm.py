"""ADMM training of quantized LMs (paper 1, Sec. IV) and the modified-BP baseline.

ADMM, per outer iteration ``k`` (scaled form, Eqs. 20-25)::

    Theta  <- extra-gradient steps on  F_ce(Theta) + gamma/2 ||Theta - Q + lambda||^2     (Eqs. 21-23)
              Theta_bar = Theta - eta1 * grad(Theta);  Theta = Theta - eta2 * grad(Theta_bar)
    Q      <- alpha * V = projection of Theta + lambda (Algorithm 1, warm-started)         (Eq. 24)
    lambda <- lambda + Theta - Q                                                         (Eq. 25)

after which the validation perplexity of the hard-quantized model ``Q`` is measured; the best ``Q``
over the iterations (iteration 0 = post-training quantization) is the result ("final hard
quantization"). Only coded rows (1-8 bit clusters) carry the penalty and the multiplier.

Modified BP (BinaryConnect): each step quantizes the full-precision weights, runs forward/backward
with the quantized ones, and applies the gradient to the full-precision weights (straight-through).

Both read the training batches through :class:`~kaldi_mpq.quant.api.TrainStream`: with stream (BPTT)
batches an LSTM carries its state from one batch to the next, as in its own training. The two gradient
evaluations of an extra-gradient step start from the same state; the state carried on is the one of
the first (at the current weights). The cross-entropy gradient is clipped to ``clip`` (the penalty
gradient is not).
"""

from __future__ import annotations

import logging
from typing import Optional

import torch
from torch import nn
from tqdm import tqdm

from kaldi_mpq.lm.loss import lm_loss
from kaldi_mpq.quant.api import ADMMConfig, BPConfig, QuantResult, TrainingData, TrainStream, check_finite, \
    clip_grads, register_quantizer, valid_ppl
from kaldi_mpq.quant.clusters import as_rows
from kaldi_mpq.quant.layout import QuantLayout

logger = logging.getLogger(__name__)


def _row_masks(layout: QuantLayout, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float masks shaped like each coded parameter: 1 on coded rows."""
    masks = {}
    for name, (sel, _) in layout.coded.items():
        m = torch.zeros(as_rows(params[name]).shape[0], 1)
        m[sel] = 1.0
        masks[name] = m.expand_as(as_rows(params[name])).reshape(params[name].shape).clone()
    return masks


class _Tracker:
    """Evaluate the hard-quantized model, keep the best, decide when to stop."""

    def __init__(self, model: nn.Module, layout: QuantLayout, data: TrainingData, patience: int):
        self.model, self.layout, self.data, self.patience = model, layout, data, patience
        self.history: list[dict] = []
        self.best: Optional[tuple] = None
        self.bad = 0

    def offer(self, it: int, alpha: torch.Tensor, codes: dict, q: dict) -> bool:
        """Measure ``q``; returns False when training should stop."""
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
        _, alpha, codes, q = self.best
        self.layout.write(q)
        return QuantResult(self.layout, alpha, codes, method, self.history)


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
    tracker = _Tracker(model, layout, data, config.patience)
    tracker.offer(0, alpha, codes, q)
    stream = TrainStream(model, data.train)
    batches = iter(stream)

    def grad_at(batch, state):
        model.zero_grad(set_to_none=True)
        loss, new_state = lm_loss(model, batch, state, config.loss_reduction)
        check_finite(loss, "ADMM")
        loss.backward()
        clip_grads([p for p in params.values() if p.grad is not None], config.clip)
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


@register_quantizer(BPConfig)
def _bp(model: nn.Module, config: BPConfig, data: TrainingData) -> QuantResult:
    layout = QuantLayout(model, config.plan)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.SGD(params.values(), lr=config.lr)
    alpha = layout.solve()
    codes = layout.codes(alpha)
    tracker = _Tracker(model, layout, data, config.patience)
    tracker.offer(0, alpha, codes, layout.quantized(alpha, codes))
    stream = TrainStream(model, data.train)
    batches = iter(stream)
    for it in range(1, config.max_iters + 1):
        model.train()
        for _ in tqdm(range(config.steps_per_iter), desc=f"BP iteration {it}", leave=False, disable=None):
            theta = {n: p.detach().clone() for n, p in params.items()}
            alpha = layout.solve(alpha_init=alpha, max_steps=config.als_steps)
            layout.write(layout.quantized(alpha, layout.codes(alpha)))  # quantized forward
            optimizer.zero_grad(set_to_none=True)
            batch, state = next(batches)
            loss, new_state = lm_loss(model, batch, state, config.loss_reduction)
            check_finite(loss, "BP")
            loss.backward()
            clip_grads([p for p in params.values() if p.grad is not None], config.clip)
            stream.carry(new_state)
            layout.write(theta)  # straight-through: the gradient updates the full-precision weights
            optimizer.step()
        model.eval()
        alpha = layout.solve(alpha_init=alpha)
        codes = layout.codes(alpha)
        if not tracker.offer(it, alpha, codes, layout.quantized(alpha, codes)):
            break
    return tracker.finish("bp")
