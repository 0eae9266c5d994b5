"""Mixed-precision NAS (paper 1, Sec. V-C; paper 2, Sec. 4.3): a super-network over the prototypes.

Every cluster ``c`` has architecture weights ``a_c`` over the candidate bit-widths ``N`` (the
prototypes' bits, default {1, 2, 4, 8}) and, per bit-width ``n``, full-precision weights ``Theta_n``
initialised from the ``n``-bit prototype. A training step

1. quantizes every ``Theta_n`` to ``n`` bits (scales warm-started, as modified BP does),
2. runs the LM with each cluster's rows mixed as ``W_c = sum_n softmax(a_c)_n Q_n(Theta_n)_c``,
3. minimises ``CE + beta * cost`` over the weights (SGD, straight-through: each ``Theta_n`` gets the
   gradient of its quantized copy, ``softmax(a_c)_n`` times the mixed weight's) and over ``a``
   (Adam), together, on the same mini-batch ("learned inside the super-network together with the
   normal parameters", paper 2).

Without a budget the final plan is the argmax of ``a_c`` per cluster; its parameter-weighted average bits
are reported (the papers' NAS lands above the target: paper 2 Table 2, 2.2 bits), and where it lands
depends on ``beta``. With a budget (``NASConfig.budget``: average bits or packed MB, the meaning and the
accounting of ``kaldi-mpq allocate``) the plan is the one of highest summed log-probability
``sum_c log softmax(a_c)[n_c]`` within the budget, solved by the exact allocator of
:mod:`kaldi_mpq.quant.allocate` on a table of ``-log softmax(a_c)``; with a budget the argmax plan
meets, that is the argmax plan itself. The plan's metadata records both plans' average bits, and
``metric: nas`` (so ``quant-report`` labels a fine-tuned NAS plan e.g. ``bp+nas``).

Choices where the papers are silent or ambiguous:

- Mixing: the papers mix each layer's *outputs* (Eq. 29). We mix the *weights*, one forward pass
  instead of one per bit-width; for a linear map (embedding, output layer, each gate's pre-activation)
  the two are the same, for a sublayer with a non-linearity inside (an attention or feed-forward
  sublayer) it is the usual weight-sharing relaxation.
- Cost term: Eq. 30 prints ``beta * sum_{n,l} a_n^l sqrt(n)`` with the raw architecture weights, which
  is unbounded below (lowering every ``a`` lowers it without changing any choice). We use the softmax
  probabilities and weight each cluster by its share of the coded parameters:
  ``cost = sum_c (size_c / size) sum_n softmax(a_c)_n sqrt(n)``, the expected sqrt-bits of a
  parameter, so ``beta`` is in nats per token of cross-entropy per unit of sqrt-bits whatever the model
  size or cluster granularity. ``beta = 0.5`` (paper 1's companion work, ctx-a) is the default.
  The cross-entropy in the architecture gradient is always the per-token mean, whatever loss
  reduction trains the weights.
- Weights kept in fp32 by every plan (biases, LayerNorm) are ordinary parameters of the super-network,
  trained with the same SGD.

Any object with ``bits`` (the candidates), ``plan_base`` (a :class:`~kaldi_mpq.quant.plan.Plan` giving the cluster
layout: granularity, bias mode, word bands) and ``weights_at(bits) -> {parameter: fp32 tensor}`` serves as prototypes
(:class:`kaldi_mpq.quant.prototypes.Prototypes` does).
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Optional, Protocol, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from kaldi_mpq.errors import ConfigError, PlanError
from kaldi_mpq.quant.allocate import BUDGET_KINDS, SOLVERS, Allocation, allocate
from kaldi_mpq.quant.api import TrainingData
from kaldi_mpq.quant.training import TrainStream, backward_lm_loss, valid_ppl
from kaldi_mpq.quant.clusters import as_rows
from kaldi_mpq.quant.layout import QuantLayout, free_float_weights
from kaldi_mpq.quant.plan import Plan
from kaldi_mpq.quant.quantizer import CODE_BITS
from kaldi_mpq.quant.sensitivity import SensitivityTable
from kaldi_mpq.text.batching import IGNORE

logger = logging.getLogger(__name__)


class PrototypesLike(Protocol):
    bits: Sequence[int]
    plan_base: Plan

    def weights_at(self, bits: int) -> dict[str, torch.Tensor]: ...


@dataclass
class NASConfig:
    """Settings of :func:`search_plan` (module docstring).

    Attributes:
        beta: weight of the size cost (nats per token per unit of expected sqrt-bits).
        max_iters, steps_per_iter: training budget (outer iterations only group the log).
        lr: SGD learning rate of the weights; arch_lr: Adam learning rate of the architecture weights.
        loss_reduction: ``mean`` | ``sum_over_time``, the weights' loss (as for BP; ``None``: mean, or
            the model's own in :func:`~kaldi_mpq.quant.pipeline.nas_files`).
        clip: gradient-norm clipping of the weights' cross-entropy gradient (0 / ``None``: none).
        als_steps: warm-started scale-solve steps per training step.
        budget: ``None`` (the argmax plan) or the size budget of the final plan, in ``budget_kind``
            units (``avg_bits`` | ``mb``, as ``kaldi-mpq allocate``); solved with ``solver`` (dp | ilp).
    """

    beta: float = 0.5
    max_iters: int = 2
    steps_per_iter: int = 100
    lr: float = 0.02
    arch_lr: float = 0.05
    loss_reduction: Optional[str] = None
    clip: Optional[float] = None
    als_steps: int = 2
    budget: Optional[float] = None
    budget_kind: str = "avg_bits"
    solver: str = "dp"

    def __post_init__(self) -> None:
        if self.beta < 0 or not self.lr > 0 or not self.arch_lr > 0:
            raise ConfigError("NAS needs beta >= 0, lr > 0 and arch_lr > 0")
        if self.max_iters < 1 or self.steps_per_iter < 1 or self.als_steps < 1:
            raise ConfigError("max_iters, steps_per_iter and als_steps must be >= 1")
        if self.loss_reduction not in (None, "mean", "sum_over_time"):
            raise ConfigError("loss_reduction must be mean or sum_over_time")
        if self.clip is not None and self.clip < 0:
            raise ConfigError("clip must be >= 0")
        if self.budget is not None and not (math.isfinite(self.budget) and self.budget > 0):
            raise ConfigError(f"the NAS budget must be a finite number > 0, got {self.budget}")
        if self.budget_kind not in BUDGET_KINDS:
            raise ConfigError(f"budget kind must be one of {', '.join(BUDGET_KINDS)}, got {self.budget_kind!r}")
        if self.solver not in SOLVERS:
            raise ConfigError(f"solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")


@dataclass
class NASResult:
    """The searched plan, its average bits, each cluster's final softmax over the candidates and one
    history record per outer iteration (``iter``, ``average_bits`` of the argmax plan, ``cost``).
    ``argmax_average_bits`` is the argmax plan's (equal to ``average_bits`` without a budget)."""

    plan: Plan
    average_bits: float
    probabilities: dict[str, dict[int, float]]
    history: list[dict] = field(default_factory=list)
    valid_ppl: Optional[float] = None  # of the final plan with the super-network's weights
    argmax_average_bits: Optional[float] = None


class _SuperNet:
    """The per-bit-width weights, the architecture weights and the mixing of one model."""

    def __init__(self, model: nn.Module, prototypes: PrototypesLike, candidates: Sequence[int]):
        base = prototypes.plan_base
        self.model = model
        self.candidates = list(candidates)
        self.layouts = [QuantLayout(model, Plan.uniform(b, base.granularity, base.bias, base.word_bands))
                        for b in candidates]
        ref = self.layouts[0]
        for lay in self.layouts[1:]:
            if lay.cmap.names != ref.cmap.names:
                raise PlanError("the prototypes' bit-widths give different cluster layouts")
        self.cmap = ref.cmap
        self.coded = ref.coded  # every cluster is coded at every candidate (all candidates are 1-8 bits)
        params = dict(model.named_parameters())
        self.theta = []
        for b in candidates:
            src = prototypes.weights_at(b)
            missing = [n for n in self.coded if n not in src]
            if missing:
                raise PlanError(f"the {b}-bit prototype lacks parameter {missing[0]!r}")
            self.theta.append({n: src[n].detach().clone().to(params[n].dtype) for n in self.coded})
        self.alpha = [lay.solve(th) for lay, th in zip(self.layouts, self.theta)]
        sizes = torch.from_numpy(self.cmap.cluster_sizes()).to(torch.float64)
        self.share = (sizes / sizes.sum().clamp(min=1)).to(torch.float32)
        self.sqrt_bits = torch.tensor([math.sqrt(b) for b in candidates], dtype=torch.float32)
        self.arch = torch.zeros(len(self.cmap.names), len(candidates), requires_grad=True)

    def quantized(self, als_steps: Optional[int]) -> list[dict[str, torch.Tensor]]:
        """``[coded rows, cols]`` quantized rows of every parameter at every candidate bit-width."""
        out = []
        for i, (lay, th) in enumerate(zip(self.layouts, self.theta)):
            if als_steps is not None:
                self.alpha[i] = lay.solve(th, alpha_init=self.alpha[i], max_steps=als_steps)
            codes = lay.codes(self.alpha[i], th)
            out.append({n: codes[n].to(torch.float32) * self.alpha[i][self.coded[n][1]].to(torch.float32)[:, None]
                        for n in self.coded})
        return out

    def probabilities(self) -> torch.Tensor:
        return torch.softmax(self.arch.detach(), dim=1)

    def cost(self) -> torch.Tensor:
        """Expected sqrt-bits of a coded parameter (differentiable in the architecture weights)."""
        return (self.share[:, None] * torch.softmax(self.arch, dim=1) * self.sqrt_bits).sum()

    def write_mixed(self, q: list[dict[str, torch.Tensor]], p: torch.Tensor) -> None:
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, (sel, cid) in self.coded.items():
                mixed = sum(p[cid, i][:, None] * q[i][name] for i in range(len(self.candidates)))
                as_rows(params[name]).index_copy_(0, sel, mixed)

    def write_choice(self, q: list[dict[str, torch.Tensor]], choice: torch.Tensor) -> None:
        """Each cluster's rows from its chosen bit-width (``choice``: candidate index per cluster)."""
        self.write_mixed(q, torch.nn.functional.one_hot(choice, len(self.candidates)).to(torch.float32))

    def plan(self, choice: torch.Tensor, base: Plan) -> Plan:
        bits = OrderedDict((name, self.candidates[int(i)]) for name, i in zip(self.cmap.names, choice))
        return base.with_bits(bits, "MP-NAS")

    def average_bits(self, choice: torch.Tensor) -> float:
        b = torch.tensor([self.candidates[int(i)] for i in choice], dtype=torch.float32)
        return float((self.share * b).sum())


def search_plan(model: nn.Module, prototypes: PrototypesLike, data: TrainingData,
                config: Optional[NASConfig] = None, bits: Optional[Sequence[int]] = None) -> NASResult:
    """Learn a plan with the NAS super-network (module docstring). ``model`` is the fp32 model the
    prototypes were made from; it is changed (it ends with the argmax plan's weights).

    Args:
        bits: the candidate bit-widths (default: all of the prototypes' coded ones).
    """
    config = config or NASConfig()
    reduction, clip = config.loss_reduction or "mean", config.clip or 0.0
    candidates = sorted(int(b) for b in (bits if bits is not None else prototypes.bits))
    bad = [b for b in candidates if b not in CODE_BITS or b not in prototypes.bits]
    if len(candidates) < 2 or bad:
        raise ConfigError(f"NAS needs at least two candidate bit-widths among the prototypes' "
                          f"{list(prototypes.bits)} (1-8 bits), got {candidates}")
    net = _SuperNet(model, prototypes, candidates)
    own = {n: p for n, p in model.named_parameters() if p.requires_grad}
    coded_masks = {n: torch.zeros(as_rows(p).shape[0], 1, dtype=torch.bool) for n, p in own.items() if n in net.coded}
    for n, m in coded_masks.items():
        m[net.coded[n][0]] = True
    arch_opt = torch.optim.Adam([net.arch], lr=config.arch_lr)
    stream = TrainStream(model, data.train)
    batches = iter(stream)
    history = []
    for it in range(1, config.max_iters + 1):
        model.train()
        for _ in tqdm(range(config.steps_per_iter), desc=f"NAS iteration {it}", leave=False, disable=None):
            q = net.quantized(config.als_steps)
            p = net.probabilities()
            shared = {n: t.detach().clone() for n, t in own.items()}
            net.write_mixed(q, p)
            batch, state = next(batches)
            stream.carry(backward_lm_loss(model, own.values(), batch, state, reduction, clip, "NAS"))
            tokens = max(int((batch[1] != IGNORE).sum()), 1)
            to_mean = (batch[0].shape[0] if reduction == "sum_over_time" else tokens) / tokens
            _arch_step(net, q, own, arch_opt, config.beta, to_mean)
            with torch.no_grad():
                for n, t in own.items():
                    g = t.grad if t.grad is not None else torch.zeros_like(t)
                    if n in net.coded:
                        sel, cid = net.coded[n]
                        g_rows = as_rows(g).index_select(0, sel)
                        for i, th in enumerate(net.theta):  # straight-through into each bit-width's weights
                            as_rows(th[n]).sub_(config.lr * p[cid, i][:, None] * g_rows)
                        g = (as_rows(g) * ~coded_masks[n]).reshape(g.shape)
                    t.copy_(shared[n] - config.lr * g)
        choice = net.arch.detach().argmax(1)
        rec = {"iter": it, "average_bits": round(net.average_bits(choice), 4),
               "cost": round(float(net.cost().detach()), 4)}
        history.append(rec)
        logger.info("NAS iteration %d: argmax plan %.3f bits, expected sqrt-bits %.3f", it, rec["average_bits"],
                    rec["cost"])
    argmax = net.arch.detach().argmax(1)
    meta = {"metric": "nas", "beta": config.beta, "argmax_average_bits": round(net.average_bits(argmax), 4)}
    choice = argmax
    if config.budget is not None:
        chosen = budget_choice(net.arch.detach(), net.cmap, candidates, prototypes.plan_base, config.budget,
                               config.budget_kind, config.solver)
        choice = torch.as_tensor([candidates.index(int(b)) for b in chosen.bits], dtype=torch.long)
        meta.update(budget=config.budget, budget_kind=config.budget_kind, solver=config.solver,
                    log_probability=round(-chosen.sensitivity, 6), ideal_bytes=int(chosen.ideal_bytes))
        logger.info("NAS: argmax plan %.3f bits; plan within %s %g: %.3f bits", meta["argmax_average_bits"],
                    config.budget_kind, config.budget, chosen.average_bits)
    meta["average_bits"] = round(net.average_bits(choice), 4)
    model.eval()
    net.write_choice(net.quantized(None), choice)
    probs = net.probabilities()
    plan = net.plan(choice, prototypes.plan_base)
    plan.metadata = meta
    result = NASResult(plan, net.average_bits(choice),
                       {name: {b: round(float(probs[c, i]), 4) for i, b in enumerate(candidates)}
                        for c, name in enumerate(net.cmap.names)}, history,
                       argmax_average_bits=net.average_bits(argmax))
    if data.valid:
        result.valid_ppl = valid_ppl(model, data.valid)
    return result


def budget_choice(arch: torch.Tensor, cmap, candidates: Sequence[int], plan_base: Plan, budget: float,
                  kind: str = "avg_bits", solver: str = "dp") -> Allocation:
    """The choice of highest summed ``log softmax(arch)`` within ``budget``: the allocation of
    :func:`kaldi_mpq.quant.allocate.allocate` on the table ``-log softmax(arch)`` (clusters of ``cmap`` x
    ``candidates``), so the size accounting is exactly ``kaldi-mpq allocate``'s.

    Raises:
        PlanError: no choice of the candidates fits the budget.
    """
    neg_logp = -torch.log_softmax(arch.detach().to(torch.float64), dim=1).numpy()
    table = SensitivityTable("nas_log_probability", list(cmap.names), tuple(int(b) for b in candidates), neg_logp,
                             cmap.cluster_sizes(), free_float_weights(cmap), plan_base)
    return allocate(table, budget, kind, solver)


def _arch_step(net: _SuperNet, q, own: dict, opt: torch.optim.Optimizer, beta: float, to_mean: float) -> None:
    """One Adam step of the architecture weights on ``CE + beta * cost``. With ``G`` the gradient at the
    mixed weights, ``d CE / d a_cn = p_cn <G_c, Q_n(Theta_n)_c - W_c>``, which is the gradient of the
    surrogate ``sum_cn p_cn S_cn`` with ``S_cn = <G_c, Q_n(Theta_n)_c>`` held fixed."""
    n_clusters, n_bits = net.arch.shape
    s = torch.zeros(n_clusters, n_bits, dtype=torch.float64)
    for name, (sel, cid) in net.coded.items():
        g = own[name].grad
        if g is None:
            continue
        g_rows = as_rows(g).index_select(0, sel)
        for i in range(n_bits):
            s[:, i].index_add_(0, cid, torch.linalg.vecdot(g_rows, q[i][name], dim=1).to(torch.float64))
    opt.zero_grad(set_to_none=True)
    surrogate = (torch.softmax(net.arch, dim=1) * (s * to_mean).to(torch.float32)).sum()
    (surrogate + beta * net.cost()).backward()
    opt.step()


def write_nas_report(result: NASResult, path) -> None:
    """A YAML side file: average bits, history and each cluster's probabilities (the plan itself is
    written with :meth:`Plan.write`)."""
    import yaml

    from kaldi_mpq.fileio import atomic_write

    info = {"average_bits": round(result.average_bits, 4),
            "argmax_average_bits": None if result.argmax_average_bits is None else round(result.argmax_average_bits, 4),
            "budget": result.plan.metadata.get("budget"), "budget_kind": result.plan.metadata.get("budget_kind"),
            "valid_ppl": result.valid_ppl,
            "history": result.history, "probabilities": result.probabilities}
    with atomic_write(path) as f:
        yaml.safe_dump(info, f, sort_keys=False)


__all__ = ["NASConfig", "NASResult", "search_plan", "budget_choice", "write_nas_report", "PrototypesLike"]
