"""Bulk reading of binary CompactLattice archives: every complete lattice in the read buffer at once.

The per-lattice reader (:func:`kaldi_mpq.lattice.fst_binary.read_binary_lattice`) spends most of its
time on fixed per-lattice costs (a dozen numpy calls for a lattice of ~50 arcs). Here the records of
all the lattices buffered are located with one tight Python loop, then every field of every arc and
state of the whole buffer is gathered with one numpy call each, checked with one vectorised pass, and
each lattice gets views (slices) of those arrays. Alignment strings (the bulk of the bytes and rarely
needed for best paths) are decoded only when a lattice's ``ali_*`` arrays are first used.

Only the common case is taken here: ``key`` + space + ``compactlattice44`` with start state 0 whose
states are already in topological order (as Kaldi's decoders write them) and which passes every check
of :meth:`Lattice.from_csr`. At the first entry that is anything else (text, ``lattice4``, unsorted
states, a malformed or truncated lattice, a lattice running past the buffer) the bulk pass stops
before it and the per-lattice reader takes that entry, so results and error messages (archive, key,
byte offset) are exactly the per-lattice reader's.

A lattice read here keeps a reference to the buffer it came from (about 1 MB) until its alignment
arrays are decoded, so memory stays bounded by the archive bytes of the lattices alive.
"""

from __future__ import annotations

import re
import struct

import numpy as np

from kaldi_mpq.kaldi_io import CHUNK_BYTES, ByteWindow
from kaldi_mpq.lattice.fst_binary import COMPACT_ARC_TYPE, MAGIC_BYTES, FstHeader, _HEADER_TAIL
from kaldi_mpq.lattice.lattice import Lattice

# key (as ByteWindow.read_token reads it), one space, and an OpenFst header up to its fixed-size tail
_ENTRY = re.compile(
    rb"([^ \t\r\n]+) (" + re.escape(MAGIC_BYTES + struct.pack("<i", 6) + b"vector" + struct.pack("<i", 16)
                                     + COMPACT_ARC_TYPE.encode()) + rb")",
    re.DOTALL,
)
_TAIL = _HEADER_TAIL.size
_new_lattice = object.__new__
_new_header = object.__new__


def _strided(buf: bytes, dtype: str) -> np.ndarray:
    """``v[b]`` = the 4-byte value starting at byte ``b`` of ``buf`` (unaligned reads)."""
    return np.ndarray((max(len(buf) - 3, 0),), dtype=dtype, buffer=buf, strides=(1,))


class _BufferAlignments:
    """Decodes, on demand, the alignment strings of lattices read from one buffer.

    Byte positions refer to ``buf``: ``arc_pos`` of each arc record (ilabel), ``state_pos`` of each
    final-weight record, with their string lengths.
    """

    __slots__ = ("buf", "arc_pos", "alen", "state_pos", "flen")

    def __init__(self, buf, arc_pos, alen, state_pos, flen):
        self.buf, self.arc_pos, self.alen, self.state_pos, self.flen = buf, arc_pos, alen, state_pos, flen

    def __call__(self, a0: int, a1: int, s0: int, s1: int) -> dict:
        v = _strided(self.buf, "<i4")
        ali_off, ali = _gather_strings(v, self.arc_pos[a0:a1] + 20, self.alen[a0:a1])
        fali_off, fali = _gather_strings(v, self.state_pos[s0:s1] + 12, self.flen[s0:s1])
        return {"ali_offsets": ali_off, "ali_data": ali, "final_ali_offsets": fali_off, "final_ali_data": fali}


def _gather_strings(v: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR (offsets int64 [n+1], data int32) of the int32 strings ``v[starts[i] + 4 * j]``, j < lens[i]."""
    off = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=off[1:])
    total = int(off[-1])
    if total == 0:
        return off, np.zeros(0, dtype=np.int32)
    idx = np.repeat(starts - 4 * off[:-1], lens)
    idx += 4 * np.arange(total, dtype=np.int64)
    return off, v[idx].astype(np.int32)


def read_binary_lattices_bulk(win: ByteWindow) -> list[tuple[str, Lattice, int]]:
    """Read every complete, well-formed, topologically sorted binary CompactLattice entry buffered
    from the window's position on, as ``(key, lattice, byte offset of the lattice)``.

    Advances the window past them and stops before the first entry it does not take (see the
    module docstring); returns ``[]`` when the next entry is not for it.
    """
    win.fill(CHUNK_BYTES // 2)
    buf, base = win.buf, win.base
    scan = _scan(buf, win.pos)
    n = len(scan.keys)
    if n == 0:
        return []
    size = len(buf)
    v = _strided(buf, "<i4")
    vf = _strided(buf, "<f4")
    ns = np.asarray(scan.num_states, dtype=np.int64)
    na = np.asarray(scan.num_arcs, dtype=np.int64)
    state_pos = 4 * np.asarray(scan.state_words, dtype=np.int64) + np.repeat(np.asarray(scan.shift), ns)
    arc_pos = 4 * np.asarray(scan.arc_words, dtype=np.int64) + np.repeat(np.asarray(scan.shift), na)
    state_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(ns, out=state_off[1:])
    arc_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(na, out=arc_off[1:])
    # A corrupt lattice may have sent the scan anywhere (negative lengths): clip the positions so
    # that every read below is inside the buffer; such a lattice is flagged and not taken.
    lim = size - 28
    bad_state = (state_pos < 0) | (state_pos > lim)
    bad_arc = (arc_pos < 0) | (arc_pos > lim)
    np.clip(state_pos, 0, lim, out=state_pos)
    np.clip(arc_pos, 0, lim, out=arc_pos)
    # per state: final weight (graph, acoustic, alignment length), then the int64 arc count
    fg = vf[state_pos].astype(np.float64)
    fa = vf[state_pos + 4].astype(np.float64)
    flen = v[state_pos + 8].astype(np.int64)
    count_pos = np.clip(state_pos + 12 + 4 * flen, 0, size - 8)
    nper = v[count_pos].astype(np.int64)
    bad_state |= (flen < 0) | (nper < 0) | (v[count_pos + 4] != 0)
    np.maximum(nper, 0, out=nper)
    # per arc: ilabel (= olabel = word), weight, alignment length; the next state after the string
    word = v[arc_pos]
    alen = v[arc_pos + 16].astype(np.int64)
    dst = v[np.clip(arc_pos + 20 + 4 * alen, 0, size - 4)]
    ns_of_arc = np.repeat(ns, na)
    bad_arc |= (word != v[arc_pos + 4]) | (word < 0) | (alen < 0) | (dst < 0) | (dst >= ns_of_arc)
    # per lattice: some final state; arc counts agreeing with the scan's
    has_final = np.logical_or.reduceat(np.isfinite(fg + fa), state_off[:-1])
    take = _first_bad(n, bad_state, np.repeat(np.arange(n), ns), bad_arc, np.repeat(np.arange(n), na),
                      ~has_final | (np.add.reduceat(nper, state_off[:-1]) != na))
    # states must be in topological order (src < dst) for the lattice to be taken as it is
    s_end, a_end = int(state_off[take]), int(arc_off[take])
    local = np.arange(s_end, dtype=np.int32) - np.repeat(state_off[:take], ns[:take]).astype(np.int32)
    src = np.repeat(local, nper[:s_end])
    unsorted = np.flatnonzero(src >= dst[:a_end])
    if len(unsorted):
        take = int(np.searchsorted(arc_off, unsorted[0], side="right")) - 1
    if take == 0:
        return []
    graph = vf[arc_pos + 8].astype(np.float64)
    acoustic = vf[arc_pos + 12].astype(np.float64)
    alignments = _BufferAlignments(buf, arc_pos, alen, state_pos, flen)
    so, ao = state_off.tolist(), arc_off.tolist()
    out = []
    for j in range(take):
        s0, s1, a0, a1 = so[j], so[j + 1], ao[j], ao[j + 1]
        hdr = FstHeader("vector", COMPACT_ARC_TYPE, *scan.headers[j])
        lat = Lattice.trusted(scan.keys[j], s1 - s0, src[a0:a1], dst[a0:a1], word[a0:a1], graph[a0:a1],
                              acoustic[a0:a1], fg[s0:s1], fa[s0:s1], hdr, (alignments, a0, a1, s0, s1))
        out.append((scan.keys[j], lat, base + scan.starts[j]))
    win.pos = scan.entry_ends[take - 1]
    return out


def _first_bad(n: int, bad_state, lat_of_state, bad_arc, lat_of_arc, bad_lat) -> int:
    """Index of the first lattice with any flag set (n if none)."""
    first = n
    for flags, owner in ((bad_state, lat_of_state), (bad_arc, lat_of_arc)):
        hit = np.flatnonzero(flags)
        if len(hit):
            first = min(first, int(owner[hit[0]]))
    hit = np.flatnonzero(bad_lat)
    if len(hit):
        first = min(first, int(hit[0]))
    return first


class _Scan:
    """Where the records of consecutive lattice entries lie in a buffer (word indices per entry
    are relative to the int32 view starting at byte ``shift``)."""

    __slots__ = ("keys", "starts", "entry_ends", "headers", "shift", "num_states", "num_arcs",
                 "state_words", "arc_words")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.starts: list[int] = []  # byte position of each lattice (after "key ")
        self.entry_ends: list[int] = []
        self.headers: list[tuple] = []
        self.shift: list[int] = []
        self.num_states: list[int] = []
        self.num_arcs: list[int] = []
        self.state_words: list[int] = []
        self.arc_words: list[int] = []


def _scan(buf: bytes, pos: int) -> _Scan:
    """Walk the entries from ``pos`` as long as they are complete binary CompactLattices with start
    state 0; record the position of every state's final weight and every arc."""
    size = len(buf)
    scan = _Scan()
    views = [memoryview(buf)[k:k + 4 * ((size - k) // 4)].cast("i") for k in range(min(4, size))]
    match, unpack = _ENTRY.match, _HEADER_TAIL.unpack_from
    state_words, arc_words = scan.state_words, scan.arc_words
    add_state, add_arc = state_words.append, arc_words.append
    while True:
        m = match(buf, pos)
        if m is None:
            break
        tail = m.end()
        body = tail + _TAIL
        if body + 20 > size:
            break
        version, flags, props, start, ns, na_hdr = unpack(buf, tail)
        if flags & 3 or start != 0 or ns <= 0:
            break
        try:
            key = m.group(1).decode()
        except UnicodeDecodeError:
            break
        shift = body & 3
        mv = views[shift]
        p = p0 = body >> 2
        nwords = len(mv)
        if ns > (nwords - p) // 5:  # every state takes at least 5 words
            break
        budget = (nwords - p) // 6  # no more arcs than that can fit
        s_mark, a_mark = len(state_words), len(arc_words)
        try:
            for _ in range(ns):
                add_state(p)
                p += 3 + mv[p + 2]
                na = mv[p]
                p += 2
                budget -= na
                if budget < 0:
                    raise IndexError
                for _ in range(na):
                    add_arc(p)
                    p += 6 + mv[p + 4]
            if not p0 < p <= nwords:
                raise IndexError
        except IndexError:  # runs past the buffer (or is corrupt): left to the per-lattice reader
            del state_words[s_mark:], arc_words[a_mark:]
            break
        scan.keys.append(key)
        scan.starts.append(m.start(2))
        pos = shift + 4 * p
        scan.entry_ends.append(pos)
        scan.headers.append((version, flags, props, start, ns, na_hdr))
        scan.shift.append(shift)
        scan.num_states.append(ns)
        scan.num_arcs.append(len(arc_words) - a_mark)
    return scan
