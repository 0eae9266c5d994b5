"""Bulk reading of binary CompactLattice archives: every complete lattice in the read buffer at once.

The per-lattice reader (:func:`kaldi_mpq.lattice.fst_binary.read_binary_lattice`) spends most of its
time on fixed per-lattice costs (a dozen numpy calls for a lattice of ~50 arcs). Here the records of
all the lattices buffered are located with one tight Python loop, then every field of every arc and
state of the whole buffer is gathered with one numpy call each, checked with one vectorised pass, and
each lattice gets views (slices) of those arrays. Alignment strings (the bulk of the bytes, not
needed for best paths) are decoded only when the ``ali_*`` arrays of a lattice are first used, then
for all the lattices of its buffer at once.

Only the common case is taken here: ``key`` + space + ``compactlattice44`` with start state 0 whose
states are already in topological order (as Kaldi's decoders write them) and which passes every check
of :meth:`Lattice.from_csr`. At the first entry that is anything else (text, ``lattice4``, unsorted
states, a malformed or truncated lattice, a lattice running past the buffer) the bulk pass stops
before it and the per-lattice reader takes that entry, so results and error messages (archive, key,
byte offset) are exactly the per-lattice reader's.

Lattices read here share arrays with the other lattices of their buffer (about 1 MB of archive);
those arrays are read-only, as :class:`Lattice` arrays are never written into. Lattices keep the
buffer itself until their alignments are decoded: memory stays bounded by the archive bytes of the
buffers that have a lattice alive.
"""

from __future__ import annotations

import array
import re
import struct
from typing import Optional

import numpy as np

from kaldi_mpq.kaldi_io import CHUNK_BYTES, ByteWindow
from kaldi_mpq.lattice.fst_binary import COMPACT_ARC_TYPE, MAGIC_BYTES, FstHeader, _HEADER_TAIL
from kaldi_mpq.lattice.lattice import Alignments, Lattice
from kaldi_mpq.lattice.weights import valid_weights

# key (a Kaldi token: no whitespace, no control character), one space, and an OpenFst header up to
# its fixed-size tail
_ENTRY = re.compile(
    rb"([\x21-\x7e\x80-\xfe]+) (" + re.escape(MAGIC_BYTES + struct.pack("<i", 6) + b"vector" + struct.pack("<i", 16)
                                     + COMPACT_ARC_TYPE.encode()) + rb")",
    re.DOTALL,
)
_TAIL = _HEADER_TAIL.size


def _strided(buf: bytes, dtype: str) -> np.ndarray:
    """``v[b]`` = the 4-byte value starting at byte ``b`` of ``buf`` (unaligned reads)."""
    return np.ndarray((max(len(buf) - 3, 0),), dtype=dtype, buffer=buf, strides=(1,))


class _BufferAlignments:
    """Decodes, when the first lattice needs them, the alignment strings of all the lattices read
    from one buffer, and hands each lattice its part (views); the buffer is dropped once decoded.

    Byte positions refer to ``buf``: ``arc_pos`` of each arc record (ilabel), ``state_pos`` of each
    final-weight record, with their string lengths.
    """

    __slots__ = ("buf", "arc_pos", "alen", "state_pos", "flen", "decoded")

    def __init__(self, buf, arc_pos, alen, state_pos, flen):
        self.buf, self.arc_pos, self.alen, self.state_pos, self.flen = buf, arc_pos, alen, state_pos, flen
        self.decoded = None

    def part(self, a0: int, a1: int, s0: int, s1: int) -> Alignments:
        """The alignments of arcs ``a0:a1`` and states ``s0:s1`` of the buffer (one lattice)."""
        if self.decoded is None:
            v = _strided(self.buf, "<i4")
            self.decoded = (_gather_strings(v, self.arc_pos + 20, self.alen)
                            + _gather_strings(v, self.state_pos + 12, self.flen))
            for shared in self.decoded[1::2]:
                shared.flags.writeable = False
            self.buf = self.arc_pos = self.alen = self.state_pos = self.flen = None
        ali_off, ali, fali_off, fali = self.decoded
        return Alignments(ali_off[a0:a1 + 1] - ali_off[a0], ali[ali_off[a0]:ali_off[a1]],
                          fali_off[s0:s1 + 1] - fali_off[s0], fali[fali_off[s0]:fali_off[s1]])


class _DeferredAlignments:
    """One lattice's alignments in a :class:`_BufferAlignments` (a ``DeferredAlignments``)."""

    __slots__ = ("buffer", "a0", "a1", "s0", "s1")

    def __init__(self, buffer: _BufferAlignments, a0: int, a1: int, s0: int, s1: int):
        self.buffer, self.a0, self.a1, self.s0, self.s1 = buffer, a0, a1, s0, s1

    def decode(self) -> Alignments:
        return self.buffer.part(self.a0, self.a1, self.s0, self.s1)


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
    win.prefetch(CHUNK_BYTES // 2)
    buf, base = win.buf, win.base
    scan = _scan(buf, win.pos)
    n = len(scan.keys)
    if n == 0:
        return []
    size = len(buf)
    v, vf = _strided(buf, "<i4"), _strided(buf, "<f4")
    ns = np.asarray(scan.num_states, dtype=np.int64)
    shift = np.asarray(scan.shift, dtype=np.int64)
    state_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(ns, out=state_off[1:])
    lat_of_state = np.repeat(np.arange(n), ns)
    # Stage 1, states: final weight (graph, acoustic, alignment length), then the int64 arc count.
    # A corrupt lattice may have sent the scan anywhere (negative lengths): positions are clipped so
    # that every read is inside the buffer, and such a lattice is flagged, never taken.
    state_pos = 4 * np.frombuffer(scan.state_words, dtype=np.int64) + shift[lat_of_state]
    bad_state = (state_pos < 0) | (state_pos > size - 20)
    np.clip(state_pos, 0, size - 20, out=state_pos)
    with np.errstate(invalid="ignore"):
        fg = vf[state_pos].astype(np.float64)
        fa = vf[state_pos + 4].astype(np.float64)
    flen = v[state_pos + 8].astype(np.int64)
    count_pos = np.clip(state_pos + 12 + 4 * flen, 0, size - 8)
    nper = v[count_pos].astype(np.int64)
    bad_state |= (flen < 0) | (nper < 0) | (v[count_pos + 4] != 0) | ~valid_weights(fg, fa)
    np.maximum(nper, 0, out=nper)
    recorded = np.where(nper == 1, 0, nper)  # the scan records the arcs of states with several
    bad_lat = ~np.logical_or.reduceat(np.isfinite(fg) & np.isfinite(fa), state_off[:-1])  # no final state
    bad_lat |= np.add.reduceat(recorded, state_off[:-1]) != np.asarray(scan.multi_arcs)
    take = min(_first(bad_state, lat_of_state, n), _first(bad_lat, None, n))
    if take == 0:
        return []
    # Stage 2, arcs of the lattices kept: ilabel (= olabel = word), weight, alignment length, and
    # the next state after the string. A state's only arc comes right after its arc count.
    s_end = int(state_off[take])
    arc_state = np.repeat(np.arange(s_end), nper[:s_end])
    single = nper[arc_state] == 1
    arc_pos = np.empty(len(arc_state), dtype=np.int64)
    arc_pos[single] = count_pos[arc_state[single]] + 8
    several = arc_state[~single]
    arc_pos[~single] = 4 * np.frombuffer(scan.arc_words, dtype=np.int64)[:len(several)] + shift[lat_of_state[several]]
    bad_arc = (arc_pos < 0) | (arc_pos > size - 24)
    np.clip(arc_pos, 0, size - 24, out=arc_pos)
    lat_of_arc = lat_of_state[arc_state]
    word = v[arc_pos]
    alen = v[arc_pos + 16].astype(np.int64)
    dst = v[np.clip(arc_pos + 20 + 4 * alen, 0, size - 4)]
    src = (arc_state - state_off[lat_of_arc]).astype(np.int32)
    bad_arc |= (word != v[arc_pos + 4]) | (word < 0) | (alen < 0) | (dst < 0) | (dst >= ns[lat_of_arc])
    bad_arc |= src >= dst  # not in topological order: the per-lattice reader renumbers it
    with np.errstate(invalid="ignore"):
        graph = vf[arc_pos + 8].astype(np.float64)
        acoustic = vf[arc_pos + 12].astype(np.float64)
    bad_arc |= ~valid_weights(graph, acoustic)
    take = _first(bad_arc, lat_of_arc, take)
    if take == 0:
        return []
    arc_off = np.searchsorted(lat_of_arc, np.arange(take + 1))
    s_end, a_end = int(state_off[take]), int(arc_off[take])
    alignments = _BufferAlignments(buf, arc_pos[:a_end], alen[:a_end], state_pos[:s_end], flen[:s_end])
    for shared in (src, dst, word, graph, acoustic, fg, fa):  # views of these go to many lattices
        shared.flags.writeable = False
    so, ao = state_off.tolist(), arc_off.tolist()
    out = []
    for j in range(take):
        s0, s1, a0, a1 = so[j], so[j + 1], ao[j], ao[j + 1]
        # checked above (vectorised) and in topological order: no per-lattice checks or copies
        lat = Lattice(scan.keys[j], s1 - s0, src[a0:a1], dst[a0:a1], word[a0:a1], graph[a0:a1], acoustic[a0:a1],
                      fg[s0:s1], fa[s0:s1], _DeferredAlignments(alignments, a0, a1, s0, s1),
                      header=FstHeader(*scan.headers[j]))
        out.append((scan.keys[j], lat, base + scan.starts[j]))
    win.pos = scan.entry_ends[take - 1]
    return out


def _first(flags: np.ndarray, owner: Optional[np.ndarray], n: int) -> int:
    """The lattice (``owner`` of the element, or the index itself) of the first flag set; n if none
    before it."""
    hit = np.flatnonzero(flags)
    if not len(hit):
        return n
    first = int(hit[0]) if owner is None else int(owner[hit[0]])
    return min(first, n)


class _Scan:
    """Where the records of consecutive lattice entries lie in a buffer (word indices per entry
    are relative to the int32 view starting at byte ``shift``)."""

    __slots__ = ("keys", "starts", "entry_ends", "headers", "shift", "num_states", "multi_arcs",
                 "state_words", "arc_words")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.starts: list[int] = []  # byte position of each lattice (after "key ")
        self.entry_ends: list[int] = []
        self.headers: list[tuple] = []
        self.shift: list[int] = []
        self.num_states: list[int] = []
        self.multi_arcs: list[int] = []  # arcs recorded: those of states with more than one
        self.state_words = array.array("q")  # appends as fast as a list's, read by numpy in place
        self.arc_words = array.array("q")  # arcs of states with several (an only arc is found later)


def _scan(buf: bytes, pos: int) -> _Scan:
    """Walk the entries from ``pos`` as long as they are complete binary CompactLattices with start
    state 0; record the position of every state's final weight, and of every arc of the states with
    more than one (a state's only arc starts right after the state's arc count)."""
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
                p += 5 + mv[p + 2]
                na = mv[p - 2]
                if na == 1:  # most states: the arc is not recorded, its place follows from the state's
                    p += 6 + mv[p + 4]
                elif na:
                    budget -= na
                    if budget < 0 or na < 0:
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
        scan.headers.append(("vector", COMPACT_ARC_TYPE, version, flags, props, start, ns, na_hdr))
        scan.shift.append(shift)
        scan.num_states.append(ns)
        scan.multi_arcs.append(len(arc_words) - a_mark)
    return scan
