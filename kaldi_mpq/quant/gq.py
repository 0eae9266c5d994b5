"""General Quantizer (GQ, paper 4): soft-to-hard quantization to mu-law centroids on the INT8 grid.

Each coded cluster (1-8 bits, any plan) gets ``m = 2^bits`` centroids::

    z_j    = linspace(-1, 1, m)                          evenly spaced, symmetric
    z'_j   = sign(z_j) ((1 + mu)^|z_j| - 1) / mu          mu-law expander: more centroids near 0
    k_j    = clamp(round(128 z'_j), -128, 127)            snapped to the INT8 grid k / 128
    level  = alpha * k_j                                  alpha: the cluster's scale (= s / 128)

A weight's code is the integer ``k_j`` of its centroid, so it dequantizes with the same
``alpha * code`` as every other method and runs exactly on int8 kernels (per-row scale ``alpha``);
the packed file stores the centroid *index* (``bits`` bits) and one table of ``k_j`` per cluster
(:mod:`kaldi_mpq.quant.packed`).

Training (:class:`GQConfig`): ordinary SGD on the LM loss, no regularizer. Every ``callback_every``
steps a callback refits each cluster's ``(mu, alpha)`` and replaces its weights by their soft-quantized
values ``alpha * sum_j a_j k_j`` with ``a = softmax_j(-T |w / (128 alpha) - k_j / 128|)``, the
temperature ``T`` rising linearly from ``alpha_start`` (10) to ``alpha_end`` (400) over the run (paper 4,
Eqs. 1-4; ``T`` is the paper's alpha, renamed here to keep alpha for the scale). After each outer
iteration the hard assignment (nearest centroid) is measured on the validation set; the best one is
the result, as for ADMM and BP.

Choices where paper 4 is silent or ambiguous:

- Scale: the paper assumes weights in [-1, 1) and has no scale. LM weights are not (embeddings), so
  each cluster has one fp32 scale, fitted with ``mu`` (below); the centroids are ``s * k_j / 128``.
- Expander: the textbook mu-law expander (denominator ``mu``, so +-1 stays +-1); the paper prints
  ``1 + mu``, which would leave the outer centroids at ``mu / (1 + mu)``.
- Refit of ``mu`` ("self-adjustable centroids", ``argmin_mu ||z' A - w||``): a grid
  ``mu * 2^k, k = -2..2`` around the configured ``mu`` (8), each with a few least-squares steps of the
  scale (``s <- <w, q> / <q, q>`` as in paper 1's Algorithm 1), scored by the *hard*-assignment error
  (the model that ships); per cluster the best pair is kept. ``refit_mu=False`` keeps ``mu`` fixed
  (the scale is still fitted).
- Duplicated centroids: at 8 bits several ``z'_j`` snap to the same ``k``; the soft assignment counts
  each distinct value once, and the table keeps all ``2^bits`` slots.
- Callback period: the paper uses 1k-10k steps on runs of 120k+ steps; ``callback_every`` defaults to
  50 for the few-hundred-step budgets of the PTB tables (docs/quantization.md). The first callback runs
  before the first step.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.quant.api import QuantResult, TrainingData, register_quantizer
from kaldi_mpq.quant.training import IterationTracker, TrainedConfig, TrainStream, backward_lm_loss
from kaldi_mpq.quant.clusters import as_rows
from kaldi_mpq.quant.layout import QuantLayout
from kaldi_mpq.quant.quantizer import CODE_BITS

logger = logging.getLogger(__name__)

#: INT8 grid of the centroids: ``k / INT8_STEPS`` with integer ``k`` in ``[-128, 127]``.
INT8_STEPS = 128
#: Refit grid of mu, as powers of two around the configured mu.
MU_GRID_EXPONENTS = (-2, -1, 0, 1, 2)
#: Least-squares scale steps per candidate mu.
SCALE_STEPS = 3
#: Elements of one soft-assignment block (rows x cols x centroids), to bound memory.
SOFT_BLOCK = 1 << 23


@dataclass
class GQConfig(TrainedConfig):
    """General Quantizer (paper 4); see the module docstring.

    Attributes:
        mu: mu-law parameter of the centroids (refit per cluster around it unless ``refit_mu`` is off).
        refit_mu: refit ``mu`` (and always the scale) per cluster at every callback.
        alpha_start, alpha_end: softmax temperature at the first and the last step (linear in between).
        callback_every: SGD steps between two soft-quantization callbacks.
        lr: SGD learning rate of the ordinary training between callbacks.
    """

    mu: float = 8.0
    refit_mu: bool = True
    alpha_start: float = 10.0
    alpha_end: float = 400.0
    callback_every: int = 50
    lr: float = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.mu > 0:
            raise ConfigError("mu must be > 0")
        if not 1 <= self.alpha_start <= self.alpha_end:
            raise ConfigError("need 1 <= alpha_start <= alpha_end")
        if self.callback_every < 1 or not self.lr > 0:
            raise ConfigError("callback_every must be >= 1 and lr > 0")


# -- centroids ----------------------------------------------------------------------------------------
def mu_law_expand(z: torch.Tensor, mu: float) -> torch.Tensor:
    """``sign(z) ((1 + mu)^|z| - 1) / mu``: maps [-1, 1] onto itself, crowding values towards 0."""
    return torch.sign(z) * torch.expm1(z.abs() * math.log1p(mu)) / mu


def centroid_table(bits: int, mu: float) -> torch.Tensor:
    """The sorted integer centroids ``k_j`` (int64 ``[2^bits]``, in ``[-128, 127]``) of one cluster."""
    if bits not in CODE_BITS:
        raise ValueError(f"GQ quantizes 1-8 bit clusters, not {bits}")
    z = torch.linspace(-1.0, 1.0, 2 ** bits, dtype=torch.float64)
    k = torch.round(mu_law_expand(z, mu) * INT8_STEPS).clamp(-INT8_STEPS, INT8_STEPS - 1)
    return k.to(torch.int64)


#: Half-grid cells of the nearest-centroid lookup: cell ``i`` holds ``x`` with ``floor(2 x) = i - 256``.
#: Midpoints between INT8 centroids are multiples of 1/2, so the nearest centroid is constant on a cell.
CELLS = 4 * INT8_STEPS - 1


@dataclass
class Codebooks:
    """Per-cluster centroids and scales. ``tables`` float32 ``[C, M]``: the ``k_j`` of each cluster padded
    to ``M`` (the widest table) by repeating its last value; ``distinct`` marks each value's first slot
    among its cluster's own ``2^bits``; ``lookup`` float32 ``[C, CELLS]`` the nearest centroid of each
    half-grid cell; ``alpha`` float64 ``[C]`` scales; ``mu`` float64 ``[C]``."""

    tables: torch.Tensor
    distinct: torch.Tensor
    lookup: torch.Tensor
    alpha: torch.Tensor
    mu: torch.Tensor
    bits: np.ndarray

    def table(self, cluster: int) -> torch.Tensor:
        """The cluster's own ``2^bits`` centroids (int8), as stored in a packed file."""
        return self.tables[cluster, : 2 ** int(self.bits[cluster])].to(torch.int8)

    def tables_of(self, clusters: Sequence[int]) -> dict[int, torch.Tensor]:
        return {int(c): self.table(int(c)) for c in clusters}

    def choose(self, better: torch.Tensor, other: "Codebooks") -> "Codebooks":
        """Per cluster, ``other``'s codebook where ``better``, else this one's."""
        rows = better[:, None]
        return Codebooks(torch.where(rows, other.tables, self.tables), torch.where(rows, other.distinct, self.distinct),
                         torch.where(rows, other.lookup, self.lookup), torch.where(better, other.alpha, self.alpha),
                         torch.where(better, other.mu, self.mu), self.bits)


def _nearest_lookup(table: torch.Tensor) -> torch.Tensor:
    """float32 ``[CELLS]``: the centroid of sorted ``table`` nearest to each half-grid cell's centre."""
    t = table.to(torch.float32)
    centres = (torch.arange(CELLS, dtype=torch.float32) - 2 * INT8_STEPS + 0.5) / 2
    hi = torch.searchsorted(t, centres).clamp(max=t.numel() - 1)
    lo = (hi - 1).clamp(min=0)
    return torch.where((centres - t[lo]).abs() <= (t[hi] - centres).abs(), t[lo], t[hi])


def _codebooks(bits: np.ndarray, mu: float, width: int) -> Codebooks:
    """Every cluster's centroids at one ``mu`` (scales 1, to be fitted)."""
    n = len(bits)
    tables, lookup = torch.zeros(n, width), torch.zeros(n, CELLS)
    distinct = torch.zeros(n, width, dtype=torch.bool)
    for b in set(bits.tolist()) & set(CODE_BITS):
        k = centroid_table(b, mu).to(torch.float32)
        first = torch.zeros(width, dtype=torch.bool)
        first[: k.numel()] = torch.cat([torch.tensor([True]), k[1:] != k[:-1]])
        rows = torch.from_numpy(np.flatnonzero(bits == b))
        tables[rows] = torch.cat([k, k[-1].repeat(width - k.numel())])
        distinct[rows] = first
        lookup[rows] = _nearest_lookup(k)
    return Codebooks(tables, distinct, lookup, torch.ones(n, dtype=torch.float64),
                     torch.full((n,), float(mu), dtype=torch.float64), bits)


def nearest(x: torch.Tensor, lookup: torch.Tensor, row_ids: torch.Tensor) -> torch.Tensor:
    """The nearest centroid of each element of ``x [R, cols]`` (in INT8 grid units), row ``r`` using
    ``lookup[row_ids[r]]`` (:attr:`Codebooks.lookup`)."""
    cell = torch.floor(x * 2).clamp_(-2 * INT8_STEPS, 2 * INT8_STEPS - 2).long() + 2 * INT8_STEPS
    return torch.take(lookup, cell.add_(row_ids[:, None] * CELLS))


def soft_values(x: torch.Tensor, tables: torch.Tensor, distinct: torch.Tensor, temperature: float) -> torch.Tensor:
    """Soft-quantized ``x [R, cols]`` (in units of the INT8 grid): ``sum_j softmax_j(-T |x - k_j| / 128) k_j``
    over each row's distinct centroids, computed in blocks of rows."""
    out = torch.empty_like(x)
    step = max(1, SOFT_BLOCK // max(1, x.shape[1] * tables.shape[1]))
    for r in range(0, x.shape[0], step):
        t, d = tables[r:r + step, None, :], distinct[r:r + step, None, :]
        logits = (x[r:r + step, :, None] - t).abs_().mul_(-temperature / INT8_STEPS)
        logits.masked_fill_(~d, -math.inf)
        out[r:r + step] = (torch.softmax(logits, dim=-1) * t).sum(-1)
    return out


def _absmax(views, ids, n: int) -> torch.Tensor:
    amax = torch.zeros(n, dtype=torch.float64)
    for t, rid in zip(views, ids):
        amax.scatter_reduce_(0, rid, t.abs().amax(1).to(torch.float64), "amax")
    return amax


def fit_codebooks(layout: QuantLayout, mus: Sequence[float], targets: Optional[dict] = None) -> Codebooks:
    """Per cluster, the ``(mu, scale)`` among ``mus`` with the smallest hard-assignment error of the
    current weights (or ``targets``); every candidate's scale gets :data:`SCALE_STEPS` least-squares steps."""
    views, ids = layout.views(targets)
    bits = layout.bits
    n = len(bits)
    width = 2 ** int(max([b for b in bits.tolist() if b in CODE_BITS], default=1))
    amax = _absmax(views, ids, n).clamp(min=1e-12)
    best: Optional[Codebooks] = None
    best_err = torch.full((n,), math.inf, dtype=torch.float64)
    for mu in mus:
        cand = _codebooks(bits, mu, width)
        alpha = amax / (INT8_STEPS - 1)
        for step in range(SCALE_STEPS + 1):
            num, den, err = (torch.zeros(n, dtype=torch.float64) for _ in range(3))
            for t, rid in zip(views, ids):
                a = alpha[rid].to(torch.float32).unsqueeze(1)
                q = nearest(t / a, cand.lookup, rid)
                num.index_add_(0, rid, torch.linalg.vecdot(t, q, dim=1).to(torch.float64))
                den.index_add_(0, rid, torch.linalg.vecdot(q, q, dim=1).to(torch.float64))
                err.index_add_(0, rid, (t - q * a).square().sum(1).to(torch.float64))
            if step < SCALE_STEPS:
                new = num / den.clamp(min=1e-30)
                alpha = torch.where((den > 0) & (new > 0), new, alpha)
        cand.alpha = alpha
        if best is None:
            best, best_err = cand, err
            continue
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best = best.choose(better, cand)
    coded = torch.from_numpy(np.isin(bits, CODE_BITS))
    best.alpha = torch.where(coded, best.alpha, torch.ones_like(best.alpha))
    return best


def hard_codes(layout: QuantLayout, books: Codebooks, targets: Optional[dict] = None) -> dict[str, torch.Tensor]:
    """int8 codes ``k_j`` (nearest centroid) of every parameter's coded rows."""
    views, ids = layout.views(targets)
    a32 = books.alpha.to(torch.float32)
    return {name: nearest(t / a32[rid].unsqueeze(1), books.lookup, rid).to(torch.int8)
            for name, t, rid in zip(layout.coded, views, ids)}


def soft_quantize_(layout: QuantLayout, books: Codebooks, temperature: float) -> None:
    """The GQ callback's projection: replace every coded row of the model by its soft-quantized value."""
    views, ids = layout.views()
    params = dict(layout.model.named_parameters())
    a32 = books.alpha.to(torch.float32)
    with torch.no_grad():
        for name, t, rid in zip(layout.coded, views, ids):
            a = a32[rid].unsqueeze(1)
            soft = soft_values(t / a, books.tables[rid], books.distinct[rid], temperature) * a
            as_rows(params[name]).index_copy_(0, layout.coded[name][0], soft)


def temperature_at(config: GQConfig, step: int, total: int) -> float:
    """Linear annealing (paper 4, Eq. 4) from ``alpha_start`` at step 0 to ``alpha_end`` at ``total``."""
    return config.alpha_start + (config.alpha_end - config.alpha_start) * min(step, total) / max(total, 1)


def _mu_candidates(config: GQConfig) -> list[float]:
    return [config.mu * 2.0 ** e for e in MU_GRID_EXPONENTS] if config.refit_mu else [config.mu]


@register_quantizer(GQConfig)
def _gq(model: nn.Module, config: GQConfig, data: TrainingData) -> QuantResult:
    layout = QuantLayout(model, config.plan)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.SGD(params.values(), lr=config.lr)
    mus = _mu_candidates(config)
    coded_clusters = np.flatnonzero(layout.coded_cluster)
    tables_at: dict[int, dict[int, torch.Tensor]] = {}

    tracker = IterationTracker(model, layout, data, config.patience)

    def offer(it: int) -> bool:
        books = fit_codebooks(layout, mus)
        codes = hard_codes(layout, books)
        tables_at[it] = books.tables_of(coded_clusters)
        logger.info("GQ iteration %d: mu per cluster %s", it, sorted(set(books.mu[coded_clusters].tolist())))
        return tracker.offer(it, books.alpha, codes, layout.quantized(books.alpha, codes))

    offer(0)
    stream = TrainStream(model, data.train)
    batches = iter(stream)
    total = config.max_iters * config.steps_per_iter
    step = 0
    for it in range(1, config.max_iters + 1):
        model.train()
        for _ in tqdm(range(config.steps_per_iter), desc=f"GQ iteration {it}", leave=False, disable=None):
            if step % config.callback_every == 0:
                soft_quantize_(layout, fit_codebooks(layout, mus), temperature_at(config, step, total))
            batch, state = next(batches)
            stream.carry(backward_lm_loss(model, params.values(), batch, state, config.loss_reduction,
                                          config.clip, "GQ"))
            optimizer.step()
            step += 1
        model.eval()
        if not offer(it):
            break
    result = tracker.finish("gq")
    best_iter = min(result.history, key=lambda h: h["valid_ppl"])["iter"]
    result.centroids = tables_at[best_iter]
    return result


def gq_post_training(model: nn.Module, plan, mu: float = 8.0, refit_mu: bool = True) -> QuantResult:
    """Hard GQ assignment without training (the iteration-0 model of :class:`GQConfig`): for tests and
    as a post-training baseline."""
    from kaldi_mpq.quant.plan import as_plan

    layout = QuantLayout(model, as_plan(plan))
    books = fit_codebooks(layout, [mu * 2.0 ** e for e in MU_GRID_EXPONENTS] if refit_mu else [mu])
    codes = hard_codes(layout, books)
    layout.write(layout.quantized(books.alpha, codes))
    return QuantResult(layout, books.alpha, codes, "gq", centroids=books.tables_of(np.flatnonzero(layout.coded_cluster)))
