"""A model bound to a plan: which rows are coded, fp16 or fp32, and the quantize / write-back steps.

:class:`QuantLayout` is what the training methods, the packed format and the runtime share. Its
``segments`` fix the packed storage order: parameters in ``named_parameters`` order, and within a
parameter the rows of each bit-width (ascending) in row order, each segment starting on a byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from kaldi_mpq.quant.clusters import FLOAT, ZERO, ClusterMap, as_rows, check_coverage, enumerate_clusters, \
    fold_lstm_biases, row_width
from kaldi_mpq.quant.packing import packed_nbytes
from kaldi_mpq.quant.plan import FLOAT_BITS, Plan, average_bits
from kaldi_mpq.quant.quantizer import CODE_BITS, dequantize, fp16_round_trip, quantize_views, solve_scales


#: Bits of the fp32 scale stored with every coded cluster.
SCALE_BITS = 32


def storage_bits(sizes: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Bits each cluster of ``sizes`` weights takes in the packed file at ``bits`` (int64, elementwise):
    codes plus one fp32 scale (1-8 bits), or the fp16 / fp32 values (16 / 32 bits). The one size rule
    of the packed format, shared by :meth:`QuantLayout.ideal_bytes` and the bit allocation."""
    sizes, bits = np.asarray(sizes, dtype=np.int64), np.asarray(bits, dtype=np.int64)
    return sizes * bits + SCALE_BITS * np.isin(bits, CODE_BITS)


def free_float_weights(cmap: ClusterMap) -> int:
    """Weights in rows outside every cluster that the packed file keeps in fp32 (biases with
    ``bias: float``, LayerNorm; not the fixed-zero folded LSTM biases)."""
    return int(sum((r == FLOAT).sum() * row_width(cmap.shapes[p]) for p, r in cmap.rows.items()))


def ideal_bytes_of(sizes: np.ndarray, bits: np.ndarray, float_weights: int) -> int:
    """Ideal packed size in bytes: every cluster's :func:`storage_bits` plus the free fp32 weights."""
    return int(np.ceil((storage_bits(sizes, bits).sum() + FLOAT_BITS * float_weights) / 8))


@dataclass(frozen=True)
class Segment:
    """Rows ``rows`` of parameter ``param`` stored with ``bits`` bits (1-8 coded, 16 fp16, 32 fp32).

    ``offset`` is the byte offset in the ``codes.b{bits}`` stream (coded), or the element offset in
    the ``fp16`` / ``fp32`` tensor; ``count`` the number of weights.
    """

    param: str
    bits: int
    rows: np.ndarray
    offset: int
    count: int

    @property
    def nbytes(self) -> int:
        return packed_nbytes(self.count, self.bits) if self.bits in CODE_BITS else self.count * self.bits // 8


class QuantLayout:
    """Bind ``model`` to ``plan``: folds LSTM biases (in place), enumerates clusters, resolves bits.

    Attributes:
        cmap: the :class:`ClusterMap`.
        bits: int64 ``[C]`` bits per cluster (32 = fp32).
        coded: parameter -> (row indices LongTensor, cluster ids LongTensor) of its coded rows.
        segments: storage order (module docstring).
    """

    def __init__(self, model: nn.Module, plan: Plan):
        fold_lstm_biases(model)
        self.model = model
        self.plan = plan
        self.cmap: ClusterMap = enumerate_clusters(model, plan.granularity, plan.bias, plan.word_bands)
        check_coverage(self.cmap)
        self.bits = plan.resolve(self.cmap)
        self.coded_cluster = np.isin(self.bits, CODE_BITS)
        self.coded: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.segments: list[Segment] = []
        streams: dict[int, int] = {}
        for name, rows in self.cmap.rows.items():
            row_bits = np.where(rows >= 0, self.bits[np.maximum(rows, 0)], np.where(rows == ZERO, 0, FLOAT_BITS))
            width = row_width(self.cmap.shapes[name])
            sel = np.flatnonzero(np.isin(row_bits, CODE_BITS))
            if sel.size:
                self.coded[name] = (torch.from_numpy(sel), torch.from_numpy(rows[sel]))
            for b in sorted(set(row_bits.tolist()) - {0}):
                r = np.flatnonzero(row_bits == b)
                seg = Segment(name, int(b), r, streams.get(b, 0), int(r.size * width))
                streams[b] = seg.offset + (seg.nbytes if b in CODE_BITS else seg.count)
                self.segments.append(seg)
        self.stream_sizes = streams  # bits -> bytes (coded) or elements (16 / 32)

    def segments_of(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.param == name]

    # -- sizes ---------------------------------------------------------------------------------------
    @property
    def n_clusters(self) -> int:
        return len(self.cmap.names)

    def average_bits(self) -> float:
        return average_bits(self.cmap, self.bits)

    def ideal_bytes(self) -> int:
        """Sum of bits x params / 8 over clusters, + an fp32 scale per coded cluster, + fp32 params."""
        return ideal_bytes_of(self.cmap.cluster_sizes(), self.bits, free_float_weights(self.cmap))

    # -- quantization --------------------------------------------------------------------------------
    def _params(self) -> dict[str, torch.Tensor]:
        return dict(self.model.named_parameters())

    def views(self, source: Optional[dict[str, torch.Tensor]] = None) -> tuple[list, list]:
        """``([rows, cols]`` coded rows of each parameter (or of ``source[name]``), cluster ids)."""
        src = source if source is not None else self._params()
        views, ids = [], []
        for name, (sel, cid) in self.coded.items():
            v = as_rows(src[name].detach())
            views.append(v if sel.numel() == v.shape[0] else v.index_select(0, sel))
            ids.append(cid)
        return views, ids

    def solve(self, targets: Optional[dict[str, torch.Tensor]] = None,
              alpha_init: Optional[torch.Tensor] = None, max_steps: int = 20) -> torch.Tensor:
        """Scales of every cluster for the current weights (or ``targets``): float64 ``[C]``."""
        views, ids = self.views(targets)
        return solve_scales(views, ids, torch.from_numpy(self.bits), alpha_init, max_steps=max_steps)

    def codes(self, alpha: torch.Tensor, targets: Optional[dict[str, torch.Tensor]] = None) -> dict[str, torch.Tensor]:
        """int8 codes ``[coded rows, cols]`` per parameter at scales ``alpha``."""
        views, ids = self.views(targets)
        out = quantize_views(views, ids, torch.from_numpy(self.bits), alpha)
        return dict(zip(self.coded, out))

    def quantized(self, alpha: torch.Tensor, codes: dict[str, torch.Tensor],
                  source: Optional[dict[str, torch.Tensor]] = None) -> dict[str, torch.Tensor]:
        """Full parameter tensors with coded rows ``alpha * code``, fp16 rows rounded, zero rows 0,
        fp32 rows copied from ``source`` (default: the model)."""
        src = source if source is not None else self._params()
        out = {}
        for name, rows in self.cmap.rows.items():
            t = src[name].detach().clone()
            v = as_rows(t)
            row_bits = np.where(rows >= 0, self.bits[np.maximum(rows, 0)], FLOAT_BITS)
            half = np.flatnonzero((rows >= 0) & (row_bits == 16))
            if half.size:
                idx = torch.from_numpy(half)
                v.index_copy_(0, idx, fp16_round_trip(v.index_select(0, idx)))
            zero = np.flatnonzero(rows == ZERO)
            if zero.size:
                v[torch.from_numpy(zero)] = 0
            if name in codes:
                sel, cid = self.coded[name]
                v.index_copy_(0, sel, dequantize(codes[name], alpha[cid]))
            out[name] = t
        return out

    def write(self, tensors: dict[str, torch.Tensor]) -> None:
        """Copy ``tensors`` into the model's parameters (in place, no autograd)."""
        params = self._params()
        with torch.no_grad():
            for name, t in tensors.items():
                params[name].copy_(t)

    def quantize_model(self, alpha: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Hard-quantize the model in place (solving scales unless given); returns ``(alpha, codes)``."""
        if alpha is None:
            alpha = self.solve()
        codes = self.codes(alpha)
        self.write(self.quantized(alpha, codes))
        return alpha, codes


def row_bits_of(layout: QuantLayout, name: str) -> np.ndarray:
    rows = layout.cmap.rows[name]
    return np.where(rows >= 0, layout.bits[np.maximum(rows, 0)], np.where(rows == ZERO, 0, FLOAT_BITS))


def all_rows_coded(layout: QuantLayout, names: Sequence[str]) -> bool:
    """True if every row of every parameter in ``names`` has integer codes (ZERO rows allowed)."""
    for n in names:
        rb = row_bits_of(layout, n)
        if not np.isin(rb, CODE_BITS + (0,)).all():
            return False
    return True
