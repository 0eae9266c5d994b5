"""OpenFst binary ``vector`` FSTs of Kaldi lattices: ``compactlattice44`` and ``lattice4``.

Layout (little-endian), as OpenFst's ``FstHeader`` and ``VectorFst`` write it::

    int32 magic 0x7eb2fdd6 | str fst_type "vector" | str arc_type "compactlattice44" | int32 version (2)
    | int32 flags | uint64 properties | int64 start | int64 num_states | int64 num_arcs
    then per state: final weight, int64 num_arcs, arcs: int32 ilabel, int32 olabel, weight, int32 nextstate

(``str`` = int32 length + bytes). A CompactLatticeWeight is ``float32 graph, float32 acoustic,
int32 n, int32 tid[n]``; a LatticeWeight is just the two floats. In ``lattice4`` arcs ilabel is the
transition id and olabel the word; such lattices are loaded as compact lattices whose strings have
at most one transition id (same paths, same weights, same alignments).

Parsing walks the variable-length records with one tight loop over int32 words that only records
where each arc starts; every field is then gathered with numpy in one go.
"""

from __future__ import annotations

import struct
from typing import IO, NamedTuple

import numpy as np

from kaldi_mpq.errors import LatticeFormatError
from kaldi_mpq.kaldi_io import ByteWindow
from kaldi_mpq.lattice.lattice import Lattice, take_csr
from kaldi_mpq.lattice.weights import check_weights

FST_MAGIC = 2125659606
MAGIC_BYTES = struct.pack("<i", FST_MAGIC)
COMPACT_ARC_TYPE = "compactlattice44"
LATTICE_ARC_TYPE = "lattice4"
_HEADER_TAIL = struct.Struct("<iiQqqq")

# OpenFst property bits used when a lattice is written that was not read from a file.
K_EXPANDED, K_MUTABLE, K_ACCEPTOR, K_NOT_ACCEPTOR = 0x1, 0x2, 0x10000, 0x20000
K_EPSILONS, K_NO_EPSILONS = 0x400000, 0x800000
K_I_EPSILONS, K_NO_I_EPSILONS = 0x1000000, 0x2000000
K_O_EPSILONS, K_NO_O_EPSILONS = 0x4000000, 0x8000000
K_WEIGHTED, K_UNWEIGHTED = 0x100000000, 0x200000000
K_ACYCLIC, K_INITIAL_ACYCLIC, K_TOP_SORTED = 0x800000000, 0x2000000000, 0x4000000000


class FstHeader(NamedTuple):
    """OpenFst header fields as read (see module docstring)."""

    fst_type: str
    arc_type: str
    version: int
    flags: int
    properties: int
    start: int
    num_states: int
    num_arcs: int

    def pack(self) -> bytes:
        ft, at = self.fst_type.encode(), self.arc_type.encode()
        return (MAGIC_BYTES + struct.pack("<i", len(ft)) + ft + struct.pack("<i", len(at)) + at
                + _HEADER_TAIL.pack(self.version, self.flags, self.properties, self.start,
                                    self.num_states, self.num_arcs))


def _read_header(win: ByteWindow, where: str) -> FstHeader:
    off0 = win.offset()
    if not win.fill(8):
        raise LatticeFormatError(f"{where}: byte offset {off0}: truncated OpenFst header")
    head = win.buf[win.pos:win.pos + 4]
    if head != MAGIC_BYTES:
        raise LatticeFormatError(
            f"{where}: byte offset {off0}: bad OpenFst magic {head!r} (expected {MAGIC_BYTES!r})")
    strings = []
    rel = 4  # offset from the header start; the window may move when it refills
    for _ in range(2):
        if not win.fill(rel + 4):
            raise LatticeFormatError(f"{where}: byte offset {off0}: truncated OpenFst header")
        (n,) = struct.unpack_from("<i", win.buf, win.pos + rel)
        if not 0 < n < 256:
            raise LatticeFormatError(f"{where}: byte offset {off0 + rel}: bad string length {n} in OpenFst header")
        if not win.fill(rel + 4 + n + _HEADER_TAIL.size):
            raise LatticeFormatError(f"{where}: byte offset {off0}: truncated OpenFst header")
        q = win.pos + rel
        strings.append(win.buf[q + 4:q + 4 + n].decode(errors="replace"))
        rel += 4 + n
    q = win.pos + rel
    version, flags, props, start, ns, na = _HEADER_TAIL.unpack_from(win.buf, q)
    win.pos = q + _HEADER_TAIL.size
    hdr = FstHeader(strings[0], strings[1], version, flags, props, start, ns, na)
    if hdr.fst_type != "vector":
        raise LatticeFormatError(f"{where}: byte offset {off0}: FST type {hdr.fst_type!r}, expected 'vector'")
    if hdr.arc_type not in (COMPACT_ARC_TYPE, LATTICE_ARC_TYPE):
        raise LatticeFormatError(
            f"{where}: byte offset {off0}: arc type {hdr.arc_type!r}, expected {COMPACT_ARC_TYPE!r} "
            f"or {LATTICE_ARC_TYPE!r}")
    if flags & 3:
        raise LatticeFormatError(f"{where}: byte offset {off0}: FSTs with symbol tables are not supported")
    if ns < 0:
        raise LatticeFormatError(f"{where}: byte offset {off0}: unknown number of states ({ns})")
    return hdr


def _scan_compact(mv: memoryview, num_states: int):
    """Positions (in int32 words) of final weights and arcs of a compactlattice44 body."""
    nwords = len(mv)
    finals = [0] * num_states
    nper = [0] * num_states
    arcs: list[int] = []
    append = arcs.append
    p = 0
    for s in range(num_states):
        finals[s] = p
        n = mv[p + 2]
        if n < 0:
            raise ValueError(f"negative alignment length at state {s}")
        p += 3 + n
        na = mv[p]
        if mv[p + 1] != 0 or na < 0:
            raise ValueError(f"bad arc count at state {s}")
        if na > (nwords - p) // 6:
            raise IndexError  # the body goes on past the bytes buffered so far
        p += 2
        nper[s] = na
        for _ in range(na):
            append(p)
            n = mv[p + 4]
            if n < 0:
                raise ValueError(f"negative alignment length at state {s}")
            p += 6 + n
    if p > nwords:
        raise IndexError
    return finals, nper, arcs, p


def _scan_lattice(mv: memoryview, num_states: int):
    """Positions of final weights and the first arc of each state of a lattice4 body (fixed sizes)."""
    nwords = len(mv)
    finals = [0] * num_states
    nper = [0] * num_states
    firsts = [0] * num_states
    p = 0
    for s in range(num_states):
        finals[s] = p
        na = mv[p + 2]
        if mv[p + 3] != 0 or na < 0:
            raise ValueError(f"bad arc count at state {s}")
        firsts[s] = p + 4
        nper[s] = na
        p += 4 + 5 * na
    if p > nwords:
        raise IndexError
    return finals, nper, firsts, p


def read_binary_lattice(win: ByteWindow, key: str) -> Lattice:
    """Read one binary lattice (either arc type) at the window's position; advances past it.

    Raises:
        LatticeFormatError: naming archive, key and byte offset.
    """
    where = f"{win.name}: key {key!r}"
    off0 = win.offset()
    hdr = _read_header(win, where)
    compact = hdr.arc_type == COMPACT_ARC_TYPE
    ns = hdr.num_states
    if not win.fill(ns * (20 if compact else 16)):  # the least a state takes: no lists for absurd counts
        raise LatticeFormatError(f"{where}: byte offset {off0}: lattice truncated (archive ends inside it)")
    want = max(64, ns * 24)
    while True:
        win.fill(want)
        body = win.pos
        nwords = (len(win.buf) - body) // 4
        mv = memoryview(win.buf)[body:body + 4 * nwords].cast("i")
        try:
            scan = _scan_compact(mv, ns) if compact else _scan_lattice(mv, ns)
            break
        except IndexError:
            mv.release()
            if win.ended():
                raise LatticeFormatError(f"{where}: byte offset {off0}: lattice truncated "
                                         f"(archive ends inside it)") from None
            want = 2 * (len(win.buf) - body) + 64
        except ValueError as e:
            mv.release()
            raise LatticeFormatError(f"{where}: byte offset {off0}: corrupt lattice body ({e})") from None
    mv.release()
    finals, nper, arcpos, end = scan
    w = np.frombuffer(win.buf, dtype="<i4", count=end, offset=body)
    f = w.view("<f4")
    win.pos = body + 4 * end
    fp = np.asarray(finals, dtype=np.int64)
    npa = np.asarray(nper, dtype=np.int64)
    src = np.repeat(np.arange(ns, dtype=np.int32), npa)
    if compact:
        ap = np.asarray(arcpos, dtype=np.int64)
        word = w[ap]
        if not np.array_equal(word, w[ap + 1]):
            raise LatticeFormatError(f"{where}: byte offset {off0}: compact lattice arc with ilabel != olabel")
        alen = w[ap + 4].astype(np.int64)
        flen = w[fp + 2].astype(np.int64)
        if (alen < 0).any() or (flen < 0).any():
            raise LatticeFormatError(f"{where}: byte offset {off0}: negative alignment length")
        ali_off, ali = _gather_csr(w, ap + 5, alen)
        fali_off, fali = _gather_csr(w, fp + 3, flen)
        dst = w[ap + 5 + alen]
        graph, acoustic = f[ap + 2], f[ap + 3]
    else:
        firsts = np.asarray(arcpos, dtype=np.int64)
        total = int(npa.sum())
        ap = np.repeat(firsts - 5 * np.r_[0, np.cumsum(npa)[:-1]], npa) + 5 * np.arange(total, dtype=np.int64)
        tid = w[ap]
        word = w[ap + 1]
        graph, acoustic = f[ap + 2], f[ap + 3]
        dst = w[ap + 4]
        has = tid != 0
        ali_off = np.zeros(total + 1, dtype=np.int64)
        np.cumsum(has, out=ali_off[1:])
        ali = tid[has]
        fali_off, fali = np.zeros(ns + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    with np.errstate(invalid="ignore"):  # a NaN weight is kept as it is
        graph, acoustic, fg, fa = (x.astype(np.float64) for x in (graph, acoustic, f[fp], f[fp + 1]))
    try:
        check_weights(f"{where}: byte offset {off0}", graph, acoustic, fg, fa)
        return Lattice.from_csr(key, ns, src, dst.astype(np.int32), word.astype(np.int32), graph, acoustic,
                                ali_off, ali.astype(np.int32), fg, fa, fali_off, fali.astype(np.int32),
                                start=int(hdr.start), header=hdr, source=win.name, byte_offset=off0)
    except LatticeFormatError as e:  # the window is past this lattice: readers may go on
        raise LatticeFormatError(str(e), recoverable=True) from None


def _gather_csr(w: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The strings ``w[starts[i]:starts[i]+lens[i]]`` (disjoint, increasing) as one CSR array; a
    0/1 mask over the body beats index arithmetic on ~90 transition ids per arc."""
    off = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lens, out=off[1:])
    if off[-1] == 0:
        return off, np.zeros(0, dtype=np.int32)
    marks = np.zeros(len(w) + 1, dtype=np.int8)
    marks[starts] = 1
    marks[starts + lens] -= 1
    mask = np.cumsum(marks[:-1], dtype=np.int8).view(bool)
    return off, w[mask]


# -- writing ------------------------------------------------------------------------------------------

def compute_properties(lat: Lattice, compact: bool) -> int:
    """OpenFst properties that certainly hold for ``lat`` as we write it (topologically sorted)."""
    props = K_EXPANDED | K_MUTABLE | K_ACYCLIC | K_INITIAL_ACYCLIC | K_TOP_SORTED
    if compact:
        props |= K_ACCEPTOR
        eps = bool((lat.word == 0).any())
        props |= (K_EPSILONS | K_I_EPSILONS | K_O_EPSILONS) if eps else (
            K_NO_EPSILONS | K_NO_I_EPSILONS | K_NO_O_EPSILONS)
    fin = lat.is_final
    weighted = (bool((lat.graph_cost != 0).any() or (lat.acoustic_cost != 0).any())
                or bool((lat.final_graph[fin] != 0).any() or (lat.final_acoustic[fin] != 0).any())
                or (compact and (len(lat.ali_data) > 0 or len(lat.final_ali_data) > 0)))
    return props | (K_WEIGHTED if weighted else K_UNWEIGHTED)


def _file_layout(lat: Lattice):
    """(state order to write, dst ids as written, start id) honouring ``file_states``."""
    if lat.header is not None and lat.file_states is not None:
        fs = lat.file_states
        order = np.argsort(fs)
        return order, fs[lat.dst], int(fs[0])
    return np.arange(lat.num_states), lat.dst, 0


def write_binary_lattice(out: IO[bytes], lat: Lattice, compact: bool = True) -> None:
    """Write ``lat`` as an OpenFst binary ``compactlattice44`` (or ``lattice4``) FST."""
    if not compact:
        lat = expand_to_single_tids(lat)
    arc_type = COMPACT_ARC_TYPE if compact else LATTICE_ARC_TYPE
    order, dst_out, start = _file_layout(lat)
    hdr = lat.header
    if hdr is None or hdr.arc_type != arc_type or hdr.num_states != lat.num_states:
        hdr = FstHeader("vector", arc_type, 2, 0, compute_properties(lat, compact), start, lat.num_states, 0)
    out.write(hdr.pack())
    out.write(_body(lat, order, dst_out, compact).tobytes())


def _body(lat: Lattice, order: np.ndarray, dst_out: np.ndarray, compact: bool) -> np.ndarray:
    ns = lat.num_states
    off = lat.arc_offsets
    nper = np.diff(off)[order]
    arc_idx = np.concatenate([np.arange(off[s], off[s + 1]) for s in order]) if ns else np.zeros(0, np.int64)
    arc_idx = arc_idx.astype(np.int64)
    if compact:
        alen = lat.ali_lengths[arc_idx]
        flen = np.diff(lat.final_ali_offsets)[order]
        arc_words = 6 + alen
        fin_words = 3 + flen
    else:
        alen = np.zeros(len(arc_idx), np.int64)
        flen = np.zeros(ns, np.int64)
        arc_words = np.full(len(arc_idx), 5, np.int64)
        fin_words = np.full(ns, 2, np.int64)
    arcs_per_state = np.zeros(ns, np.int64)
    np.add.at(arcs_per_state, np.repeat(np.arange(ns), nper), arc_words)
    state_words = fin_words + 2 + arcs_per_state
    state_start = np.r_[0, np.cumsum(state_words)[:-1]].astype(np.int64)
    total = int(state_words.sum())
    body = np.zeros(total, dtype="<i4")
    bf = body.view("<f4")
    bf[state_start] = lat.final_graph[order]
    bf[state_start + 1] = lat.final_acoustic[order]
    narc_pos = state_start + fin_words
    body[narc_pos] = nper
    # arc start positions: after the count of their state, cumulated within the state
    first_arc = np.r_[0, np.cumsum(nper)[:-1]]
    within = np.r_[0, np.cumsum(arc_words)[:-1]] - np.repeat(np.r_[0, np.cumsum(arc_words)][first_arc], nper)
    ap = np.repeat(narc_pos + 2, nper) + within
    if compact:
        body[ap] = lat.word[arc_idx]
        body[ap + 1] = lat.word[arc_idx]
        bf[ap + 2] = lat.graph_cost[arc_idx]
        bf[ap + 3] = lat.acoustic_cost[arc_idx]
        body[ap + 4] = alen
        _scatter_csr(body, ap + 5, lat.ali_offsets, lat.ali_data, arc_idx)
        body[ap + 5 + alen] = dst_out[arc_idx]
        body[state_start + 2] = flen
        _scatter_csr(body, state_start + 3, lat.final_ali_offsets, lat.final_ali_data, order)
    else:
        tid = np.zeros(lat.num_arcs, np.int32)
        has = lat.ali_lengths == 1
        tid[has] = lat.ali_data[lat.ali_offsets[:-1][has]]
        body[ap] = tid[arc_idx]
        body[ap + 1] = lat.word[arc_idx]
        bf[ap + 2] = lat.graph_cost[arc_idx]
        bf[ap + 3] = lat.acoustic_cost[arc_idx]
        body[ap + 4] = dst_out[arc_idx]
    return body


def _scatter_csr(body: np.ndarray, starts: np.ndarray, offsets: np.ndarray, data: np.ndarray, rows: np.ndarray) -> None:
    off, vals = take_csr(offsets, data, rows)
    lens = np.diff(off)
    if len(vals):
        body[np.repeat(starts - off[:-1], lens) + np.arange(len(vals))] = vals


def expand_to_single_tids(lat: Lattice) -> Lattice:
    """The same lattice with at most one transition id per arc and none on final weights (the
    ``Lattice`` form): an arc with a longer string becomes a chain carrying its word and weight on
    the first arc, as Kaldi's ConvertLattice does; a final string becomes a chain to a new final
    state."""
    alen = lat.ali_lengths
    flen = np.diff(lat.final_ali_offsets)
    if (alen <= 1).all() and (flen[lat.is_final] == 0).all():
        return lat
    src, dst, word, g, a, ali = [], [], [], [], [], []
    n = lat.num_states
    fg = lat.final_graph.tolist()
    fa = lat.final_acoustic.tolist()
    for i in range(lat.num_arcs):
        tids = lat.ali(i).tolist() or [0]
        s = int(lat.src[i])
        for j, t in enumerate(tids):
            last = j == len(tids) - 1
            d = int(lat.dst[i]) if last else n
            if not last:
                n += 1
                fg.append(np.inf)
                fa.append(np.inf)
            src.append(s), dst.append(d), ali.append([t] if t else [])
            word.append(int(lat.word[i]) if j == 0 else 0)
            g.append(float(lat.graph_cost[i]) if j == 0 else 0.0)
            a.append(float(lat.acoustic_cost[i]) if j == 0 else 0.0)
            s = d
    for st in np.flatnonzero(lat.is_final & (flen > 0)).tolist():
        s = st
        for j, t in enumerate(lat.final_ali(st).tolist()):
            src.append(s), dst.append(n), ali.append([t]), word.append(0)
            g.append(fg[st] if j == 0 else 0.0), a.append(fa[st] if j == 0 else 0.0)
            fg.append(np.inf), fa.append(np.inf)
            s = n
            n += 1
        fg[s], fa[s] = 0.0, 0.0
        fg[st], fa[st] = np.inf, np.inf
    return Lattice.from_arrays(lat.key, n, src, dst, word, g, a, fg, fa, ali=ali)
