"""Packed low-bit LM directories: bit-packed codes on disk, an LM behind the standard interface on load.

A packed directory::

    config.yaml                version: 1
                               format: packed            # kaldi_mpq.lm_loading dispatches on this
                               packed_version: 1
                               model: {type: lstm, embed_dim: 200, ...}   # as in the float checkpoint
                               quant: {method: admm, average_bits: 4.0, ...}  # informational
    words.txt                  the vocabulary
    plan.yaml                  granularity, bias mode and cluster -> bits (kaldi_mpq.quant.plan)
    model.packed.safetensors   codes.b{n}  uint8  one LSB-first bit stream per bit-width n in 1..8
                               scales      fp32   [coded clusters], in cluster order
                               fp16        fp16   16-bit clusters' weights, concatenated
                               fp32        fp32   weights left in float (LayerNorm, fp32 clusters)
                               metadata: packed_version, checksum (sha256 of plan.yaml and tensors)

Where each parameter's rows live follows from the model config and the plan
(:class:`~kaldi_mpq.quant.layout.QuantLayout` segments), so the file holds no per-tensor index: its
size is the ideal size (bits x params / 8 + scales + fp32 weights) plus the safetensors header and
< 1 byte of padding per segment.
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
from kaldi_mpq.fileio import Pathlike, atomic_dir, atomic_write
from kaldi_mpq.lm.checkpoint import build_model
from kaldi_mpq.quant.clusters import as_rows, row_width
from kaldi_mpq.quant.layout import QuantLayout
from kaldi_mpq.quant.packing import from_unsigned, pack, to_unsigned, unpack
from kaldi_mpq.quant.plan import Plan
from kaldi_mpq.quant.quantizer import CODE_BITS, dequantize

logger = logging.getLogger(__name__)

PACKED_VERSION = 1
PACKED_FILE, PLAN_FILE = "model.packed.safetensors", "plan.yaml"


def _checksum(plan_bytes: bytes, tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(plan_bytes)
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(np.ascontiguousarray(tensors[name]).tobytes())
    return h.hexdigest()


def pack_tensors(layout: QuantLayout, alpha: torch.Tensor, codes: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """The tensors of the packed file for a quantized model (module docstring)."""
    params = dict(layout.model.named_parameters())
    streams: dict[int, list[np.ndarray]] = {}
    halves, floats = [], []
    for seg in layout.segments:
        if seg.bits in CODE_BITS:
            sel = layout.coded[seg.param][0].numpy()
            pos = np.searchsorted(sel, seg.rows)
            c = codes[seg.param][torch.from_numpy(pos)].numpy()
            streams.setdefault(seg.bits, []).append(pack(to_unsigned(c.ravel(), seg.bits), seg.bits))
        else:
            rows = as_rows(params[seg.param].detach())[torch.from_numpy(seg.rows)].reshape(-1)
            (halves if seg.bits == 16 else floats).append(rows.numpy())
    out = {f"codes.b{b}": np.concatenate(v) for b, v in streams.items()}
    out["scales"] = alpha[torch.from_numpy(layout.coded_cluster)].to(torch.float32).numpy()
    if halves:
        out["fp16"] = np.concatenate(halves).astype(np.float16)
    if floats:
        out["fp32"] = np.concatenate(floats).astype(np.float32)
    return out


def save_packed(
    out_dir: Pathlike, layout: QuantLayout, alpha: torch.Tensor, codes: dict[str, torch.Tensor],
    model_config: dict, symbols, quant_info: Optional[dict] = None,
) -> Path:
    """Write a packed directory atomically. ``layout.model`` must hold the quantized weights' fp32 /
    fp16 rows (coded rows are taken from ``codes``)."""
    from safetensors.numpy import save_file

    tensors = pack_tensors(layout, alpha, codes)
    plan_bytes = yaml.safe_dump(layout.plan.to_dict(), sort_keys=False).encode()
    meta = {"packed_version": str(PACKED_VERSION), "checksum": _checksum(plan_bytes, tensors)}
    info = {"average_bits": round(layout.average_bits(), 4), "clusters": layout.n_clusters,
            "ideal_bytes": layout.ideal_bytes(), **(quant_info or {})}
    config = {"version": 1, "format": "packed", "packed_version": PACKED_VERSION,
              "model": dict(model_config), "quant": info}
    with atomic_dir(out_dir) as tmp:
        with atomic_write(tmp / "config.yaml") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        symbols.write(tmp / "words.txt")
        with atomic_write(tmp / PLAN_FILE, "wb") as f:
            f.write(plan_bytes)
        save_file(tensors, str(tmp / PACKED_FILE), metadata=meta)
    logger.info("wrote %s: %d bytes (ideal %d, %.2f bits/weight)", out_dir,
                (Path(out_dir) / PACKED_FILE).stat().st_size, layout.ideal_bytes(), layout.average_bits())
    return Path(out_dir)


@dataclass
class PackedModel:
    """A packed file read into memory: the layout (bound to a freshly built module), the scales and
    the raw streams. :meth:`decode_param` turns one parameter back into fp32."""

    layout: QuantLayout
    scales: torch.Tensor  # fp32 [C] (1.0 for uncoded clusters)
    streams: dict[str, np.ndarray]

    def decode_param(self, name: str) -> torch.Tensor:
        shape = self.layout.cmap.shapes[name]
        width = row_width(shape)
        out = torch.zeros((max(1, shape[0]) if shape else 1, width), dtype=torch.float32)
        rows_owner = self.layout.cmap.rows[name]
        for seg in self.layout.segments_of(name):
            idx = torch.from_numpy(seg.rows)
            if seg.bits in CODE_BITS:
                buf = self.streams[f"codes.b{seg.bits}"][seg.offset: seg.offset + seg.nbytes]
                u = unpack(buf, seg.bits, seg.count).astype(np.int16)
                c = torch.from_numpy(from_unsigned(u, seg.bits).reshape(len(seg.rows), width))
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
    got = {k: int(v.size) for k, v in streams.items()}
    if got != expected:
        raise CheckpointError(f"{path}: tensors {got} do not match config.yaml + plan.yaml (expected {expected})")
    scales = torch.ones(layout.n_clusters, dtype=torch.float32)
    scales[torch.from_numpy(layout.coded_cluster)] = torch.from_numpy(streams["scales"].astype(np.float32))
    return PackedModel(layout, scales, streams)


def file_sizes(ckpt_dir: Pathlike) -> tuple[int, int]:
    """``(packed file bytes, ideal bytes)`` of a packed directory."""
    ckpt_dir = Path(ckpt_dir)
    config = yaml.safe_load((ckpt_dir / "config.yaml").read_text())
    return (ckpt_dir / PACKED_FILE).stat().st_size, int(config["quant"]["ideal_bytes"])
