"""How much each cluster suffers at each bit-width: KL and Hessian sensitivity (paper 1, Sec. V-A/B).

Both measure one cluster at a time against the fp32 model, using the uniform prototypes
(:mod:`kaldi_mpq.quant.prototypes`) as "the cluster at n bits", and both are additive over clusters, so
the sensitivity of a mixed plan is the sum of its clusters' entries and the allocation
(:mod:`kaldi_mpq.quant.allocate`) can search plans exactly.

**KL** (Eq. 26): for cluster ``c`` and bit-width ``n``, only ``c``'s rows are replaced by the ``n``-bit
prototype's, and the KL divergence of the *full* next-word distribution of the fp32 model from the
modified model's is averaged over the predicted tokens of one mini-batch (32 sentences by default, as in
the paper, which reports that more data changes nothing). The printed formula is ambiguous between the
observed word and the whole vocabulary; the whole distribution is the KL divergence.

**Hessian** (Eq. 27, paper 2 Eq. 9): ``Tr(H_c) * ||Q_n(W_c) - W_c||^2``, with ``H_c`` the diagonal
block of the Hessian of the mean per-token cross-entropy (one mini-batch of 32 sentences) for cluster
``c``'s weights and ``Q_n(W_c)`` the ``n``-bit prototype's weights of the cluster. Two variants:

- ``hessian``: the trace as printed in paper 1;
- ``hessian_avg``: the per-parameter average trace ``Tr(H_c) / |c|`` of paper
  2's ``T̄r`` and HAWQ-V2. It is the second-order estimate of the loss increase
  ``1/2 d^T H_c d ~ 1/2 (Tr(H_c)/|c|) ||d||^2`` for an error ``d`` spread evenly over the cluster, so
  it compares clusters of very different sizes (a 2M-weight embedding, a 40k-weight gate matrix) on the
  same scale; the plain trace grows with the cluster's size twice (trace and squared error).
- ``hessian_diag``: ``sum_i H_ii d_i^2`` with ``d = Q_n(W_c) - W_c``, the second-order loss increase
  under the diagonal approximation, with each weight's own curvature instead of the cluster's average.
  The diagonal comes from the same probes (Bekas et al.: ``diag(H) = E[z * Hz]``, elementwise).
  The average spreads the curvature of the few hundred embedding rows a mini-batch touches over all
  rows; the diagonal keeps each row's curvature with that row's error. On the PTB tables of
  docs/quantization.md it is the Hessian metric to use: its 2-bit LSTM plan is as good as KL's where
  the averaged trace's is worse than uniform 2-bit, and on the Transformer both choose the same plan.

Traces by Hutchinson's estimator ``Tr(H_c) = E[z_c^T (H z)_c]``: one Hessian-vector product per probe
``z`` over *all* clustered weights gives every cluster's ``z_c^T (H z)_c`` at once (the cross terms have
mean zero), so ``m`` probes cost ``m`` HVPs whatever the number of clusters. Probes are Gaussian
(paper 1) or Rademacher (lower variance); estimation stops early once no cluster's running mean moves by
more than ``tol`` relative. Tied weights are one parameter (``named_parameters``), so the embedding /
output matrix is counted once with its summed gradient.

LSTMs need double backward through ``nn.LSTM``: PyTorch's CPU kernels support it, cuDNN's do not, so on
a GPU the HVPs run with cuDNN disabled.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from kaldi_mpq.errors import CheckpointError, ConfigError, PlanError
from kaldi_mpq.fileio import Pathlike, atomic_write
from kaldi_mpq.lm.loss import token_nll
from kaldi_mpq.quant.clusters import ClusterMap, as_rows
from kaldi_mpq.quant.layout import free_float_weights
from kaldi_mpq.quant.plan import FLOAT_BITS, Plan
from kaldi_mpq.quant.prototypes import Prototypes
from kaldi_mpq.text.batching import IGNORE, Batch, pad_sentences

logger = logging.getLogger(__name__)

METRICS = ("kl", "hessian", "hessian_avg", "hessian_diag")
HESSIAN_METRICS = ("hessian", "hessian_avg", "hessian_diag")
PROBES = ("gaussian", "rademacher")
DEFAULT_SENTENCES = 32


@dataclass
class SensitivityTable:
    """Cluster x bit-width sensitivities plus what the size accounting needs.

    Attributes:
        metric: ``kl`` | ``hessian`` | ``hessian_avg`` | ``hessian_diag``.
        clusters: cluster names (model order). bits: the columns (32 = fp32, always 0).
        values: float64 ``[clusters, bits]``.
        sizes: int64 weights per cluster.
        float_weights: weights outside every cluster that the packed file stores in fp32 (biases with
            ``bias: float``, LayerNorm), counted by the size accounting of every plan.
        plan_base: the cluster layout (granularity, bias mode, word bands) the clusters come from.
        info: how it was measured (sentences, probes, traces, seconds, ...).
    """

    metric: str
    clusters: list[str]
    bits: tuple[int, ...]
    values: np.ndarray
    sizes: np.ndarray
    float_weights: int
    plan_base: Plan
    info: dict = field(default_factory=dict)

    def column(self, bits: int) -> np.ndarray:
        return self.values[:, self.bits.index(bits)]

    def to_tsv(self) -> str:
        lines = ["\t".join(["cluster", "params"] + [str(b) for b in self.bits])]
        for name, n, row in zip(self.clusters, self.sizes, self.values):
            lines.append("\t".join([name, str(int(n))] + [f"{v:.6g}" for v in row]))
        return "\n".join(lines) + "\n"

    def write(self, yaml_path: Pathlike, tsv_path: Optional[Pathlike] = None) -> None:
        """The table as YAML (what ``kaldi-mpq allocate`` reads) and, if given, as TSV (for people).

        The wall time (``info["seconds"]``) is logged, not written, so identical runs write identical files.
        """
        if "seconds" in self.info:
            logger.info("%s sensitivity measured in %.1f s", self.metric, self.info["seconds"])
        info = {k: v for k, v in self.info.items() if k != "seconds"}
        data = {"version": 1, "metric": self.metric, **self.plan_base.layout_dict(),
                "bits": list(self.bits), "float_weights": int(self.float_weights),
                "clusters": {n: {"params": int(s), "values": [float(v) for v in row]}
                             for n, s, row in zip(self.clusters, self.sizes, self.values)},
                "info": info}
        with atomic_write(yaml_path) as f:
            yaml.safe_dump(data, f, sort_keys=False)
        if tsv_path is not None:
            with atomic_write(tsv_path) as f:
                f.write(self.to_tsv())

    @classmethod
    def read(cls, path: Pathlike) -> "SensitivityTable":
        try:
            with open(path, encoding="utf-8") as f:
                d = yaml.safe_load(f)
            clusters = list(d["clusters"])
            bits = tuple(int(b) for b in d["bits"])
            values = np.array([d["clusters"][c]["values"] for c in clusters], dtype=np.float64).reshape(
                len(clusters), len(bits))
            sizes = np.array([int(d["clusters"][c]["params"]) for c in clusters], dtype=np.int64)
            return cls(str(d["metric"]), clusters, bits, values, sizes, int(d.get("float_weights", 0)),
                       Plan.base_from_dict(d, str(path)),
                       d.get("info") or {})
        except FileNotFoundError:
            raise CheckpointError(f"{path}: no such sensitivity table") from None
        except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError, PlanError) as e:
            raise CheckpointError(f"{path}: not a sensitivity table ({e})") from None


def sensitivity_batch(sentences: Sequence[Sequence[int]], bos: int, eos: int, n: int = DEFAULT_SENTENCES,
                      seed: int = 0) -> Batch:
    """One mini-batch of ``n`` sentences drawn at random (``seed``) from ``sentences``, padded."""
    if not sentences:
        raise ConfigError("no sentences for the sensitivity mini-batch")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(sentences), size=min(n, len(sentences)), replace=False)
    return pad_sentences([sentences[i] for i in sorted(pick)], bos, eos)


def _table(prototypes: Prototypes, metric: str, bits: Sequence[int], values: np.ndarray, info: dict
           ) -> SensitivityTable:
    cmap = prototypes.cmap
    return SensitivityTable(metric, list(cmap.names), tuple(bits), values, cmap.cluster_sizes(),
                            free_float_weights(cmap), prototypes.plan_base, info)


def _columns(prototypes: Prototypes, bits: Optional[Sequence[int]]) -> tuple[int, ...]:
    cols = tuple(sorted(set(bits if bits is not None else prototypes.bits + (FLOAT_BITS,))))
    for b in cols:
        prototypes.weights_at(b)  # raises for a bit-width without a prototype
    return cols


def _swap(params: dict[str, torch.Tensor], rows: dict[str, torch.Tensor], src: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for p, r in rows.items():
            as_rows(params[p]).index_copy_(0, r, as_rows(src[p]).index_select(0, r))


def _load_reference(model: nn.Module, prototypes: Prototypes) -> dict[str, torch.Tensor]:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, t in prototypes.reference.items():
            params[n].copy_(t)
    return params


# -- KL -----------------------------------------------------------------------------------------------
def _log_probs(model: nn.Module, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Next-word log-distributions ``[tokens, V]`` at the predicted positions."""
    return F.log_softmax(model(inputs)[mask].double(), dim=-1)  # float64: KL of near-equal models


@torch.no_grad()
def kl_sensitivity(model: nn.Module, prototypes: Prototypes, batch: Batch,
                   bits: Optional[Sequence[int]] = None) -> SensitivityTable:
    """KL sensitivity (module docstring): mean per-token ``KL(P_fp32 || P_cluster at n bits)``.

    ``model`` is the fp32 model the prototypes came from; it is left with the reference weights.
    ``bits``: columns (default: the prototypes' and 32, which is 0 by definition).
    """
    start = time.perf_counter()
    cols = _columns(prototypes, bits)
    params = _load_reference(model, prototypes)
    model.eval()
    dev = next(model.parameters()).device
    inputs, targets = batch[0].to(dev), batch[1].to(dev)
    mask = targets != IGNORE
    ref = _log_probs(model, inputs, mask)
    p_ref = ref.exp()
    values = np.zeros((len(prototypes.clusters), len(cols)))
    for c, name in enumerate(prototypes.clusters):
        rows = {p: r.to(dev) for p, r in prototypes.cluster_rows(name).items()}
        for j, b in enumerate(cols):
            if b == FLOAT_BITS:
                continue
            _swap(params, rows, prototypes.weights_at(b))
            logq = _log_probs(model, inputs, mask)
            terms = torch.where(p_ref > 0, p_ref * (ref - logq), torch.zeros_like(p_ref))  # 0 log 0 = 0
            values[c, j] = float(terms.sum(-1).mean())
            _swap(params, rows, prototypes.reference)
    info = {"sentences": int(inputs.shape[0]), "tokens": int(mask.sum()),
            "seconds": round(time.perf_counter() - start, 2)}
    return _table(prototypes, "kl", cols, values, info)


# -- Hessian ------------------------------------------------------------------------------------------
@dataclass
class TraceEstimate:
    """Hutchinson traces of every cluster: ``traces`` float64 ``[C]``, ``probes`` used, ``history`` the
    running means after each probe ``[probes, C]``, ``seconds`` of wall time; ``diagonal`` the estimated
    Hessian diagonal of every clustered parameter (parameter name -> tensor of its shape)."""

    traces: np.ndarray
    probes: int
    history: np.ndarray
    seconds: float
    diagonal: dict[str, torch.Tensor] = field(default_factory=dict)


def _probe(p: torch.Tensor, kind: str, gen: torch.Generator) -> torch.Tensor:
    if kind == "gaussian":
        return torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device)
    return (torch.randint(0, 2, p.shape, generator=gen, dtype=torch.int8) * 2 - 1).to(p.dtype).to(p.device)


def _double_backward_context(model: nn.Module) -> contextlib.ExitStack:
    """Kernels without a double backward are switched off for the HVPs: cuDNN RNNs on a GPU (LSTM), and
    the fused scaled-dot-product attention kernels (Transformer; the math kernel has one)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    stack = contextlib.ExitStack()
    stack.enter_context(sdpa_kernel([SDPBackend.MATH]))
    on_gpu = next(model.parameters()).is_cuda
    if on_gpu and any(isinstance(m, nn.RNNBase) for m in model.modules()):
        stack.enter_context(torch.backends.cudnn.flags(enabled=False))
    return stack


def hutchinson_traces(model: nn.Module, cmap: ClusterMap, batch: Batch, probes: int = 50,
                      distribution: str = "gaussian", tol: float = 1e-3, min_probes: int = 10,
                      seed: int = 0) -> TraceEstimate:
    """Every cluster's Hessian trace from the same HVPs (module docstring).

    Args:
        model: the (fp32) model; evaluated in eval mode (no dropout) at its current weights.
        cmap: the clusters (from the same model).
        batch: the mini-batch of the mean per-token cross-entropy.
        probes: maximum probes ``m`` (paper 1: 50).
        distribution: ``gaussian`` (paper 1) or ``rademacher``.
        tol: stop once, after ``min_probes``, no cluster's running mean moved by more than ``tol``
            relative to its magnitude in the last probe (0: always ``probes``).
        seed: probe generator seed.
    """
    if distribution not in PROBES:
        raise ConfigError(f"probe distribution must be one of {', '.join(PROBES)}, got {distribution!r}")
    if probes < 1:
        raise ConfigError("probes must be >= 1")
    start = time.perf_counter()
    named = dict(model.named_parameters())
    names = [n for n, r in cmap.rows.items() if (r >= 0).any()]
    params = [named[n] for n in names]
    owners = [torch.from_numpy(cmap.rows[n]).to(params[i].device) for i, n in enumerate(names)]
    coded = [o >= 0 for o in owners]
    gen = torch.Generator().manual_seed(seed)
    C = len(cmap.names)
    total = torch.zeros(C, dtype=torch.float64)
    diag = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    history = []
    was_training = model.training
    model.eval()
    try:
        with _double_backward_context(model):
            nll, tokens, _ = token_nll(model, batch)
            loss = nll / max(tokens, 1)
            grads = torch.autograd.grad(loss, params, create_graph=True)
            prev = None
            for k in range(1, probes + 1):
                zs = [_probe(p, distribution, gen) for p in params]
                hzs = torch.autograd.grad(grads, params, grad_outputs=zs, retain_graph=True)
                for z, hz, own, ok, d in zip(zs, hzs, owners, coded, diag):
                    zhz = z * hz
                    d.add_(zhz.detach())
                    per_row = as_rows(zhz).sum(1).double().cpu()
                    total.index_add_(0, own[ok].cpu(), per_row[ok.cpu()])
                mean = total / k
                history.append(mean.numpy().copy())
                if tol > 0 and prev is not None and k >= min_probes:
                    moved = ((mean - prev).abs() / (prev.abs() + 1e-12)).max()
                    if float(moved) < tol:
                        break
                prev = mean
    finally:
        model.train(was_training)
    hist = np.stack(history)
    diagonal = {n: (d / len(history)).cpu() for n, d in zip(names, diag)}
    return TraceEstimate(hist[-1], len(history), hist, time.perf_counter() - start, diagonal)


def hessian_sensitivity(model: nn.Module, prototypes: Prototypes, batch: Batch,
                        bits: Optional[Sequence[int]] = None, metric: str = "hessian_avg",
                        traces: Optional[TraceEstimate] = None, **trace_options) -> SensitivityTable:
    """Hessian sensitivity of one of the variants of the module docstring (``metric``): ``hessian``
    ``Tr(H_c) ||d||^2``, ``hessian_avg`` ``Tr(H_c)/|c| ||d||^2`` or ``hessian_diag`` ``sum_i H_ii d_i^2``,
    ``d = Q_n(W_c) - W_c``.

    ``model`` is the fp32 model (left with the reference weights); ``traces`` reuses an estimate (all
    variants from one), else :func:`hutchinson_traces` runs with ``trace_options``.
    """
    if metric not in HESSIAN_METRICS:
        raise ConfigError(f"Hessian metric must be one of {', '.join(HESSIAN_METRICS)}, got {metric!r}")
    cols = _columns(prototypes, bits)
    _load_reference(model, prototypes)
    if traces is None:
        traces = hutchinson_traces(model, prototypes.cmap, batch, **trace_options)
    if metric == "hessian_diag" and not traces.diagonal:
        raise ConfigError("hessian_diag needs the Hessian diagonal: estimate the traces with hutchinson_traces")
    sizes = prototypes.cmap.cluster_sizes().astype(np.float64)
    factor = traces.traces / np.maximum(sizes, 1) if metric == "hessian_avg" else traces.traces
    values = np.zeros((len(sizes), len(cols)))
    for c, name in enumerate(prototypes.clusters):
        rows = prototypes.cluster_rows(name)
        ref = {p: as_rows(prototypes.reference[p]).index_select(0, r).double() for p, r in rows.items()}
        # the weight of each squared error: the weight's own curvature, or the cluster's (average) trace
        weight = ({p: as_rows(traces.diagonal[p]).index_select(0, r).double() for p, r in rows.items()}
                  if metric == "hessian_diag" else dict.fromkeys(ref, float(factor[c])))
        for j, b in enumerate(cols):
            if b == FLOAT_BITS:
                continue
            q = prototypes.cluster_weight(name, b)
            values[c, j] = sum(float((weight[p] * (q[p].double() - ref[p]) ** 2).sum()) for p in ref)
    info = {"traces": [float(t) for t in traces.traces], "probes": int(traces.probes),
            "seconds": round(traces.seconds, 2), "tokens": int((batch[1] != IGNORE).sum()),
            "sentences": int(batch[0].shape[0])}
    return _table(prototypes, metric, cols, values, info)


def non_increasing_fraction(table: SensitivityTable) -> float:
    """Fraction of (cluster, adjacent bit-widths) pairs where more bits give no larger sensitivity."""
    v = table.values
    if v.shape[1] < 2:
        return 1.0
    ok = v[:, 1:] <= v[:, :-1] * (1 + 1e-9) + 1e-12
    return float(ok.mean())


def total(table: SensitivityTable, bits_per_cluster: Sequence[int]) -> float:
    """Summed sensitivity of a plan (one bit-width per cluster, each a column of the table)."""
    idx = [table.bits.index(int(b)) for b in bits_per_cluster]
    return float(table.values[np.arange(len(idx)), idx].sum())


__all__ = ["SensitivityTable", "TraceEstimate", "kl_sensitivity", "hessian_sensitivity", "hutchinson_traces",
           "sensitivity_batch", "non_increasing_fraction", "total", "METRICS", "HESSIAN_METRICS"]
