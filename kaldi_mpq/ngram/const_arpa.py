"""Kaldi's ``ConstArpaLm`` binary (``G.carpa``, written by ``arpa-to-const-arpa``), read and written natively.

Layout, as ``ConstArpaLm::Write`` lays it out after Kaldi's binary-object header ``\\0B`` (a token is its
text and one space; an integer is a size byte, 4 or 8, then little-endian bytes)::

    <ConstArpaLm> <LmInfo> int32 bos, int32 eos, int32 unk (-1: none), int32 order </LmInfo>
    <LmStates> int64 S, then S raw int32 words </LmStates>
    <LmUnigram> int32 W, then W raw int64: 1 + offset of word w's state in LmStates, 0 if none </LmUnigram>
    <LmOverflow> int32 V, then V raw int64: 1 + offset of a state </LmOverflow> </ConstArpaLm>

(The older layout, recognised by its first byte 4, has no tokens and writes every number, LmStates
words included, with its size byte; ``S`` is an int32 there.)

An LM state is one n-gram of order < N that is a unigram or has a back-off weight or extensions, at
an offset of ``LmStates``: ``float32 log-prob, float32 back-off, int32 C, then C pairs (int32 word,
int32 child info)``, children sorted by word id, states sorted lexicographically by their word ids so
that a child always follows its parent. Log-probs are natural logs. The child info of an n-gram whose
state would be empty (highest order, or no back-off and no extensions) is its log-prob's float32 bits
with the lowest bit cleared (even); otherwise it is odd: ``2 * (child offset - parent offset) + 1``,
or, when that offset exceeds 2^30 - 1, ``-(2 * i + 1)`` for entry ``i`` of the overflow table. Word
ids are those of the lang dir's ``words.txt``; ``W`` is the largest unigram id + 1.

Reading rebuilds the n-grams (as ``ConstArpaLm::WriteArpa`` does) into an :class:`ArpaModel` whose
words come from ``words.txt``, so a ``G.carpa`` scores exactly as the ARPA it was built from (log-probs
rounded to float32).
"""

from __future__ import annotations

import struct
from typing import Optional

import numpy as np

from kaldi_mpq.errors import ArpaFormatError
from kaldi_mpq.fileio import Pathlike, atomic_write
from kaldi_mpq.ngram.arpa import LN10, ArpaModel
from kaldi_mpq.text.symbols import BOS, EOS, SymbolTable

MAX_ADDRESS_OFFSET = (1 << 30) - 1
BINARY_HEADER = b"\0B"


def is_const_arpa(head: bytes) -> bool:
    """Whether a file starting with ``head`` (its first 16 bytes) is a ``G.carpa``."""
    return head.startswith(BINARY_HEADER + b"<ConstArpaLm>") or head.startswith(BINARY_HEADER + b"\x04")


# -- writing ---------------------------------------------------------------------------------------


def write_const_arpa(arpa: ArpaModel, symbols: SymbolTable, path: Pathlike, unk: Optional[str] = None,
                     max_address_offset: int = MAX_ADDRESS_OFFSET) -> None:
    """Write ``arpa`` as ``arpa-to-const-arpa --bos-symbol --eos-symbol --unk-symbol`` would (atomically).

    Args:
        arpa: the model; every word must be in ``symbols``.
        symbols: the lang dir's words.txt (the ids written).
        unk: the unk symbol written (default: the table's; -1 is written when there is none).
        max_address_offset: the largest child offset kept inline (Kaldi's 2^30 - 1; smaller values
            exercise the overflow table).

    Raises:
        ArpaFormatError: an ARPA word that ``symbols`` lacks, or an n-gram without its history.
    """
    unk = symbols.unk if unk is None else unk
    n = arpa.order

    def ids(ng: tuple[str, ...]) -> tuple[int, ...]:
        try:
            return tuple(symbols[w] for w in ng)
        except KeyError:
            bad = next(w for w in ng if w not in symbols)
            raise ArpaFormatError(f"{arpa.source}: word {bad!r} is not in {symbols.source}") from None

    # n-gram (word ids) -> [log-prob, back-off, children {word: id tuple or log-prob}]
    states: dict[tuple[int, ...], list] = {}
    for k, table in enumerate(arpa.ngrams, 1):
        for ng, (p, b) in table.items():
            key = ids(ng)
            if k < n or n == 1:
                states[key] = [np.float32(p * LN10), np.float32(b * LN10), {}]
            if k > 1:
                parent = states.get(key[:-1])
                if parent is None:
                    raise ArpaFormatError(f"{arpa.source}: {k}-gram {' '.join(ng)!r} has no {k - 1}-gram history")
                parent[2][key[-1]] = key if (k < n or n == 1) else np.float32(p * LN10)

    def size(key: tuple[int, ...]) -> int:
        p, b, children = states[key]
        return 0 if (b == 0.0 and not children and len(key) > 1) else 3 + 2 * len(children)

    order = sorted(k for k in states if size(k) > 0)
    address, total = {}, 0
    for key in order:
        address[key] = total
        total += size(key)
    words = np.zeros(total, dtype=np.int32)
    as_int = lambda f: int(np.float32(f).view(np.int32))  # noqa: E731
    overflow: list[int] = []
    num_words = max(k[0] for k in states if len(k) == 1) + 1
    unigram = np.zeros(num_words, dtype=np.int64)
    for key in order:
        a = address[key]
        p, b, children = states[key]
        words[a], words[a + 1], words[a + 2] = as_int(p), as_int(b), len(children)
        for j, w in enumerate(sorted(children)):
            child = children[w]
            if not isinstance(child, tuple) or size(child) == 0:
                logp = child if not isinstance(child, tuple) else states[child][0]
                info = as_int(logp) & ~1
            else:
                offset = address[child] - a
                if offset <= max_address_offset:
                    info = offset * 2 + 1
                else:
                    overflow.append(address[child])
                    info = -((len(overflow) - 1) * 2 + 1)
            words[a + 3 + 2 * j], words[a + 4 + 2 * j] = w, info
        if len(key) == 1:
            unigram[key[0]] = a + 1
    header = [symbols[BOS], symbols[EOS], symbols[unk] if unk is not None else -1, n]
    with atomic_write(path, "wb", encoding=None) as f:
        f.write(BINARY_HEADER + b"<ConstArpaLm> <LmInfo> ")
        f.write(b"".join(b"\x04" + struct.pack("<i", v) for v in header))
        f.write(b"</LmInfo> <LmStates> \x08" + struct.pack("<q", total) + words.astype("<i4").tobytes())
        f.write(b"</LmStates> <LmUnigram> \x04" + struct.pack("<i", num_words) + unigram.astype("<i8").tobytes())
        f.write(b"</LmUnigram> <LmOverflow> \x04" + struct.pack("<i", len(overflow))
                + (np.asarray(overflow, dtype=np.int64) + 1).astype("<i8").tobytes())
        f.write(b"</LmOverflow> </ConstArpaLm> ")


# -- reading ---------------------------------------------------------------------------------------


class _Reader:
    """Sequential reads of Kaldi binary tokens and numbers, errors naming the file and offset."""

    def __init__(self, data: bytes, source: str):
        self.data, self.pos, self.source = data, 0, source

    def fail(self, what: str) -> ArpaFormatError:
        return ArpaFormatError(f"{self.source}: not a Kaldi ConstArpaLm (G.carpa): {what} at byte {self.pos}")

    def token(self, expected: str) -> None:
        raw = expected.encode() + b" "
        if self.data[self.pos:self.pos + len(raw)] != raw:
            raise self.fail(f"expected {expected!r}")
        self.pos += len(raw)

    def number(self, size: int) -> int:
        if self.data[self.pos:self.pos + 1] != bytes([size]):
            raise self.fail(f"expected a {size}-byte integer")
        value = struct.unpack_from("<i" if size == 4 else "<q", self.data, self.pos + 1)[0]
        self.pos += 1 + size
        return value

    def array(self, count: int, dtype: str) -> np.ndarray:
        nbytes = count * np.dtype(dtype).itemsize
        if count < 0 or self.pos + nbytes > len(self.data):
            raise self.fail(f"{count} values announced, the file ends before")
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += nbytes
        return out

    def sized_array(self, count: int, size: int) -> np.ndarray:
        """``count`` numbers each written with its size byte (the old layout)."""
        rec = np.dtype([("size", "u1"), ("value", "<i4" if size == 4 else "<i8")])
        values = np.frombuffer(self.array(count * rec.itemsize, "u1").tobytes(), dtype=rec)
        if values.size and not (values["size"] == size).all():
            raise self.fail(f"a value without its {size}-byte size mark")
        return values["value"]


def read_const_arpa(path: Pathlike, symbols: SymbolTable) -> ArpaModel:
    """Read a ``G.carpa`` back into the n-grams it holds (words from ``symbols``).

    Raises:
        ArpaFormatError: not this format, truncated, an address outside the states, or a word id
            ``symbols`` lacks (file and byte offset named).
    """
    data = open(path, "rb").read()
    r = _Reader(data, str(path))
    if not data.startswith(BINARY_HEADER):
        raise r.fail("no Kaldi binary header '\\0B'")
    r.pos = 2
    old = data[2:3] == b"\x04"
    if not old:
        r.token("<ConstArpaLm>")
        r.token("<LmInfo>")
    bos, eos, unk, order = (r.number(4) for _ in range(4))
    if old:
        states = r.sized_array(r.number(4), 4).astype(np.int32)
        unigram = r.sized_array(r.number(4), 8)
        overflow = r.sized_array(r.number(4), 8)
    else:
        r.token("</LmInfo>")
        r.token("<LmStates>")
        states = r.array(r.number(8), "<i4")
        r.token("</LmStates>")
        r.token("<LmUnigram>")
        unigram = r.array(r.number(4), "<i8")
        r.token("</LmUnigram>")
        r.token("<LmOverflow>")
        overflow = r.array(r.number(4), "<i8")
        r.token("</LmOverflow>")
        r.token("</ConstArpaLm>")
    if order < 1:
        raise r.fail(f"n-gram order {order}")
    return _ngrams(states, unigram, overflow, order, symbols, str(path))


def _ngrams(states: np.ndarray, unigram: np.ndarray, overflow: np.ndarray, order: int, symbols: SymbolTable,
            source: str) -> ArpaModel:
    """Walk the states from every unigram, as ``ConstArpaLm::WriteArpa``."""
    floats = states.view(np.float32)
    size = states.size
    tables: list[dict] = [{} for _ in range(order)]

    def word(i: int) -> str:
        try:
            return symbols.word(int(i))
        except Exception:
            raise ArpaFormatError(f"{source}: word id {i} is not in {symbols.source}") from None

    def check(address: int) -> int:
        if address < 0 or address + 2 >= size:
            raise ArpaFormatError(f"{source}: a state address {address} outside the {size} LmStates words")
        return address

    stack = [((word(w),), check(int(a) - 1)) for w, a in enumerate(unigram.tolist()) if a]
    while stack:
        ngram, a = stack.pop()
        if len(ngram) > order:
            raise ArpaFormatError(f"{source}: an n-gram longer than the announced order {order}")
        tables[len(ngram) - 1][ngram] = (float(floats[a]) / LN10, float(floats[a + 1]) / LN10)
        count = int(states[a + 2])
        if count < 0 or a + 2 + 2 * count >= size:
            raise ArpaFormatError(f"{source}: the state at {a} announces {count} children past the end")
        for j in range(count):
            w, info = int(states[a + 3 + 2 * j]), int(states[a + 4 + 2 * j])
            child = ngram + (word(w),)
            if info % 2 == 0:  # a leaf: the log-prob itself
                if len(child) > order:
                    raise ArpaFormatError(f"{source}: an n-gram longer than the announced order {order}")
                tables[len(child) - 1][child] = (float(np.array(info, dtype=np.int32).view(np.float32)) / LN10, 0.0)
            elif info > 0:
                stack.append((child, check(a + info // 2)))
            else:
                k = -info // 2
                if k >= overflow.size:
                    raise ArpaFormatError(f"{source}: overflow entry {k} of {overflow.size}")
                stack.append((child, check(int(overflow[k]) - 1)))
    while len(tables) > 1 and not tables[-1]:
        tables.pop()
    model = ArpaModel(order=len(tables), ngrams=tables, source=source)
    for w in (BOS, EOS):
        if (w,) not in tables[0]:
            raise ArpaFormatError(f"{source}: {w} is not among the unigrams")
    return model
