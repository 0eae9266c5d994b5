"""Quantization clusters: named groups of parameter rows that share one scale and one bit-width.

Clusters are addressed by **parameter** name (LSTM gate matrices are row slices of ``nn.LSTM``
parameters, not ``nn.Linear`` modules). Every cluster is a set of *rows* of parameters (a 1-D bias is
a column: its element ``r`` is row ``r``), so one integer per row says where each weight belongs.

Granularities (``granularity=``)::

    layer      whole layers: "rnn.l0" (4 gates, both matrices, bias), "blocks.0" (attention + FF),
               "embedding", "pos_embedding", "output"
    sublayer   (default; alias "gate") one cluster per LSTM gate matrix "rnn.l0.i|f|g|o" (its rows of
               weight_ih, weight_hh and bias), per Transformer sublayer "blocks.0.attn", "blocks.0.ff",
               and "embedding", "pos_embedding", "output"
    node       one cluster per output row ("node"): "rnn.l0.f.n17", "blocks.0.ff.fc1.n5",
               "embedding.n42" (a word vector), "output.n42"

Word bands (``word_bands=``, optional, with ``layer`` or ``sublayer``): the word-indexed rows -- the
input embedding and the output layer, 60-90% of a small LM's weights -- are split by word frequency
into bands, one cluster each: "embedding.band0" (the most frequent words), "embedding.band1", ...
and "output.band0", ... A plan can then keep the frequent words' rows at 4 bits and put the long tail
of rare words at 1 bit, which one ``embedding`` cluster cannot. The band of every word id is stored
in the plan (:class:`WordBands`), so a plan means the same rows whatever order the vocabulary is in
(a Kaldi ``words.txt`` is not in frequency order).

Biases (``bias=``): ``"float"`` (default) keeps biases in fp32; ``"column"`` (paper 1's
``Theta_f [x, h, 1]^T``) puts the bias element of row ``r`` in row ``r``'s cluster. Biases are often
much larger than their cluster's weights (a PTB LSTM's output bias reaches 9.0 with weights of std
0.2), so one shared scale clips them: 8-bit PTQ of that model gives validation PPL 183.9 with bias
columns and 114.2 with fp32 biases (fp32 model: 113.9), for 53 KB of fp32 biases. PyTorch's LSTM has two biases,
``bias_ih`` and ``bias_hh``, that are always added; :func:`fold_lstm_biases` replaces them by
``bias_ih + bias_hh`` and ``0`` (the function is unchanged), so ``bias_hh`` is :data:`ZERO`: it is
neither stored nor quantized and stays 0 (not trained).

Everything else (LayerNorm, a tied output layer's bias) stays fp32 (:data:`FLOAT`). Tied weights are
one parameter, listed once under their first name (``embedding.weight``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn

from kaldi_mpq.errors import PlanError

GRANULARITIES = ("layer", "sublayer", "node")
_ALIASES = {"gate": "sublayer"}
BIAS_MODES = ("float", "column")
DEFAULT_BIAS = "float"
LSTM_GATES = ("i", "f", "g", "o")  # PyTorch's row order in weight_ih / weight_hh / biases

#: Top-level modules whose rows are indexed by word id (what :class:`WordBands` split).
WORD_MODULES = ("embedding", "output")
MAX_BANDS = 10  # one digit per word in the plan file

FLOAT = -1  # row kept in fp32
ZERO = -2  # row fixed at 0 (folded LSTM bias_hh)


def normalize_granularity(g: str) -> str:
    g = _ALIASES.get(g, g)
    if g not in GRANULARITIES:
        raise PlanError(f"granularity must be one of {', '.join(GRANULARITIES)} (or 'gate'), got {g!r}")
    return g


@dataclass(frozen=True, eq=False)
class WordBands:
    """The frequency band of every word id (``of_word``: int64 ``[V]``, band 0 = most frequent).

    Written in plan files as ``{sizes: [words per band], of_word: "0012..."}``, one digit per word id.
    """

    of_word: np.ndarray

    def __post_init__(self) -> None:
        a = np.asarray(self.of_word, dtype=np.int64)
        object.__setattr__(self, "of_word", a)
        if a.ndim != 1 or a.size == 0 or a.min() < 0 or a.max() >= MAX_BANDS:
            raise PlanError(f"word bands: expected one band in 0-{MAX_BANDS - 1} per word id")
        if (np.bincount(a) == 0).any():
            raise PlanError("word bands: every band from 0 to the last must have words")

    @property
    def n_bands(self) -> int:
        return int(self.of_word.max()) + 1

    @property
    def vocab_size(self) -> int:
        return int(self.of_word.size)

    def sizes(self) -> list[int]:
        return [int(n) for n in np.bincount(self.of_word)]

    def edges(self) -> list[int]:
        """The frequency ranks where each band after the first starts (the ``edges`` of :meth:`from_counts`)."""
        return [int(e) for e in np.cumsum(self.sizes())[:-1]]

    def __eq__(self, other) -> bool:
        return isinstance(other, WordBands) and np.array_equal(self.of_word, other.of_word)

    @classmethod
    def from_counts(cls, counts: np.ndarray, edges: Sequence[int]) -> "WordBands":
        """Bands by frequency rank: ``edges = (1000, 3000)`` puts the 1,000 most frequent word ids in
        band 0, the next 2,000 in band 1 and the rest in band 2 (equal counts: lower id first)."""
        counts = np.asarray(counts)
        edges = [int(e) for e in edges]
        if not edges or any(b <= a for a, b in zip([0] + edges, edges)) or edges[-1] >= counts.size:
            raise PlanError(f"word band edges must rise from above 0 to below the vocabulary size "
                            f"({counts.size}), got {edges}")
        if len(edges) >= MAX_BANDS:
            raise PlanError(f"at most {MAX_BANDS} word bands ({MAX_BANDS - 1} edges), got {len(edges) + 1}")
        rank = np.empty(counts.size, dtype=np.int64)
        rank[np.lexsort((np.arange(counts.size), -counts))] = np.arange(counts.size)
        return cls(np.searchsorted(np.asarray(edges), rank, side="right"))

    @classmethod
    def from_sentences(cls, sentences: Sequence[Sequence[int]], symbols, edges: Sequence[int]) -> "WordBands":
        """Bands of ``symbols`` (a :class:`~kaldi_mpq.text.symbols.SymbolTable`) by the word counts of id
        ``sentences`` (training text); ``<s>`` and ``</s>`` count once per sentence, as their rows are used."""
        ids = np.fromiter(itertools.chain.from_iterable(sentences), dtype=np.int64)
        counts = np.bincount(ids, minlength=symbols.size)
        counts[[symbols.bos_id, symbols.eos_id]] += len(sentences)
        return cls.from_counts(counts, edges)

    def to_dict(self) -> dict:
        return {"sizes": self.sizes(), "of_word": "".join(map(str, self.of_word.tolist()))}

    @classmethod
    def from_dict(cls, d, where: str = "<plan>") -> "WordBands":
        try:
            text = str(d["of_word"])
            if not text.isdigit():
                raise ValueError("of_word must be digits, one per word id")
            bands = cls(np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - ord("0"))
        except (KeyError, TypeError, ValueError, UnicodeEncodeError, PlanError) as e:
            raise PlanError(f"{where}: bad word_bands ({e})") from None
        if "sizes" in d and list(d["sizes"]) != bands.sizes():
            raise PlanError(f"{where}: word_bands sizes {list(d['sizes'])} disagree with of_word {bands.sizes()}")
        return bands


@dataclass
class ClusterMap:
    """Which cluster each parameter row belongs to.

    Attributes:
        names: cluster names, in model order; index ``k`` is cluster ``k``.
        rows: parameter name -> int64 ``[rows]``: a cluster index, :data:`FLOAT` or :data:`ZERO`.
        shapes: parameter name -> shape, for every (de-duplicated) parameter of the model.
    """

    names: list[str] = field(default_factory=list)
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def cluster_sizes(self) -> np.ndarray:
        """Number of weights in each cluster (int64 ``[C]``)."""
        sizes = np.zeros(len(self.names), dtype=np.int64)
        for p, r in self.rows.items():
            cols = row_width(self.shapes[p])
            mask = r >= 0
            np.add.at(sizes, r[mask], cols)
        return sizes

    def members(self, index: int) -> Iterator[tuple[str, np.ndarray]]:
        """``(parameter, row indices)`` of cluster ``index``."""
        for p, r in self.rows.items():
            sel = np.flatnonzero(r == index)
            if sel.size:
                yield p, sel


def row_width(shape: tuple[int, ...]) -> int:
    """Weights per row of a parameter viewed as ``[rows, cols]`` (1 for a vector)."""
    return int(np.prod(shape[1:])) if len(shape) > 1 else 1


def as_rows(t: torch.Tensor) -> torch.Tensor:
    """The ``[rows, cols]`` view of a parameter (a vector is a column, a scalar one row)."""
    if t.dim() == 0:
        return t.reshape(1, 1)
    return t.reshape(t.shape[0], -1)


def fold_lstm_biases(model: nn.Module) -> None:
    """In place: ``bias_ih <- bias_ih + bias_hh``, ``bias_hh <- 0`` (frozen) in every ``nn.LSTM``."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.LSTM) and mod.bias:
                for name in list(mod._flat_weights_names):
                    if name.startswith("bias_hh"):
                        hh = getattr(mod, name)
                        getattr(mod, name.replace("bias_hh", "bias_ih")).add_(hh)
                        hh.zero_()
                        hh.requires_grad_(False)


class _Builder:
    def __init__(self, params: dict[str, torch.Tensor]):
        self.map = ClusterMap(shapes={n: tuple(p.shape) for n, p in params.items()})
        self.map.rows = {n: np.full(max(1, p.shape[0] if p.dim() else 1), FLOAT, dtype=np.int64)
                         for n, p in params.items()}
        self._index: dict[str, int] = {}
        self._assigned: dict[str, np.ndarray] = {n: np.zeros_like(r, dtype=bool) for n, r in self.map.rows.items()}

    def assign(self, cluster: str, param: str, rows: slice | np.ndarray | int) -> None:
        if param not in self.map.rows:  # a tied duplicate: its rows belong to the first name
            return
        if cluster not in self._index:
            self._index[cluster] = len(self.map.names)
            self.map.names.append(cluster)
        self._set(param, rows, self._index[cluster])

    def mark(self, param: str, rows, value: int) -> None:
        if param in self.map.rows:
            self._set(param, rows, value)

    def _set(self, param: str, rows, value: int) -> None:
        done = self._assigned[param]
        if done[rows].any():
            raise AssertionError(f"{param}: rows {rows} assigned twice")  # internal invariant
        done[rows] = True
        self.map.rows[param][rows] = value


def _layer_of(module_name: str) -> str:
    """The enclosing layer of a sub-module: the path up to its first numeric (ModuleList) component."""
    parts = module_name.split(".")
    for i, p in enumerate(parts):
        if p.isdigit():
            return ".".join(parts[: i + 1])
    return module_name


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def enumerate_clusters(
    model: nn.Module, granularity: str = "sublayer", bias: str = DEFAULT_BIAS,
    word_bands: Optional[WordBands] = None,
) -> ClusterMap:
    """The clusters of ``model`` (module docstring). Every row of every parameter gets exactly one of:
    a cluster, :data:`FLOAT` or :data:`ZERO`.

    ``bias_hh`` rows are :data:`ZERO` only after :func:`fold_lstm_biases`; call it first.
    """
    granularity = normalize_granularity(granularity)
    if bias not in BIAS_MODES:
        raise PlanError(f"bias must be one of {', '.join(BIAS_MODES)}, got {bias!r}")
    if word_bands is not None and granularity == "node":
        raise PlanError("word bands split the word-indexed layers of the layer or sublayer granularity; "
                        "with node granularity every word's row is already a cluster")
    params = dict(model.named_parameters())  # tied parameters once, under their first name
    b = _Builder(params)
    banded = []
    for mname, mod in model.named_modules():
        bands = _word_bands_of(mname, mod, word_bands)
        if bands is not None:
            banded.append(mname)
        if isinstance(mod, nn.LSTM):
            _lstm_clusters(b, mname, mod, granularity, bias)
        elif isinstance(mod, nn.Embedding):
            wname = _join(mname, "weight")
            if granularity == "node":
                for r in range(mod.num_embeddings):
                    b.assign(f"{mname}.n{r}", wname, r)
            elif bands is not None:
                _band_clusters(b, mname, bands, [wname])
            else:
                b.assign(mname, wname, slice(None))
        elif isinstance(mod, nn.Linear):
            _linear_clusters(b, mname, mod, granularity, bias, params, bands)
    if word_bands is not None and not banded:
        raise PlanError(f"word bands given, but the model has no word-indexed layer ({', '.join(WORD_MODULES)})")
    return b.map


def _word_bands_of(mname: str, mod: nn.Module, word_bands: Optional[WordBands]) -> Optional[WordBands]:
    """``word_bands`` if ``mod`` is a word-indexed layer (:data:`WORD_MODULES`), checked against its rows."""
    if word_bands is None or mname not in WORD_MODULES or not isinstance(mod, (nn.Embedding, nn.Linear)):
        return None
    rows = mod.num_embeddings if isinstance(mod, nn.Embedding) else mod.out_features
    if rows != word_bands.vocab_size:
        raise PlanError(f"word bands cover {word_bands.vocab_size} words, but {mname} has {rows} rows "
                        "(bands of another vocabulary?)")
    return word_bands


def _band_clusters(b: _Builder, mname: str, bands: WordBands, members: list[str]) -> None:
    """Cluster ``{mname}.band{k}``: the rows of the words of band ``k`` in every parameter of ``members``."""
    for k in range(bands.n_bands):
        for p in members:
            b.assign(f"{mname}.band{k}", p, bands.of_word == k)


def _lstm_clusters(b: _Builder, mname: str, mod: nn.LSTM, granularity: str, bias: str) -> None:
    if mod.proj_size:
        raise PlanError(f"{mname}: LSTM with proj_size is not supported")
    H = mod.hidden_size
    for layer in range(mod.num_layers):
        for suffix in ("", "_reverse")[: 1 + int(mod.bidirectional)]:
            lname = f"{mname}.l{layer}{'r' if suffix else ''}"
            members = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
            bias_ih, bias_hh = f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"
            if mod.bias:
                hh = _join(mname, bias_hh)
                folded = not bool(getattr(mod, bias_hh).detach().any())
                if bias == "column":
                    members.append(bias_ih)
                    if folded:
                        b.mark(hh, slice(None), ZERO)
                    else:
                        members.append(bias_hh)
                else:
                    b.mark(_join(mname, bias_ih), slice(None), FLOAT)
                    b.mark(hh, slice(None), ZERO if folded else FLOAT)
            for g, gate in enumerate(LSTM_GATES):
                for p in members:
                    full = _join(mname, p)
                    if granularity == "layer":
                        b.assign(lname, full, slice(g * H, (g + 1) * H))
                    elif granularity == "sublayer":
                        b.assign(f"{lname}.{gate}", full, slice(g * H, (g + 1) * H))
                    else:
                        for r in range(H):
                            b.assign(f"{lname}.{gate}.n{r}", full, g * H + r)


def _linear_clusters(b: _Builder, mname: str, mod: nn.Linear, granularity: str, bias: str,
                     params: dict[str, torch.Tensor], bands: Optional[WordBands] = None) -> None:
    wname, bname = _join(mname, "weight"), _join(mname, "bias")
    if wname not in params:  # tied to an embedding: the weight is quantized there
        return
    parent = mname.rsplit(".", 1)[0] if "." in mname else mname
    with_bias = mod.bias is not None and bias == "column"
    if bands is not None:
        _band_clusters(b, mname, bands, [wname, bname] if with_bias else [wname])
        return
    if granularity == "node":
        for r in range(mod.out_features):
            b.assign(f"{mname}.n{r}", wname, r)
            if with_bias:
                b.assign(f"{mname}.n{r}", bname, r)
        return
    cluster = _layer_of(parent) if granularity == "layer" else parent
    b.assign(cluster, wname, slice(None))
    if with_bias:
        b.assign(cluster, bname, slice(None))


def check_coverage(cmap: ClusterMap) -> None:
    """Raise ``AssertionError`` unless every row has a valid owner and every cluster has rows."""
    used = np.zeros(len(cmap.names), dtype=bool)
    for p, r in cmap.rows.items():
        if ((r < ZERO) | (r >= len(cmap.names))).any():
            raise AssertionError(f"{p}: invalid row owners")
        used[r[r >= 0]] = True
    if not used.all():
        raise AssertionError(f"empty clusters: {[n for n, u in zip(cmap.names, used) if not u][:5]}")
