"""HTK Standard Lattice Format (SLF) import into :class:`~kaldi_mpq.lattice.lattice.Lattice`.

Sample (optionally gzip'd)::

    VERSION=1.1
    lmscale=12.3 wdpenalty=0.7
    N=3   L=2
    I=0    t=0.00
    I=1    t=0.25
    J=0    S=0    E=1    W=to      a=-2434.05  l=-87.29

Score mapping (SLF scores are log-likelihoods, natural log unless ``base=B`` is given):

* ``acoustic_cost = -a * ln(B)`` and ``graph_cost = -l * ln(B)`` (Kaldi costs are negated natural logs);
  ``lmscale`` and ``wdpenalty`` in the header are not applied (Kaldi lattices store unscaled costs;
  apply them with ``scale``/``add_word_insertion_penalty`` when wanted).
* Words come from ``W=`` on the link, or else from ``W=`` on the link's end node (node-labelled SLF,
  as pocketsphinx writes). Null words become epsilon (id 0): by default HTK's ``!NULL``, ``!ENTER``,
  ``!EXIT``, ``<s>``, ``</s>``, pocketsphinx's ``!SENT_START``, ``!SENT_END`` and ``<sil>``, and
  filler words written ``[NOISE]`` or ``++NOISE++``. Other words are mapped to words.txt after a
  case change (``case``: pocketsphinx writes lower case, Kaldi's AMI words are upper case); a word
  with a ``(2)`` pronunciation-variant suffix that words.txt lacks is looked up without it; ``v=``
  (pronunciation variant) is ignored. Words words.txt lacks become ``unk`` when one is given.
* The start node is ``start=`` or node 0, the end node ``end=`` or the node without outgoing links.
  The end node is final with weight 0; an epsilon link into the end node from a node with no other
  use of the end node is folded into that node's final weight (Kaldi's form of HTK's ``!EXIT`` link),
  and the end node is dropped when nothing else reaches it.
* Times: ``state_frames = round(t / frame_shift)`` (default shift 0.01 s); arcs carry no
  transition ids, so word frames come from the node times.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Optional

import numpy as np

from kaldi_mpq.errors import LatticeFormatError
from kaldi_mpq.fileio import Pathlike, open_text
from kaldi_mpq.lattice.lattice import Lattice
from kaldi_mpq.text.symbols import SymbolTable

NULL_WORDS = frozenset({"!NULL", "!ENTER", "!EXIT", "<s>", "</s>", "!SENT_START", "!SENT_END", "<sil>"})
_FILLER = re.compile(r"^(\[[^\]\s]+\]|\+\+[^+\s]+\+\+)$")  # [NOISE], ++BREATH++
_VARIANT = re.compile(r"^(.+)\(\d+\)$")  # read(2)
CASES = ("keep", "upper", "lower")


def is_null_word(word: str, null_words: Optional[frozenset[str]] = None) -> bool:
    """Whether an SLF word is epsilon: one of ``null_words``, or by default (``None``) one of
    :data:`NULL_WORDS` or a ``[FILLER]`` / ``++FILLER++`` word."""
    if null_words is not None:
        return word in null_words
    return word in NULL_WORDS or _FILLER.match(word) is not None


def map_word(word: str, symbols: SymbolTable, case: str = "keep", unk: Optional[str] = None) -> Optional[int]:
    """The words.txt id of a (non-null) SLF word after the ``case`` change; a ``(N)`` variant suffix is
    dropped when needed; a word words.txt lacks gets ``unk``'s id, or None without ``unk``."""
    w = word.upper() if case == "upper" else word.lower() if case == "lower" else word
    if w in symbols:
        return symbols[w]
    m = _VARIANT.match(w)
    if m and m.group(1) in symbols:
        return symbols[m.group(1)]
    return symbols[unk] if unk is not None else None


def _fields(line: str) -> dict[str, str]:
    out = {}
    for tok in line.split():
        k, eq, v = tok.partition("=")
        if eq:
            out[k] = v.strip('"')
    return out


def read_slf(path: Pathlike, symbols: SymbolTable, key: Optional[str] = None, frame_shift: float = 0.01,
             null_words: Optional[frozenset[str]] = None, case: str = "keep", unk: Optional[str] = None) -> Lattice:
    """Read an HTK SLF lattice (see the module docstring for the mapping).

    Args:
        path: the ``.slf`` (or ``.slf.gz``) file.
        symbols: words.txt; every word must be in it (or be a null word), unless ``unk`` is given.
        key: utterance id; default ``UTTERANCE=`` from the header, else the file stem.
        frame_shift: seconds per frame for node times.
        null_words: the words that become epsilon (default: see :func:`is_null_word`).
        case: ``keep``, ``upper`` or ``lower``: the case change before looking words up.
        unk: the words.txt symbol for words it lacks (default: such a word is an error).

    Raises:
        LatticeFormatError: malformed lines, unknown words, no links; names file and line.
    """
    if case not in CASES:
        raise ValueError(f"case must be one of {', '.join(CASES)}, not {case!r}")
    if unk is not None and unk not in symbols:
        raise LatticeFormatError(f"{path}: the unk symbol {unk!r} is not in {symbols.source}")
    path = Path(path)
    header: dict[str, str] = {}
    nodes: dict[int, dict[str, str]] = {}
    links: list[tuple[int, dict[str, str]]] = []
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fl = _fields(line)
            if "UTTERANCE" in line.split("=", 1)[0]:
                header["UTTERANCE"] = line.split("=", 1)[1].strip().strip('"')
            elif "J" in fl:
                links.append((lineno, fl))
            elif "I" in fl:
                try:
                    i = int(fl["I"])
                    float(fl.get("t", 0.0))
                except ValueError:
                    raise LatticeFormatError(f"{path}:{lineno}: bad node line {line[:80]!r}") from None
                nodes[i] = fl
            else:
                for k in ("N", "L", "start", "end"):
                    if k in fl and not fl[k].isdigit():
                        raise LatticeFormatError(f"{path}:{lineno}: bad header field {k}={fl[k]!r}")
                header.update(fl)
    name = str(path)
    key = key or header.get("UTTERANCE", path.name.split(".")[0]).replace(" ", "_")
    if not links:
        raise LatticeFormatError(f"{name}: key {key!r}: no links (J=...) in the SLF file")
    try:
        ln_base = math.log(float(header["base"])) if "base" in header else 1.0
    except ValueError:
        raise LatticeFormatError(f"{name}: key {key!r}: bad base={header['base']!r}") from None
    num_nodes = int(header.get("N", max(nodes) + 1 if nodes else 0))
    src, dst, word, g, a = [], [], [], [], []
    for lineno, fl in links:
        try:
            s, e = int(fl["S"]), int(fl["E"])
            w = fl.get("W", nodes.get(e, {}).get("W", "!NULL"))
            g.append(-float(fl.get("l", 0.0)) * ln_base)
            a.append(-float(fl.get("a", 0.0)) * ln_base)
            if s < 0 or e < 0:
                raise ValueError
        except (KeyError, ValueError):
            raise LatticeFormatError(f"{name}:{lineno}: key {key!r}: bad link line") from None
        if is_null_word(w, null_words):
            wid = 0
        else:
            found = map_word(w, symbols, case, unk)
            if found is None:
                raise LatticeFormatError(
                    f"{name}:{lineno}: key {key!r}: word {w!r} is not in {symbols.source}"
                    + (f" (as {w.upper() if case == 'upper' else w.lower()!r})" if case != "keep" else "")
                    + "; map such words with --unk")
            wid = found
        src.append(s), dst.append(e), word.append(wid)
        num_nodes = max(num_nodes, s + 1, e + 1)
    start = int(header.get("start", 0))
    src_a, dst_a = np.asarray(src), np.asarray(dst)
    if "end" in header:
        end = int(header["end"])
    else:
        sinks = np.setdiff1d(np.arange(num_nodes), src_a)
        if len(sinks) != 1:
            raise LatticeFormatError(f"{name}: key {key!r}: {len(sinks)} nodes without outgoing links; give end=")
        end = int(sinks[0])
    fg = np.full(num_nodes, np.inf)
    fa = np.full(num_nodes, np.inf)
    fg[end] = fa[end] = 0.0
    # fold epsilon links into the end node into final weights
    into_end = np.flatnonzero(dst_a == end)
    foldable = [i for i in into_end.tolist() if word[i] == 0 and int((src_a[into_end] == src[i]).sum()) == 1
                and not np.isfinite(fg[src[i]]) and src[i] != end]
    keep = np.ones(len(src), dtype=bool)
    for i in foldable:
        fg[src[i]], fa[src[i]] = g[i], a[i]
        keep[i] = False
    times = np.zeros(num_nodes, dtype=np.int32)
    for i, fl in nodes.items():
        if "t" in fl:
            times[i] = int(round(float(fl["t"]) / frame_shift))
    if keep[into_end].sum() == 0:  # nothing reaches the end node any more: drop it
        fg[end] = fa[end] = np.inf
        if end == num_nodes - 1 and not (src_a[keep] == end).any():
            num_nodes -= 1
            fg, fa, times = fg[:-1], fa[:-1], times[:-1]
    sel = np.flatnonzero(keep)
    return Lattice.from_arrays(
        key, num_nodes, src_a[sel], dst_a[sel], np.asarray(word)[sel], np.asarray(g)[sel],
        np.asarray(a)[sel], fg, fa, start=start, state_frames=times, source=name,
    )
