"""Packed low-bit LM directories: bit-packed codes on disk, an LM behind the standard interface on load.

A packed directory::

    config.yaml                version: 1
                               format: packed            # kaldi_mpq.lm_loading dispatches on this
                               packed_version: 1         # 2 when the file has centroid tables
                               model: {type: lstm, embed_dim: 200, ...}   # as in the float checkpoint
                               quant: {method: admm, average_bits: 4.0, ...}  # informational
    words.txt                  the vocabulary
    plan.yaml                  granularity, bias mode, word bands and cluster -> bits (kaldi_mpq.quant.plan)
    timing.yaml                seconds: wall time of the quantization (optional; the only file that
                               differs between two identical runs)
    model.packed.safetensors   codes.b{n}  uint8  one LSB-first bit stream per bit-width n in 1..8
                               scales      fp32   [coded clusters], in cluster order
                               fp16        fp16   16-bit clusters' weights, concatenated
                               fp32        fp32   weights left in float (LayerNorm, fp32 clusters)
                               centroid_clusters  int32  [K] clusters with a centroid table (version 2)
                               centroids   int8   [sum of 2^bits over them]: their tables, in that order
                               metadata: packed_version, checksum (sha256 of plan.yaml and tensors)

A stored value ``u`` of an n-bit cluster decodes to the integer code ``u - (2^(n-1) - 1)`` (``2u - 1``
at 1 bit), or to ``table[u]`` when the cluster has a centroid table (GQ); the weight is ``scale * code``
either way. Version 2 added the tables; files without them are still written as version 1, and both
load.

Where each parameter's rows live follows from the model config and the plan
(:class:`~kaldi_mpq.quant.layout.QuantLayout` segments), so the file holds no per-tensor index: its
size is the ideal size (bits x params / 8 + scales + tables + fp32 weights) plus the safetensors header
and < 1 byte of padding per segment.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import yaml

from kaldi_mpq.errors import CheckpointError, PlanError
from kaldi_mpq.fileio import Pathlike, atomic_dir, atomic_write, write_safetensors
from kaldi_mpq.lm.checkpoint import build_model
from kaldi_mpq.quant.clusters import as_rows, row_width
from kaldi_mpq.quant.layout import QuantLayout
from kaldi_mpq.quant.packing import from_unsigned, pack, to_unsigned, unpack
from kaldi_mpq.quant.plan import Plan
from kaldi_mpq.quant.quantizer import CODE_BITS, dequantize

logger = logging.getLogger(__name__)

PACKED_VERSION = 2  # the newest this code reads and writes (2: centroid tables)
PACKED_FILE, PLAN_FILE = "model.packed.safetensors", "plan.yaml"
TIMING_FILE = "timing.yaml"  # wall-clock figures of the run: the one file identical runs do not reproduce


def _checksum(plan_bytes: bytes, tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(plan_bytes)
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(np.ascontiguousarray(tensors[name]).tobytes())
    return h.hexdigest()


def _table_index(tables: dict[int, torch.Tensor], n_clusters: int) -> np.ndarray:
    """int16 ``[C, 256]``: position of code ``k`` in cluster ``c``'s table at ``[c, k + 128]`` (its first
    slot), -1 where the code is not in the table or the cluster has none."""
    inv = np.full((n_clusters, 256), -1, dtype=np.int16)
    for c, table in tables.items():
        t = table.numpy().astype(np.int16)
        inv[c, t[::-1] + 128] = np.arange(len(t) - 1, -1, -1, dtype=np.int16)
    return inv


def table_bytes(layout: QuantLayout, tables: dict[int, torch.Tensor]) -> int:
    """Bytes the centroid tables add to a packed file: the tables and one int32 cluster id each."""
    return sum(2 ** int(layout.bits[c]) + 4 for c in tables)


def pack_tensors(layout: QuantLayout, alpha: torch.Tensor, codes: dict[str, torch.Tensor],
                 centroids: Optional[dict[int, torch.Tensor]] = None) -> dict[str, np.ndarray]:
    """The tensors of the packed file for a quantized model (module docstring)."""
    params = dict(layout.model.named_parameters())
    centroids = centroids or {}
    inv = _table_index(centroids, layout.n_clusters) if centroids else None
    streams: dict[int, list[np.ndarray]] = {}
    halves, floats = [], []
    for seg in layout.segments:
        if seg.bits in CODE_BITS:
            sel = layout.coded[seg.param][0].numpy()
            pos = np.searchsorted(sel, seg.rows)
            c = codes[seg.param][torch.from_numpy(pos)].numpy()
            u = to_unsigned(c, seg.bits)
            if inv is not None:
                cid = layout.cmap.rows[seg.param][seg.rows]
                tab = inv[cid[:, None], c.astype(np.int16) + 128]
                has = np.isin(cid, list(centroids))
                if (tab[has] < 0).any():
                    raise ValueError(f"{seg.param}: a code is not in its cluster's centroid table")
                u = np.where(has[:, None], tab, u).astype(np.uint8)
            streams.setdefault(seg.bits, []).append(pack(u.ravel(), seg.bits))
        else:
            rows = as_rows(params[seg.param].detach())[torch.from_numpy(seg.rows)].reshape(-1)
            (halves if seg.bits == 16 else floats).append(rows.numpy())
    out = {f"codes.b{b}": np.concatenate(v) for b, v in streams.items()}
    out["scales"] = alpha[torch.from_numpy(layout.coded_cluster)].to(torch.float32).numpy()
    if halves:
        out["fp16"] = np.concatenate(halves).astype(np.float16)
    if floats:
        out["fp32"] = np.concatenate(floats).astype(np.float32)
    if centroids:
        ids = sorted(centroids)
        out["centroid_clusters"] = np.asarray(ids, dtype=np.int32)
        out["centroids"] = np.concatenate([centroids[c].numpy().astype(np.int8) for c in ids])
    return out


def save_packed(
    out_dir: Pathlike, layout: QuantLayout, alpha: torch.Tensor, codes: dict[str, torch.Tensor],
    model_config: dict, symbols, quant_info: Optional[dict] = None,
    centroids: Optional[dict[int, torch.Tensor]] = None, timing: Optional[dict] = None,
) -> Path:
    """Write a packed directory atomically. ``layout.model`` must hold the quantized weights' fp32 /
    fp16 rows (coded rows are taken from ``codes``); ``centroids``: the clusters' tables when their codes
    are not uniform levels (:attr:`~kaldi_mpq.quant.api.QuantResult.centroids`).

    Every file but ``timing.yaml`` (``timing``: wall-clock figures, e.g. ``seconds``) is a function of
    the inputs alone, so identical runs write identical bytes."""
    from safetensors.numpy import save

    centroids = centroids or {}
    tensors = pack_tensors(layout, alpha, codes, centroids)
    version = 2 if centroids else 1  # older readers still load files without tables
    plan_bytes = yaml.safe_dump(layout.plan.to_dict(), sort_keys=False).encode()
    meta = {"packed_version": str(version), "checksum": _checksum(plan_bytes, tensors)}
    info = {"average_bits": round(layout.average_bits(), 4), "clusters": layout.n_clusters,
            "ideal_bytes": layout.ideal_bytes() + table_bytes(layout, centroids), **(quant_info or {})}
    config = {"version": 1, "format": "packed", "packed_version": version,
              "model": dict(model_config), "quant": info}
    with atomic_dir(out_dir) as tmp:
        with atomic_write(tmp / "config.yaml") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        symbols.write(tmp / "words.txt")
        with atomic_write(tmp / PLAN_FILE, "wb") as f:
            f.write(plan_bytes)
        write_safetensors(tmp / PACKED_FILE, save(tensors, metadata=meta))
        if timing:
            with atomic_write(tmp / TIMING_FILE) as f:
                yaml.safe_dump(timing, f, sort_keys=False)
    logger.info("wrote %s: %d bytes (ideal %d, %.2f bits/weight)", out_dir,
                (Path(out_dir) / PACKED_FILE).stat().st_size, info["ideal_bytes"], layout.average_bits())
    return Path(out_dir)


@dataclass
class PackedModel:
    """A packed file read into memory: the layout (bound to a freshly built module), the scales and
    the raw streams. :meth:`decode_param` turns one parameter back into fp32."""

    layout: QuantLayout
    scales: torch.Tensor  # fp32 [C] (1.0 for uncoded clusters)
    streams: dict[str, np.ndarray]
    tables: Optional[torch.Tensor] = None  # int16 [C, 256]: code of stored value u at [c, u]; None: no tables
    has_table: Optional[np.ndarray] = None  # bool [C]

    def segment_codes(self, seg, values: torch.Tensor) -> torch.Tensor:
        """Integer codes (int16 ``[rows, width]``) of a coded segment from its unpacked stored values."""
        u = values.to(torch.int16).view(len(seg.rows), -1)
        codes = from_unsigned(u, seg.bits)
        if self.tables is not None:
            cid = self.layout.cmap.rows[seg.param][seg.rows]
            has = self.has_table[cid]
            if has.any():
                rows = torch.from_numpy(np.flatnonzero(has))
                looked_up = self.tables[torch.from_numpy(cid[has])[:, None], u[rows].long()]
                codes = codes.index_copy(0, rows, looked_up)
        return codes

    def decode_param(self, name: str) -> torch.Tensor:
        shape = self.layout.cmap.shapes[name]
        width = row_width(shape)
        out = torch.zeros((max(1, shape[0]) if shape else 1, width), dtype=torch.float32)
        rows_owner = self.layout.cmap.rows[name]
        for seg in self.layout.segments_of(name):
            idx = torch.from_numpy(seg.rows)
            if seg.bits in CODE_BITS:
                buf = self.streams[f"codes.b{seg.bits}"][seg.offset: seg.offset + seg.nbytes]
                c = self.segment_codes(seg, torch.from_numpy(unpack(buf, seg.bits, seg.count)))
                out.index_copy_(0, idx, dequantize(c, self.scales[torch.from_numpy(rows_owner[seg.rows])]))
            else:
                key = "fp16" if seg.bits == 16 else "fp32"
                vals = torch.from_numpy(self.streams[key][seg.offset: seg.offset + seg.count].astype(np.float32))
                out.index_copy_(0, idx, vals.view(len(seg.rows), width))
        return out.reshape(shape)

    def decode_all(self) -> None:
        """Write every parameter of ``layout.model`` from the packed data."""
        self.layout.write({n: self.decode_param(n) for n in self.layout.cmap.rows})


def read_packed(ckpt_dir: Pathlike, config: dict, symbols) -> PackedModel:
    """Read and verify a packed directory (sizes, version, checksum) without decoding it.

    Raises:
        CheckpointError: a missing, truncated or corrupt file, named.
    """
    from safetensors import SafetensorError, safe_open

    ckpt_dir = Path(ckpt_dir)
    path, plan_path = ckpt_dir / PACKED_FILE, ckpt_dir / PLAN_FILE
    for p in (path, plan_path):
        if not p.is_file():
            raise CheckpointError(f"{p}: missing (not a complete packed model directory)")
    if int(config.get("packed_version", 0)) > PACKED_VERSION:
        raise CheckpointError(f"{ckpt_dir / 'config.yaml'}: packed_version {config.get('packed_version')} "
                              f"is newer than this kaldi-mpq understands ({PACKED_VERSION})")
    plan_bytes = plan_path.read_bytes()
    try:
        plan = Plan.from_dict(yaml.safe_load(plan_bytes), source=str(plan_path))
    except (yaml.YAMLError, PlanError) as e:
        raise CheckpointError(f"{plan_path}: corrupt plan ({e})") from None
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            streams = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt or truncated packed weights ({e})") from None
    if meta.get("checksum") != _checksum(plan_bytes, streams):
        raise CheckpointError(f"{path}: checksum mismatch (file corrupt, or {plan_path.name} changed)")
    try:
        module = build_model(config["model"], symbols)
    except Exception as e:  # ConfigError and friends
        raise CheckpointError(f"{ckpt_dir / 'config.yaml'}: {e}") from None
    try:
        layout = QuantLayout(module, plan)
    except PlanError as e:
        raise CheckpointError(f"{plan_path}: {e}") from None
    expected = {f"codes.b{b}": n for b, n in layout.stream_sizes.items() if b in CODE_BITS}
    if 16 in layout.stream_sizes:
        expected["fp16"] = layout.stream_sizes[16]
    if 32 in layout.stream_sizes:
        expected["fp32"] = layout.stream_sizes[32]
    expected["scales"] = int(layout.coded_cluster.sum())
    tables, has_table = _read_tables(path, layout, streams, expected)
    got = {k: int(v.size) for k, v in streams.items()}
    if got != expected:
        raise CheckpointError(f"{path}: tensors {got} do not match config.yaml + plan.yaml (expected {expected})")
    scales = torch.ones(layout.n_clusters, dtype=torch.float32)
    scales[torch.from_numpy(layout.coded_cluster)] = torch.from_numpy(streams["scales"].astype(np.float32))
    return PackedModel(layout, scales, streams, tables, has_table)


def _read_tables(path: Path, layout: QuantLayout, streams: dict[str, np.ndarray], expected: dict
                 ) -> tuple[Optional[torch.Tensor], Optional[np.ndarray]]:
    """The centroid tables as a ``[C, 256]`` lookup (stored value -> code); adds their sizes to
    ``expected``. ``(None, None)`` for a file without tables."""
    if "centroid_clusters" not in streams:
        return None, None
    ids = streams["centroid_clusters"].astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= layout.n_clusters or not layout.coded_cluster[ids].all()
                     or (np.diff(ids) <= 0).any()):
        raise CheckpointError(f"{path}: centroid_clusters names clusters without codes or out of order")
    sizes = [2 ** int(layout.bits[c]) for c in ids]
    expected["centroid_clusters"] = len(ids)
    expected["centroids"] = sum(sizes)
    if streams.get("centroids", np.zeros(0)).size != sum(sizes):
        return None, None  # reported by the size check
    lut = torch.zeros(layout.n_clusters, 256, dtype=torch.int16)
    flat = torch.from_numpy(streams["centroids"].astype(np.int16))
    for c, start, size in zip(ids, np.cumsum([0] + sizes[:-1]), sizes):
        lut[c, :size] = flat[start:start + size]
    has = np.zeros(layout.n_clusters, dtype=bool)
    has[ids] = True
    return lut, has


def file_sizes(ckpt_dir: Pathlike) -> tuple[int, int]:
    """``(packed file bytes, ideal bytes)`` of a packed directory."""
    ckpt_dir = Path(ckpt_dir)
    config = yaml.safe_load((ckpt_dir / "config.yaml").read_text())
    return (ckpt_dir / PACKED_FILE).stat().st_size, int(config["quant"]["ideal_bytes"])
