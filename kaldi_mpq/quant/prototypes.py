"""Uniform-precision prototypes: the model quantized at each candidate bit-width, trained once and reused.

Every mixed-precision method of paper 1 (Sec. V) starts from the same "divide and conquer" step: train
uniform 1-, 2-, 4- and 8-bit versions of the LM, then

- KL / Hessian sensitivity swap one cluster at a time to a prototype's weights
  (:mod:`kaldi_mpq.quant.sensitivity`),
- the chosen mixed plan starts its fine-tuning from weights inherited cluster by cluster from the
  prototype of that cluster's bit-width (:meth:`Prototypes.apply`; paper 1, Table II shows this is as
  good as retraining from scratch),
- the NAS super-network mixes the prototypes' weights per cluster (:meth:`Prototypes.cluster_weight`).

**Which training method.** The papers train prototypes with ADMM. On our PTB tables modified BP is
ahead of ADMM at 1-2 bits with the paper's settings (docs/quantization.md), so ``method="auto"`` trains
both on the same budget at each bit-width and keeps whichever has the lower validation perplexity; the
winner per bit-width is in ``metadata["methods"]`` and ``method`` says ``auto`` (or ``bp`` / ``admm``
when one was asked for).

Only coded rows come from a prototype; rows every plan keeps in fp32 (biases with ``bias: float``,
LayerNorm) are the fp32 model's in :attr:`Prototypes.reference`, so a mixed model never mixes biases
trained against different prototypes.

A prototypes directory::

    prototypes.yaml            bits, method, valid_ppl, plan_base (granularity, bias, word bands), clusters, metadata
    prototypes.safetensors     b{bits}/{param}: decoded fp32 weights of each prototype (every parameter)
                               fp32/{param}:   the fp32 reference
                               rows/{param}:   cluster index of every row (-1 fp32, -2 fixed 0)
"""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
import yaml
from torch import nn

from kaldi_mpq.errors import CheckpointError, ConfigError, PlanError
from kaldi_mpq.fileio import Pathlike, atomic_dir, atomic_write, write_safetensors
from kaldi_mpq.quant.admm import ADMMConfig
from kaldi_mpq.quant.api import PTQConfig, TrainingData, quantize_
from kaldi_mpq.quant.bp import BPConfig
from kaldi_mpq.quant.clusters import ClusterMap, WordBands, as_rows, enumerate_clusters, fold_lstm_biases
from kaldi_mpq.quant.layout import QuantLayout
from kaldi_mpq.quant.plan import FLOAT_BITS, Plan
from kaldi_mpq.quant.quantizer import CODE_BITS, fp16_round_trip

logger = logging.getLogger(__name__)

DEFAULT_BITS = (1, 2, 4, 8)
METHODS = ("auto", "bp", "admm", "ptq")
YAML_FILE, TENSOR_FILE = "prototypes.yaml", "prototypes.safetensors"
_CONFIGS = {"bp": BPConfig, "admm": ADMMConfig, "ptq": PTQConfig}


@dataclass
class Prototypes:
    """Hard-quantized uniform-precision versions of one fp32 model (module docstring).

    Attributes:
        bits: the prototypes' bit-widths, ascending.
        method: ``auto`` | ``bp`` | ``admm`` (what was asked; per bit-width winner in ``metadata``).
        weights: bits -> parameter -> decoded fp32 tensor of the whole parameter.
        valid_ppl: bits -> validation perplexity of that prototype.
        plan_base: granularity, bias mode and word bands of the cluster layout the prototypes were trained with.
        reference: the fp32 model's parameters (LSTM biases folded), for rows kept in fp32.
        cmap: which cluster every row belongs to (the layout of ``plan_base``).
        metadata: ``methods`` (bits -> bp | admm), ``history`` (bits -> method -> validation PPLs), ...
    """

    bits: tuple[int, ...]
    method: str
    weights: dict[int, dict[str, torch.Tensor]]
    valid_ppl: dict[int, float]
    plan_base: Plan
    reference: dict[str, torch.Tensor] = field(default_factory=dict)
    cmap: Optional[ClusterMap] = None
    metadata: dict = field(default_factory=dict)

    # -- lookups -------------------------------------------------------------------------------------
    @property
    def clusters(self) -> list[str]:
        return list(self._cmap().names)

    def _cmap(self) -> ClusterMap:
        if self.cmap is None:
            raise PlanError("prototypes carry no cluster map (build them with train_prototypes or load_prototypes)")
        return self.cmap

    def _index(self, name: str) -> int:
        try:
            return self._cmap().names.index(name)
        except ValueError:
            raise PlanError(f"no cluster named {name!r} in the prototypes "
                            f"(layout {self.plan_base.layout_name()})") from None

    def cluster_rows(self, name: str) -> dict[str, torch.Tensor]:
        """Parameter -> row indices (int64) of cluster ``name``."""
        i = self._index(name)
        return {p: torch.from_numpy(r) for p, r in self._cmap().members(i)}

    def weights_at(self, bits: int) -> dict[str, torch.Tensor]:
        """Every parameter as the ``bits``-bit prototype has it; 16 is the fp16-rounded reference, 32
        (or ``None``) the reference itself."""
        if bits in self.weights:
            return self.weights[bits]
        if bits is None or bits == FLOAT_BITS:
            return self._reference()
        if bits == 16:
            return {n: fp16_round_trip(t) for n, t in self._reference().items()}
        raise PlanError(f"no {bits}-bit prototype (prototypes: {', '.join(map(str, self.bits))} bits)")

    def _reference(self) -> dict[str, torch.Tensor]:
        if not self.reference:
            raise PlanError("prototypes carry no fp32 reference")
        return self.reference

    def cluster_weight(self, name: str, bits: int) -> dict[str, torch.Tensor]:
        """Parameter -> ``[rows, cols]`` rows of cluster ``name`` in the ``bits``-bit prototype
        (row order as :meth:`cluster_rows`)."""
        src = self.weights_at(bits)
        return {p: as_rows(src[p]).index_select(0, r) for p, r in self.cluster_rows(name).items()}

    # -- use -----------------------------------------------------------------------------------------
    def apply(self, model: nn.Module, plan: Plan) -> QuantLayout:
        """Copy into ``model`` each cluster's rows from the prototype at that cluster's bits in ``plan``
        (fp16 clusters: the rounded reference; fp32 clusters and rows outside clusters: the reference).

        ``plan`` must use the prototypes' cluster layout (granularity, bias mode, word bands). Returns the
        model's layout.

        Raises:
            PlanError: a different cluster layout, or a cluster at a bit-width without a prototype.
        """
        base = self.plan_base
        if not plan.same_layout(base):
            raise PlanError(f"{plan.source}: cluster layout {plan.layout_name()} differs from the "
                            f"prototypes' {base.layout_name()}")
        layout = QuantLayout(model, plan)
        if layout.cmap.names != self._cmap().names:
            raise PlanError(f"{plan.source}: the model's clusters differ from the prototypes' (another model?)")
        missing = sorted({int(b) for b in layout.bits if b in CODE_BITS and b not in self.weights})
        if missing:
            raise PlanError(f"{plan.source}: no prototype at {', '.join(map(str, missing))} bits "
                            f"(prototypes: {', '.join(map(str, self.bits))})")
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, rows in layout.cmap.rows.items():
                dst = as_rows(params[name])
                dst.copy_(as_rows(self._reference()[name]))
                for b in sorted(set(layout.bits[rows[rows >= 0]].tolist())):
                    sel = np.flatnonzero((rows >= 0) & (layout.bits[np.maximum(rows, 0)] == b))
                    idx = torch.from_numpy(sel)
                    dst.index_copy_(0, idx, as_rows(self.weights_at(int(b))[name]).index_select(0, idx))
        return layout


def _config_fields(cls) -> set[str]:
    return {f.name for f in fields(cls)}


def _split_config(method: str, config: dict) -> dict:
    """The keyword arguments of ``config`` that ``method``'s config class takes (plan set here)."""
    known = _config_fields(_CONFIGS["bp"]) | _config_fields(_CONFIGS["admm"])
    unknown = set(config) - known
    if unknown:
        raise ConfigError(f"unknown prototype training option(s): {', '.join(sorted(unknown))}")
    mine = _config_fields(_CONFIGS[method]) if method != "ptq" else set()
    return {k: v for k, v in config.items() if k in mine and k not in ("plan", "granularity", "bias")}


def train_prototypes(model: nn.Module, data: Optional[TrainingData], bits: Sequence[int] = DEFAULT_BITS,
                     method: str = "auto", granularity: str = "sublayer", bias: str = "float",
                     seed: int = 1, word_bands: Optional[WordBands] = None, **config) -> Prototypes:
    """Train one uniform prototype per bit-width from ``model`` (left unchanged except for folding its
    LSTM biases), each from the same fp32 weights, seed and budget.

    Args:
        data: training batches and the validation batches that select iterations and methods.
        bits: coded bit-widths (each in 1-8).
        method: ``bp``, ``admm`` or ``auto`` (both, the lower validation perplexity kept per bit-width);
            ``ptq``: post-training quantization, no training (``data`` may be ``None``; for quick looks
            and tests, not what the papers do).
        granularity, bias, word_bands: the cluster layout (:mod:`kaldi_mpq.quant.clusters`).
        seed: torch seed set before every run (dropout), so the methods see the same randomness.
        **config: fields of :class:`BPConfig` / :class:`ADMMConfig` (``max_iters``, ``steps_per_iter``,
            ``lr``, ``gamma``, ...); each method takes the ones it has.
    """
    if method not in METHODS:
        raise ConfigError(f"prototype method must be one of {', '.join(METHODS)}, got {method!r}")
    bits = tuple(sorted(set(int(b) for b in bits)))
    bad = [b for b in bits if b not in CODE_BITS]
    if not bits or bad:
        raise ConfigError(f"prototype bits must be coded bit-widths {CODE_BITS}, got {bad or 'none'}")
    fold_lstm_biases(model)
    plan_base = Plan.uniform(None, granularity, bias, word_bands)
    cmap = enumerate_clusters(model, plan_base.granularity, plan_base.bias, word_bands)
    reference = {n: p.detach().clone() for n, p in model.named_parameters()}
    candidates = ("bp", "admm") if method == "auto" else (method,)
    weights, ppl, methods, history = {}, {}, {}, {}
    for b in bits:
        best = None
        for m in candidates:
            trial = copy.deepcopy(model)
            torch.manual_seed(seed)
            cfg = _CONFIGS[m](plan=Plan.uniform(b, granularity, bias, word_bands), **_split_config(m, config))
            result = quantize_(trial, cfg, data)
            v = result.best_valid_ppl
            v = float("nan") if v is None else v
            history.setdefault(b, {})[m] = [h["valid_ppl"] for h in result.history]
            logger.info("prototype %d-bit %s: valid ppl %.2f", b, m, v)
            if best is None or v < best[0]:
                best = (v, m, {n: p.detach().clone() for n, p in trial.named_parameters()})
        ppl[b], methods[b], weights[b] = best
    meta = {"methods": methods, "history": history, "seed": seed,
            "config": {k: v for k, v in config.items()}}
    return Prototypes(bits, method, weights, ppl, plan_base, reference, cmap, meta)


# -- files ---------------------------------------------------------------------------------------------
def save_prototypes(p: Prototypes, out_dir: Pathlike) -> Path:
    """Write ``out_dir`` (module docstring) atomically."""
    from safetensors.torch import save

    cmap = p._cmap()
    tensors = {}
    for b, ws in p.weights.items():
        tensors.update({f"b{b}/{n}": t.detach().contiguous() for n, t in ws.items()})
    tensors.update({f"fp32/{n}": t.detach().contiguous() for n, t in p._reference().items()})
    tensors.update({f"rows/{n}": torch.from_numpy(r.copy()) for n, r in cmap.rows.items()})
    info = {"version": 1, "bits": list(p.bits), "method": p.method,
            "valid_ppl": {int(b): float(v) for b, v in p.valid_ppl.items()},
            "plan_base": p.plan_base.layout_dict(),
            "clusters": list(cmap.names), "shapes": {n: list(s) for n, s in cmap.shapes.items()},
            "metadata": _plain(p.metadata)}
    with atomic_dir(out_dir) as tmp:
        write_safetensors(tmp / TENSOR_FILE, save(tensors))
        with atomic_write(tmp / YAML_FILE) as f:
            yaml.safe_dump(info, f, sort_keys=False)
    return Path(out_dir)


def _plain(x):
    """YAML-safe copy: numpy / torch scalars to Python numbers, tuples to lists."""
    if isinstance(x, dict):
        return {(int(k) if isinstance(k, (np.integer,)) else k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    return x


def load_prototypes(directory: Pathlike) -> Prototypes:
    """Read a prototypes directory.

    Raises:
        CheckpointError: a missing or corrupt file, named.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    ypath, tpath = directory / YAML_FILE, directory / TENSOR_FILE
    for path in (ypath, tpath):
        if not path.is_file():
            raise CheckpointError(f"{path}: missing (not a prototypes directory)")
    try:
        info = yaml.safe_load(ypath.read_text(encoding="utf-8"))
        bits = tuple(int(b) for b in info["bits"])
        names = list(info["clusters"])
        plan_base = Plan.base_from_dict(info["plan_base"], str(ypath))
    except (yaml.YAMLError, KeyError, TypeError, ValueError, PlanError) as e:
        raise CheckpointError(f"{ypath}: corrupt prototypes description ({e})") from None
    try:
        tensors = load_file(str(tpath))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{tpath}: corrupt or truncated ({e})") from None
    weights: dict[int, dict[str, torch.Tensor]] = {b: {} for b in bits}
    reference, rows = {}, OrderedDict()
    for key, t in tensors.items():
        kind, name = key.split("/", 1)
        if kind == "fp32":
            reference[name] = t
        elif kind == "rows":
            rows[name] = t.numpy().astype(np.int64)
        elif kind.startswith("b") and int(kind[1:]) in weights:
            weights[int(kind[1:])][name] = t
        else:
            raise CheckpointError(f"{tpath}: unexpected tensor {key!r}")
    shapes = {n: tuple(s) for n, s in info.get("shapes", {}).items()}
    order = list(shapes) or list(rows)
    cmap = ClusterMap(names, OrderedDict((n, rows[n]) for n in order), shapes)
    for b, ws in weights.items():
        if set(ws) != set(reference):
            raise CheckpointError(f"{tpath}: the {b}-bit prototype lacks parameters "
                                  f"{sorted(set(reference) - set(ws))[:3]}")
    meta = info.get("metadata") or {}
    for key in ("methods", "history"):
        if isinstance(meta.get(key), dict):
            meta[key] = {int(b): v for b, v in meta[key].items()}
    return Prototypes(bits, str(info.get("method", "?")), weights,
                      {int(b): float(v) for b, v in (info.get("valid_ppl") or {}).items()},
                      plan_base, reference, cmap, meta)
