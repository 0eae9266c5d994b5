"""The symmetric n-bit weight quantizer of paper 1 (Sec. III), vectorised over all clusters.

Levels of an ``n``-bit cluster with scale ``alpha``::

    n = 1      {-alpha, +alpha}                                  (binary; code -1 / +1)
    n = 2..8   alpha * {0, +-1, ..., +-(2^(n-1) - 1)}            (n = 2 is ternary {0, +-alpha})
    n = 16     fp16 passthrough (no scale, no codes)

Projection is nearest-level rounding, ``c = clamp(round(w / alpha), -m, m)`` with ``m = 2^(n-1) - 1``
(``sign(w)`` with ``sign(0) = +1`` for n = 1).

The scale is solved by the alternating least-squares loop of paper 1, Algorithm 1:
``alpha <- <t, c> / <c, c>`` (closed form), then ``c <- round(t / alpha)``, at most 20 times.
**Choice of target:** the printed algorithm uses ``Theta + lambda`` in the alpha step but ``Theta`` in the
rounding step; Eq. 24 minimises ``||Theta + lambda - alpha V||^2`` over both, so we use the same target
``t = Theta + lambda`` in both steps. Each step then minimises the same objective, so the squared error
never increases (a test checks it). Post-training quantization and modified BP pass ``lambda = 0``.

Paper 1 initialises alpha to 1.0, which for trained LM weights (|w| << 1) rounds every weight to 0 for
n >= 2. We start instead, per cluster, from the scale of the grid ``absmax / m * 2^(-k/6)`` (k = 0..23) with the
smallest error, then run the loop; ADMM warm-starts each later projection from the previous alpha.

Vectorisation: each tensor is viewed as ``[rows, cols]`` and every row belongs to one cluster
(``row_ids``). Row sums are accumulated into per-cluster sums with ``index_add_``, so one pass handles
every cluster of every tensor, whatever their bit-widths.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

#: Bit-widths a plan may use. 16 means fp16 passthrough.
SUPPORTED_BITS = (1, 2, 3, 4, 5, 6, 8, 16)
#: Bit-widths that have integer codes and a scale.
CODE_BITS = (1, 2, 3, 4, 5, 6, 8)
#: Inner iterations of Algorithm 1.
MAX_ALS_STEPS = 20


def max_code(bits: int) -> int:
    """Largest code magnitude ``m``: 1 for binary, ``2^(n-1) - 1`` otherwise."""
    if bits not in CODE_BITS:
        raise ValueError(f"no integer codes for {bits}-bit quantization (choices: {CODE_BITS})")
    return 1 if bits == 1 else 2 ** (bits - 1) - 1


def levels(bits: int, alpha: float = 1.0) -> torch.Tensor:
    """The sorted quantization table of an ``bits``-bit cluster with scale ``alpha``."""
    if bits == 1:
        return torch.tensor([-alpha, alpha], dtype=torch.float64)
    m = max_code(bits)
    return alpha * torch.arange(-m, m + 1, dtype=torch.float64)


def _row_params(bits: torch.Tensor, row_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row ``(m, is_binary)`` columns ``[rows, 1]`` from per-cluster bit-widths."""
    b = bits[row_ids]
    m = torch.where(b == 1, torch.ones_like(b), (2 ** (b - 1).clamp(min=0)) - 1)
    return m.unsqueeze(1).to(torch.float32), (b == 1).unsqueeze(1)


def codes_for(
    t: torch.Tensor, alpha_rows: torch.Tensor, m_rows: torch.Tensor, bin_rows: torch.Tensor
) -> torch.Tensor:
    """Nearest-level integer codes (as float) of ``t [rows, cols]`` given per-row scale and range."""
    c = torch.div(t, alpha_rows).round_()
    c = torch.maximum(torch.minimum(c, m_rows, out=c), -m_rows, out=c)
    if bool(bin_rows.any()):
        c = torch.where(bin_rows, torch.where(t >= 0, 1.0, -1.0).to(t.dtype), c)
    return c


def _cluster_sums(
    views: Sequence[torch.Tensor], row_ids: Sequence[torch.Tensor], alpha: torch.Tensor,
    bits: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-cluster ``<t, c>`` and ``<c, c>`` with codes rounded at ``alpha``."""
    num = torch.zeros_like(alpha)
    den = torch.zeros_like(alpha)
    a32 = alpha.to(torch.float32)
    for t, rid in zip(views, row_ids):
        m_rows, bin_rows = _row_params(bits, rid)
        c = codes_for(t, a32[rid].unsqueeze(1), m_rows, bin_rows)
        num.index_add_(0, rid, torch.linalg.vecdot(t, c, dim=1).to(torch.float64))
        den.index_add_(0, rid, torch.linalg.vecdot(c, c, dim=1).to(torch.float64))
    return num, den


def cluster_sq_norms(
    views: Sequence[torch.Tensor], row_ids: Sequence[torch.Tensor], n_clusters: int
) -> torch.Tensor:
    """Per-cluster ``<t, t>`` (float64 ``[C]``)."""
    tt = torch.zeros(n_clusters, dtype=torch.float64)
    for t, rid in zip(views, row_ids):
        tt.index_add_(0, rid, torch.linalg.vecdot(t, t, dim=1).to(torch.float64))
    return tt


def _absmax(views: Sequence[torch.Tensor], row_ids: Sequence[torch.Tensor], n: int) -> torch.Tensor:
    amax = torch.zeros(n, dtype=torch.float64)
    for t, rid in zip(views, row_ids):
        amax.scatter_reduce_(0, rid, t.abs().amax(1).to(torch.float64), "amax")
    return amax


def solve_scales(
    views: Sequence[torch.Tensor],
    row_ids: Sequence[torch.Tensor],
    bits: torch.Tensor,
    alpha_init: Optional[torch.Tensor] = None,
    max_steps: int = MAX_ALS_STEPS,
    n_starts: int = 24,
    tol: float = 1e-7,
) -> torch.Tensor:
    """Least-squares scales of every cluster (paper 1, Algorithm 1).

    Args:
        views: target tensors ``t = Theta + lambda``, each ``[rows, cols]`` float32.
        row_ids: per view, the cluster index of each row (int64 ``[rows]``).
        bits: int64 ``[C]`` bit-width of each cluster; only entries in :data:`CODE_BITS` are solved,
            the others get scale 1.0.
        alpha_init: float64 ``[C]`` warm start (one start); ``None``: ``n_starts`` cold starts.
        max_steps: inner iterations (paper: 20).
        n_starts: size of the cold-start grid ``absmax / m * 2^(-k/6)``, ``k < n_starts``.
        tol: stop when no scale moves by more than ``tol`` relative.

    Returns:
        float64 ``[C]`` scales (> 0 for every cluster with at least one non-zero weight).
    """
    bits = bits.to(torch.int64)
    coded = torch.tensor([int(b) in CODE_BITS for b in bits.tolist()], dtype=torch.bool)
    safe_bits = torch.where(coded, bits, torch.full_like(bits, 8))
    if alpha_init is None:
        # Cold start: the grid start with the smallest error, then the loop from there.
        m = torch.where(safe_bits == 1, 1, 2 ** (safe_bits - 1) - 1).to(torch.float64)
        amax = _absmax(views, row_ids, bits.numel()).clamp(min=1e-12)
        starts = [amax / m * 2.0 ** (-k / 6) for k in range(max(1, n_starts))]
        alpha_init = _best_als(views, row_ids, safe_bits, starts, 0, tol)
    alpha = _best_als(views, row_ids, safe_bits, [alpha_init.to(torch.float64)], max_steps, tol)
    return torch.where(coded, alpha, torch.ones_like(alpha))


def _best_als(views, row_ids, safe_bits, starts, max_steps, tol) -> torch.Tensor:
    """Run Algorithm 1 from every start; per cluster keep the scale with the smallest error."""
    tt = cluster_sq_norms(views, row_ids, safe_bits.numel())
    best_alpha, best_err = None, None
    for alpha in starts:
        alpha = torch.where(alpha > 0, alpha, torch.full_like(alpha, 1e-8))
        for _ in range(max_steps):
            num, den = _cluster_sums(views, row_ids, alpha, safe_bits)
            new = torch.where(den > 0, num / den.clamp(min=1e-30), alpha)
            new = torch.where(new > 0, new, alpha)
            done = bool(((new - alpha).abs() <= tol * alpha.abs()).all())
            alpha = new
            if done:
                break
        num, den = _cluster_sums(views, row_ids, alpha, safe_bits)
        err = tt - 2 * alpha * num + alpha * alpha * den
        if best_alpha is None:
            best_alpha, best_err = alpha, err
        else:
            better = err < best_err
            best_alpha = torch.where(better, alpha, best_alpha)
            best_err = torch.where(better, err, best_err)
    return best_alpha


def quantize_views(
    views: Sequence[torch.Tensor], row_ids: Sequence[torch.Tensor], bits: torch.Tensor,
    alpha: torch.Tensor,
) -> list[torch.Tensor]:
    """Integer codes (int8 ``[rows, cols]``) of each view at the given per-cluster scales.

    Rows of clusters without codes (16-bit) get code 0; callers keep those rows apart.
    """
    bits = bits.to(torch.int64)
    safe_bits = torch.where(
        torch.tensor([int(b) in CODE_BITS for b in bits.tolist()], dtype=torch.bool),
        bits, torch.full_like(bits, 8),
    )
    a32 = alpha.to(torch.float32)
    out = []
    for t, rid in zip(views, row_ids):
        m_rows, bin_rows = _row_params(safe_bits, rid)
        out.append(codes_for(t, a32[rid].unsqueeze(1), m_rows, bin_rows).to(torch.int8))
    return out


def dequantize(codes: torch.Tensor, alpha_rows: torch.Tensor) -> torch.Tensor:
    """``alpha * code`` in float32, the one formula shared by simulation and the packed runtime."""
    return codes.to(torch.float32) * alpha_rows.to(torch.float32).reshape(-1, 1)


def fp16_round_trip(t: torch.Tensor) -> torch.Tensor:
    """16-bit passthrough: the value after storing as fp16."""
    return t.to(torch.float16).to(torch.float32)
