"""Kaldi's text form of lattices (``ark,t``), as OpenFst's printer writes them.

After ``key`` and a newline, one line per arc, then a line per final state, then an empty line::

    utt1
    0	1	291	10.5,2048.2,5_5_5_18
    1	2	0	0,12.5,18_17
    2	3.25,0,

CompactLattice arcs are ``src dst word graph,acoustic,tids`` (tids joined by ``_``) and finals
``state graph,acoustic,tids``; Lattice arcs are ``src dst tid word graph,acoustic`` and finals
``state graph,acoustic``. A weight of One is omitted; the first line's state is the start state.
Numbers are printed with 6 significant digits, as C++ streams do, so text is lossy.
"""

from __future__ import annotations

import re
from typing import IO

import numpy as np

from kaldi_mpq.errors import LatticeFormatError
from kaldi_mpq.kaldi_io import ByteWindow
from kaldi_mpq.lattice.fst_binary import _file_layout, expand_to_single_tids
from kaldi_mpq.lattice.lattice import Lattice
from kaldi_mpq.lattice.weights import INF, check_weights


_INT32_MAX = 2**31 - 1
_INT = re.compile(r"\+?[0-9]+\Z")  # ids: non-negative int32 (Kaldi's ConvertStringToInteger, no sign)
_REAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
_SPECIAL = {"Infinity": INF, "inf": INF, "-Infinity": -INF, "-inf": -INF}


def _id(tok: str) -> int:
    """A state, word or transition id: a non-negative int32, ASCII digits only."""
    if not _INT.match(tok) or int(tok) > _INT32_MAX:
        raise ValueError(f"{tok!r} is not an id (0..{_INT32_MAX})")
    return int(tok)


def _float(tok: str) -> float:
    """A cost: a decimal number or +-Infinity (NaN and -inf are parsed here and rejected with the
    other weight checks)."""
    if tok in _SPECIAL:
        return _SPECIAL[tok]
    if tok.lower() in ("nan", "-nan", "+nan"):
        return float("nan")
    if not _REAL.match(tok):
        raise ValueError(f"{tok!r} is not a number")
    return float(tok)


def _weight(tok: str) -> tuple[float, float, list[int]]:
    parts = tok.split(",")
    if len(parts) == 2:
        return _float(parts[0]), _float(parts[1]), []
    if len(parts) != 3:
        raise ValueError(tok)
    tids = [_id(t) for t in parts[2].split("_")] if parts[2] else []
    return _float(parts[0]), _float(parts[1]), tids


def read_text_lattice(win: ByteWindow, key: str) -> Lattice:
    """Read one text lattice (either form) after ``key``; the window sits on the newline.

    The lattice ends at an empty line or at the end of the archive; an archive that ends inside a
    line is truncated. State ids are bounded by the number of lines (each line names at most two
    states), so that no input asks for more memory than its size warrants.

    Raises:
        LatticeFormatError: naming archive, key and byte offset; ``recoverable`` (the window is
            past the lattice's empty line) for a bad line or an invalid lattice.
    """
    where = f"{win.name}: key {key!r}"
    first = win.readline()
    if first.strip():
        raise LatticeFormatError(f"{where}: byte offset {win.offset() - len(first)}: expected a newline after the key")
    src, dst, word, g, a, ali = [], [], [], [], [], []
    finals: dict[int, tuple[float, float, list[int]]] = {}
    start = None
    max_state = -1
    lat_off = win.offset()
    while True:
        line_off = win.offset()
        raw = win.readline()
        if not raw:
            break  # EOF ends the last lattice too
        cols = raw.decode(errors="replace").split()
        if not cols:
            break
        try:
            if not raw.endswith(b"\n"):
                raise ValueError("the archive ends inside this line (truncated)")
            s = _id(cols[0])
            if start is None:
                start = s
            max_state = max(max_state, s)
            if len(cols) <= 2:
                finals[s] = _weight(cols[1]) if len(cols) == 2 else (0.0, 0.0, [])
                continue
            if len(cols) == 3:  # compact arc with weight One
                d, w, wt = _id(cols[1]), _id(cols[2]), (0.0, 0.0, [])
            elif len(cols) == 4 and "," in cols[3]:
                d, w, wt = _id(cols[1]), _id(cols[2]), _weight(cols[3])
            elif len(cols) in (4, 5):  # Lattice arc: src dst tid word [weight]
                d, tid, w = _id(cols[1]), _id(cols[2]), _id(cols[3])
                gg, aa, _ = _weight(cols[4]) if len(cols) == 5 else (0.0, 0.0, [])
                wt = (gg, aa, [tid] if tid else [])
            else:
                raise ValueError("expected 1 to 5 columns")
        except ValueError as e:
            if raw.endswith(b"\n"):
                _skip_to_empty_line(win)
            text = raw.decode(errors="replace").strip()
            raise LatticeFormatError(f"{where}: byte offset {line_off}: bad lattice line {text[:200]!r} ({e})",
                                     recoverable=True) from None
        src.append(s), dst.append(d), word.append(w)
        g.append(wt[0]), a.append(wt[1]), ali.append(wt[2])
        max_state = max(max_state, d)
    n = max_state + 1
    if n > 2 * len(src) + len(finals) + 1:
        raise LatticeFormatError(f"{where}: byte offset {lat_off}: state id {max_state} in a lattice of "
                                 f"{len(src)} arcs and {len(finals)} final states (ids must be dense)",
                                 recoverable=True)
    fg = np.full(n, np.inf)
    fa = np.full(n, np.inf)
    fali: list[list[int]] = [[] for _ in range(max(n, 0))]
    for s, (x, y, t) in finals.items():
        fg[s], fa[s], fali[s] = x, y, t
    try:
        check_weights(f"{where}: byte offset {lat_off}", np.asarray(g, dtype=np.float64),
                      np.asarray(a, dtype=np.float64), fg, fa)
        return Lattice.from_arrays(key, n, src, dst, word, g, a, fg, fa, ali=ali, final_ali=fali,
                                   start=start or 0, source=win.name, byte_offset=lat_off)
    except LatticeFormatError as e:
        raise LatticeFormatError(str(e), recoverable=True) from None


def _skip_to_empty_line(win: ByteWindow) -> None:
    """Skip the rest of a lattice after a bad line, so that a tolerant reader may go on."""
    while True:
        rest = win.readline()
        if not rest or not rest.strip():
            return


def _fmt(x: float) -> str:
    if x == float("inf"):
        return "Infinity"
    if x == float("-inf"):
        return "-Infinity"
    return f"{x:.6g}"


def write_text_lattice(out: IO[bytes], lat: Lattice, compact: bool = True) -> None:
    """Write ``lat`` in text form (the newline after the key, the lines, the empty line)."""
    if not compact:
        lat = expand_to_single_tids(lat)
    order, dst_out, _ = _file_layout(lat)
    fs = lat.file_states if (lat.header is not None and lat.file_states is not None) else None
    sid = (lambda s: int(fs[s])) if fs is not None else int
    lines = ["\n"]
    off = lat.arc_offsets.tolist()
    words = lat.word.tolist()
    gs, as_ = lat.graph_cost.tolist(), lat.acoustic_cost.tolist()
    ao = lat.ali_offsets.tolist()
    ad = lat.ali_data.tolist()
    dsts = dst_out.tolist()
    for s in [0] + [x for x in order.tolist() if x != 0]:  # the start state first, as OpenFst prints
        for i in range(off[s], off[s + 1]):
            tids = ad[ao[i]:ao[i + 1]]
            if compact:
                wt = "" if (gs[i] == 0 and as_[i] == 0 and not tids) else \
                    f"\t{_fmt(gs[i])},{_fmt(as_[i])},{'_'.join(map(str, tids))}"
                lines.append(f"{sid(s)}\t{dsts[i]}\t{words[i]}{wt}\n")
            else:
                wt = "" if (gs[i] == 0 and as_[i] == 0) else f"\t{_fmt(gs[i])},{_fmt(as_[i])}"
                lines.append(f"{sid(s)}\t{dsts[i]}\t{tids[0] if tids else 0}\t{words[i]}{wt}\n")
        fg, fa = float(lat.final_graph[s]), float(lat.final_acoustic[s])
        if np.isfinite(fg) and np.isfinite(fa):
            tids = lat.final_ali(s).tolist()
            if fg == 0 and fa == 0 and not tids:
                lines.append(f"{sid(s)}\n")
            elif compact:
                lines.append(f"{sid(s)}\t{_fmt(fg)},{_fmt(fa)},{'_'.join(map(str, tids))}\n")
            else:
                lines.append(f"{sid(s)}\t{_fmt(fg)},{_fmt(fa)}\n")
    lines.append("\n")
    out.write("".join(lines).encode())
