"""Quantization plans: which bit-width each cluster gets.

``plan.yaml``::

    granularity: sublayer      # layer | sublayer (alias gate) | node -- see kaldi_mpq.quant.clusters
    bias: float                # float (biases stay fp32; default) | column (bias quantized with its row)
    word_bands:                # optional: embedding / output rows split by word frequency
      sizes: [1000, 2000, 7000]  #   clusters embedding.band0, .band1, ... (kaldi_mpq.quant.clusters)
      of_word: "0012..."       #   the band of every word id, one digit each
    bits:
      _default: 4              # every cluster no other key matches
      embedding: 8             # an exact cluster name
      "re:rnn\\.l1\\..*": 2     # a full-match regular expression over cluster names
      output: null             # null (or 32): leave in fp32
    metadata: {...}            # optional, informational: how the plan was chosen (kaldi-mpq allocate)

**Precedence (the one place it is defined):** for each cluster, an exact-name key wins; otherwise the
first ``re:`` key, in file order, whose regex matches the whole name; otherwise ``_default``;
otherwise the cluster stays fp32. Bit-widths are 1, 2, 3, 4, 5, 6, 8 (integer codes + one fp32 scale),
16 (fp16 passthrough) or ``null``/32 (fp32). An exact key that names no cluster, or a regex that
matches none, is an error (a typo must not silently leave a layer in float).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Union

import numpy as np
import yaml

from kaldi_mpq.errors import PlanError
from kaldi_mpq.fileio import Pathlike, atomic_write
from kaldi_mpq.quant.clusters import BIAS_MODES, DEFAULT_BIAS, ClusterMap, WordBands, normalize_granularity
from kaldi_mpq.quant.quantizer import SUPPORTED_BITS

FLOAT_BITS = 32


def _check_bits(key: str, value, where: str) -> Optional[int]:
    if value is None or value == FLOAT_BITS:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in SUPPORTED_BITS:
        raise PlanError(
            f"{where}: bits for {key!r} must be one of {', '.join(map(str, SUPPORTED_BITS))}, 32 or null, "
            f"got {value!r}"
        )
    return value


@dataclass
class Plan:
    """Cluster -> bits (module docstring). ``Plan.uniform(4)`` quantizes every cluster to 4 bits."""

    bits: "OrderedDict[str, Optional[int]]" = field(default_factory=OrderedDict)
    granularity: str = "sublayer"
    bias: str = DEFAULT_BIAS
    source: str = "<plan>"
    metadata: dict = field(default_factory=dict)  # informational (how the plan was chosen); not used
    word_bands: Optional[WordBands] = None

    def __post_init__(self) -> None:
        self.granularity = normalize_granularity(self.granularity)
        if self.bias not in BIAS_MODES:
            raise PlanError(f"{self.source}: bias must be one of {', '.join(BIAS_MODES)}, got {self.bias!r}")
        checked = OrderedDict()
        for k, v in self.bits.items():
            if not isinstance(k, str):
                raise PlanError(f"{self.source}: cluster key {k!r} is not a string")
            if k.startswith("re:"):
                try:
                    re.compile(k[3:])
                except re.error as e:
                    raise PlanError(f"{self.source}: bad regex {k!r}: {e}") from None
            checked[k] = _check_bits(k, v, self.source)
        self.bits = checked

    @classmethod
    def uniform(cls, bits: Optional[int], granularity: str = "sublayer", bias: str = DEFAULT_BIAS,
                word_bands: Optional[WordBands] = None) -> "Plan":
        return cls(OrderedDict(_default=bits), granularity, bias, source=f"uniform {bits}-bit", word_bands=word_bands)

    # -- the cluster layout: granularity, bias mode, word bands ---------------------------------------
    def same_layout(self, other: "Plan") -> bool:
        """Whether both plans cut the model into the same clusters."""
        return (self.granularity, self.bias, self.word_bands) == (other.granularity, other.bias, other.word_bands)

    def layout_name(self) -> str:
        bands = f", {self.word_bands.n_bands} word bands" if self.word_bands is not None else ""
        return f"{self.granularity}/{self.bias}{bands}"

    def with_bits(self, bits: "OrderedDict[str, Optional[int]]", source: str, metadata: Optional[dict] = None
                  ) -> "Plan":
        """A plan of ``bits`` over this plan's cluster layout."""
        return Plan(OrderedDict(bits), self.granularity, self.bias, source=source, metadata=metadata or {},
                    word_bands=self.word_bands)

    def layout_dict(self) -> dict:
        """``granularity``, ``bias`` and (if any) ``word_bands``, as plan files write them."""
        d = {"granularity": self.granularity, "bias": self.bias}
        if self.word_bands is not None:
            d["word_bands"] = self.word_bands.to_dict()
        return d

    @classmethod
    def base_from_dict(cls, d: dict, source: str = "<plan>") -> "Plan":
        """The fp32 plan (``bits: {_default: null}``) of a :meth:`layout_dict` mapping."""
        bands = d.get("word_bands")
        return cls(OrderedDict(_default=None), d.get("granularity", "sublayer"), d.get("bias", DEFAULT_BIAS),
                   source=source, word_bands=None if bands is None else WordBands.from_dict(bands, source))

    @classmethod
    def from_dict(cls, data: dict, source: str = "<plan>") -> "Plan":
        if not isinstance(data, dict) or not isinstance(data.get("bits"), dict):
            raise PlanError(f"{source}: expected a mapping with a 'bits:' mapping (cluster -> bits)")
        unknown = set(data) - {"bits", "granularity", "bias", "version", "metadata", "word_bands"}
        if unknown:
            raise PlanError(f"{source}: unknown plan field(s) {', '.join(sorted(unknown))}")
        meta = data.get("metadata") or {}
        if not isinstance(meta, dict):
            raise PlanError(f"{source}: 'metadata:' must be a mapping")
        base = cls.base_from_dict(data, source)
        return base.with_bits(data["bits"], source, meta)

    @classmethod
    def read(cls, path: Pathlike) -> "Plan":
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PlanError(f"{path}: no such plan file") from None
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise PlanError(f"{path}: not valid YAML ({e})") from None
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict:
        d = {"version": 1, **self.layout_dict(), "bits": dict(self.bits)}
        if self.metadata:
            d["metadata"] = self.metadata
        return d

    def write(self, path: Pathlike) -> None:
        with atomic_write(path) as f:
            yaml.safe_dump(self.to_dict(), f, sort_keys=False)

    def resolve(self, cmap: ClusterMap) -> np.ndarray:
        """Bits of every cluster of ``cmap`` (int64 ``[C]``, 32 = fp32), by the documented precedence."""
        names = cmap.names
        index = {n: i for i, n in enumerate(names)}
        out = np.full(len(names), -1, dtype=np.int64)
        default = self.bits.get("_default", None)
        for key, value in self.bits.items():
            if key == "_default" or key.startswith("re:"):
                continue
            if key not in index:
                raise PlanError(f"{self.source}: no cluster named {key!r} (layout {self.layout_name()})")
            out[index[key]] = FLOAT_BITS if value is None else value
        for key, value in self.bits.items():
            if not key.startswith("re:"):
                continue
            rx = re.compile(key[3:])
            hits = [i for i, n in enumerate(names) if rx.fullmatch(n)]
            if not hits:
                raise PlanError(f"{self.source}: regex {key!r} matches no cluster (layout {self.layout_name()})")
            for i in hits:
                if out[i] < 0:
                    out[i] = FLOAT_BITS if value is None else value
        out[out < 0] = FLOAT_BITS if default is None else default
        return out

    def __str__(self) -> str:
        return "\n".join(f"{k}: {v}" for k, v in self.bits.items())


PlanLike = Union[Plan, int, str, Path, dict]


def as_plan(plan: PlanLike, granularity: Optional[str] = None, bias: Optional[str] = None) -> Plan:
    """A :class:`Plan` from a plan, a uniform bit-width, a plan.yaml path or a plan mapping."""
    if isinstance(plan, Plan):
        p = plan
    elif isinstance(plan, int):
        p = Plan.uniform(plan)
    elif isinstance(plan, dict):
        p = Plan.from_dict(plan)
    else:
        p = Plan.read(plan)
    if granularity is not None or bias is not None:
        p = replace(p, granularity=granularity or p.granularity, bias=bias or p.bias)
    return p


def average_bits(cmap: ClusterMap, bits: np.ndarray) -> float:
    """Parameter-weighted average bits over the clustered weights (fp32 clusters count 32)."""
    sizes = cmap.cluster_sizes()
    return float((sizes * bits).sum() / max(sizes.sum(), 1))
