"""A Kaldi grammar ``G.fst`` (OpenFst binary, ``arpa2fst`` output) read back as the back-off n-gram it encodes.

File layout (little-endian), as OpenFst's ``VectorFst`` writes a ``standard`` (tropical, float32) FST::

    int32 magic 0x7eb2fdd6 | str fst_type "vector" | str arc_type "standard" | int32 version
    | int32 flags | uint64 properties | int64 start | int64 num_states | int64 num_arcs
    [symbol tables when flags say so] then per state: float32 final weight, int64 num_arcs,
    arcs: int32 ilabel, int32 olabel, float32 weight, int32 nextstate

(``str`` = int32 length + bytes; a symbol table as OpenFst writes it: int32 magic 2125658996, str name,
int64 available key, int64 size, then (str symbol, int64 key) pairs.)

``arpa2fst --disambig-symbol=#0`` (Kaldi's ``ArpaLmCompiler``) builds one state per history: the empty
history (no back-off arc), the start state for ``<s>``; an n-gram ``h w`` is an arc ``w:w`` from the
state of ``h`` with weight ``-ln p``, to the state of ``h w`` (or of its back-off suffix for the highest
order); ``</s>`` is the final weight of ``h``; the back-off of ``h`` is an arc ``#0:<eps>`` with weight
``-ln bow(h)`` (olabel 0, the way it is recognised here; ``fstproject`` may have made the ilabel 0).
``RemoveRedundantStates`` then drops states with nothing but a back-off arc, moving their back-off
weight onto the arcs that entered them.

Reading gives each state its history, the shortest ``h w`` of the word arcs entering it (a
breadth-first walk from the empty and the ``<s>`` history), and lists every arc as an n-gram. A
dropped state's back-off weight stays inside the probability of the arc that entered it, so every
sentence costs what it costs in the G.fst (and in the ARPA it was built from), word by word up to that
regrouping.
"""

from __future__ import annotations

import logging
import struct

import numpy as np

from kaldi_mpq.errors import ArpaFormatError
from kaldi_mpq.fileio import Pathlike
from kaldi_mpq.ngram.arpa import LN10, ArpaModel
from kaldi_mpq.text.symbols import BOS, EOS, SymbolTable

logger = logging.getLogger(__name__)

FST_MAGIC = 2125659606
SYMBOL_TABLE_MAGIC = 2125658996
_HAS_ISYMBOLS, _HAS_OSYMBOLS = 0x1, 0x2
_ARC = np.dtype([("ilabel", "<i4"), ("olabel", "<i4"), ("weight", "<f4"), ("next", "<i4")])


def is_fst(head: bytes) -> bool:
    """Whether a file starting with ``head`` is an OpenFst binary FST."""
    return head[:4] == struct.pack("<i", FST_MAGIC)


class _Reader:
    def __init__(self, data: bytes, source: str):
        self.data, self.pos, self.source = data, 0, source

    def fail(self, what: str) -> ArpaFormatError:
        return ArpaFormatError(f"{self.source}: bad G.fst: {what} at byte {self.pos}")

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise self.fail("the file ends early")
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out if len(out) > 1 else out[0]

    def string(self) -> str:
        n = self.unpack("<i")
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"a string of {n} bytes")
        out = self.data[self.pos:self.pos + n].decode("utf-8", "replace")
        self.pos += n
        return out

    def skip_symbol_table(self) -> None:
        if self.unpack("<i") != SYMBOL_TABLE_MAGIC:
            raise self.fail("a symbol table without its magic number")
        self.string()
        _, size = self.unpack("<qq")
        for _ in range(size):
            self.string()
            self.unpack("<q")


def read_fst_arcs(path: Pathlike) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(start state, per-state final weight, per-state first arc index (num_states + 1), all arcs)
    of a binary ``vector`` FST with ``standard`` arcs.

    Raises:
        ArpaFormatError: another FST or arc type, or a truncated / inconsistent file.
    """
    data = open(path, "rb").read()
    r = _Reader(data, str(path))
    if r.unpack("<i") != FST_MAGIC:
        raise r.fail("no OpenFst magic number")
    fst_type, arc_type = r.string(), r.string()
    if fst_type != "vector" or arc_type != "standard":
        raise r.fail(f"a {fst_type!r} FST of {arc_type!r} arcs (a G.fst is a 'vector' FST of 'standard' arcs)")
    _, flags, _, start, num_states, num_arcs = r.unpack("<iiQqqq")
    if flags & _HAS_ISYMBOLS:
        r.skip_symbol_table()
    if flags & _HAS_OSYMBOLS:
        r.skip_symbol_table()
    if num_states < 0 or not -1 <= start < max(num_states, 1):
        raise r.fail(f"{num_states} states, start state {start}")
    finals = np.empty(num_states, dtype=np.float32)
    first = np.zeros(num_states + 1, dtype=np.int64)
    chunks = []
    for s in range(num_states):
        finals[s], n = r.unpack("<fq")
        if n < 0 or r.pos + n * _ARC.itemsize > len(data):
            raise r.fail(f"state {s} announces {n} arcs past the end")
        chunks.append(np.frombuffer(data, dtype=_ARC, count=n, offset=r.pos))
        r.pos += n * _ARC.itemsize
        first[s + 1] = first[s] + n
    arcs = np.concatenate(chunks) if chunks else np.zeros(0, dtype=_ARC)
    if arcs.size and (arcs["next"].min() < 0 or arcs["next"].max() >= num_states):
        raise r.fail("an arc to a state that does not exist")
    return int(start), finals, first, arcs


def read_g_fst(path: Pathlike, symbols: SymbolTable) -> ArpaModel:
    """The back-off n-gram a ``G.fst`` encodes (see the module docstring), words from ``symbols``.

    Raises:
        ArpaFormatError: not a G.fst, an arc label ``symbols`` lacks, or more than one back-off arc
            on a state.
    """
    start, finals, first, arcs = read_fst_arcs(path)
    source = str(path)
    if start < 0:
        raise ArpaFormatError(f"{source}: the FST has no start state")
    num_states = finals.size
    backoff = np.full(num_states, -1, dtype=np.int64)
    backoff_weight = np.zeros(num_states, dtype=np.float64)
    owner = np.repeat(np.arange(num_states), np.diff(first))
    is_backoff = arcs["olabel"] == 0
    if np.bincount(owner[is_backoff], minlength=num_states).max(initial=0) > 1:
        raise ArpaFormatError(f"{source}: a state with two back-off (olabel 0) arcs: not an arpa2fst grammar")
    backoff[owner[is_backoff]] = arcs["next"][is_backoff]
    backoff_weight[owner[is_backoff]] = arcs["weight"][is_backoff]
    root = start
    for _ in range(num_states):
        if backoff[root] < 0:
            break
        root = int(backoff[root])
    else:
        raise ArpaFormatError(f"{source}: the back-off arcs from the start state loop")

    def word(label: int) -> str:
        try:
            return symbols.word(int(label))
        except Exception:
            raise ArpaFormatError(f"{source}: arc label {label} is not in {symbols.source}") from None

    history: dict[int, tuple[str, ...]] = {root: ()}
    level = [root]
    if start != root:
        history[start] = (BOS,)
    while level:
        nxt = []
        for s in level:
            h = history[s]
            for k in range(first[s], first[s + 1]):
                if is_backoff[k]:
                    continue
                d = int(arcs["next"][k])
                if d not in history:
                    history[d] = h + (word(arcs["olabel"][k]),)
                    nxt.append(d)
        if start != root and level == [root]:
            nxt.append(start)
        level = nxt
    order = 1 + max(len(h) for h in history.values())
    tables: list[dict] = [{} for _ in range(order)]
    inf = np.float32(np.inf)
    for s, h in history.items():
        for k in range(first[s], first[s + 1]):
            if not is_backoff[k]:
                ng = h + (word(arcs["olabel"][k]),)
                tables[len(ng) - 1][ng] = (-float(arcs["weight"][k]) / LN10, 0.0)
        if finals[s] != inf:
            ng = h + (EOS,)
            tables[len(ng) - 1][ng] = (-float(finals[s]) / LN10, 0.0)
    for s, h in history.items():
        if h:
            p = tables[len(h) - 1].get(h, (-99.0, 0.0))[0]
            tables[len(h) - 1][h] = (p, -float(backoff_weight[s]) / LN10 if backoff[s] >= 0 else 0.0)
    unreached = num_states - len(history)
    if unreached:
        logger.warning("%s: %d states are not reached by word arcs from the start; they are ignored", source, unreached)
    while len(tables) > 1 and not tables[-1]:
        tables.pop()
    for w in (BOS, EOS):
        tables[0].setdefault((w,), (-99.0, 0.0))
    return ArpaModel(order=len(tables), ngrams=tables, source=source)
