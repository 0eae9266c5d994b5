"""Reading and writing Kaldi lattice archives (CompactLattice and Lattice, binary and text).

Examples::

    for lat in read_lattices("ark:gunzip -c exp/tri3a/decode/lat.1.gz|"):
        print(lat.key, lat.best_path(acoustic_scale=0.1).words)
    write_lattices("ark:out/lat.1.gz", lattices)            # binary CompactLattice, gzip'd
    write_lattices("ark,t:-", lattices)                     # text to stdout
    lats = LatticeTable("scp:lat.scp"); lat = lats["utt1"]   # random access

An archive entry is ``key`` + space + the lattice; binary lattices start with OpenFst's magic
(no ``\\0B`` marker), text ones with a newline (see :mod:`kaldi_mpq.lattice.fst_text`)::

    weather001_001 \\xd6\\xfd\\xb2\\x7e\\x06\\x00\\x00\\x00vector...compactlattice44...

Both forms and both arc types are recognised on reading whatever the specifier says. A non-compact
``Lattice`` (``lattice4``: one transition id per arc, the word on the olabel) is read as a
:class:`Lattice` with one compact arc per transition-id arc -- word, weight and that single
transition id (none for a 0) -- and its states as they are: chains are not merged back into
CompactLattice arcs, so it has the same paths, costs and alignments but more arcs and states than
the CompactLattice it may have come from (``lattice-copy --write-compact=false``); final weights
carry no transition ids.

Binary CompactLattice archives are read in bulk (see :mod:`kaldi_mpq.lattice.fst_bulk`): lattices
read that way decode their alignment arrays on first use.
"""

from __future__ import annotations

import logging
from typing import IO, Iterable, Iterator, Optional

from kaldi_mpq.errors import LatticeFormatError
from kaldi_mpq.kaldi_io import ByteWindow, RandomAccessTable, read_table, write_table
from kaldi_mpq.lattice.fst_binary import MAGIC_BYTES, read_binary_lattice, write_binary_lattice
from kaldi_mpq.lattice.fst_bulk import read_binary_lattices_bulk
from kaldi_mpq.lattice.fst_text import read_text_lattice, write_text_lattice
from kaldi_mpq.lattice.lattice import Lattice

logger = logging.getLogger(__name__)


def read_lattice_object(win: ByteWindow, key: str) -> Lattice:
    """Read one lattice (binary or text, compact or not) positioned after ``key + ' '``."""
    win.fill(4)
    head = win.buf[win.pos:win.pos + 4]
    if head[:1] in (b"\n", b" ", b"\t", b"\r"):
        return read_text_lattice(win, key)
    if head == MAGIC_BYTES:
        return read_binary_lattice(win, key)
    if not head:
        raise LatticeFormatError(f"{win.name}: key {key!r}: byte offset {win.offset()}: no lattice after the key")
    raise LatticeFormatError(
        f"{win.name}: key {key!r}: byte offset {win.offset()}: not a lattice (starts with {head!r}; "
        f"expected OpenFst magic {MAGIC_BYTES!r} or a newline for text)")


def read_lattices(rspecifier: str) -> Iterator[Lattice]:
    """Stream the lattices of an rspecifier (``ark:...``, ``scp:...``), in order, with bounded memory.

    Raises:
        LatticeFormatError: bad specifier, unreadable input or a malformed lattice (the message
            names the archive, the key and the byte offset).
    """
    for _, lat in read_table(rspecifier, read_lattice_object, LatticeFormatError, read_binary_lattices_bulk):
        yield lat


def read_lattices_tolerant(rspecifier: str, skip_bad: bool) -> Iterator[tuple[str, Optional[Lattice], Optional[str]]]:
    """Like :func:`read_lattices` but yields ``(key, lattice or None, error message or None)``.

    With ``skip_bad`` a malformed lattice whose extent is known (any text lattice; a binary one that
    parsed but is invalid: cyclic, no final state...) gives ``(key, None, message)`` and reading goes
    on; errors that lose the archive's structure (truncation, bad magic, corrupt binary body) end
    the iteration after that item.
    """
    def tolerant(win: ByteWindow, key: str):
        try:
            return read_lattice_object(win, key), None
        except LatticeFormatError as e:
            if not skip_bad:
                raise
            if not getattr(e, "recoverable", False):  # the archive cannot be resynchronised
                raise _Fatal(key, str(e)) from None
            return None, str(e)

    def tolerant_bulk(win: ByteWindow):
        return [(key, (lat, None), off) for key, lat, off in read_binary_lattices_bulk(win)]

    try:
        for key, (lat, err) in read_table(rspecifier, tolerant, LatticeFormatError, tolerant_bulk):
            yield key, lat, err
    except _Fatal as e:
        yield e.key, None, e.message


class _Fatal(Exception):
    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key, self.message = key, message


def write_lattice_object(out: IO[bytes], lat: Lattice, text: bool, compact: bool = True) -> None:
    (write_text_lattice if text else write_binary_lattice)(out, lat, compact)


def write_lattices(wspecifier: str, lattices: Iterable[Lattice], text: Optional[bool] = None,
                   compact: bool = True) -> int:
    """Write lattices to a wspecifier; returns how many.

    Args:
        wspecifier: ``ark:f``, ``ark:f.gz`` (gzip'd), ``ark:|gzip -c > f.gz``, ``ark,t:-``,
            ``ark,scp:f.ark,f.scp``.
        text: force text (True) or binary (False); default: the specifier's ``t`` option.
        compact: CompactLattice (default, as decoders write) or Lattice (transition ids on arcs).

    Files are written atomically: on an error nothing is left at the destination.
    """
    return write_table(
        wspecifier, ((lat.key, lat) for lat in lattices),
        lambda out, lat, as_text: write_lattice_object(out, lat, as_text, compact),
        LatticeFormatError, text,
    )


class LatticeTable(RandomAccessTable):
    """Random access to lattices by key: ``LatticeTable("scp:lat.scp")["utt1"]``.

    With an ``scp:`` specifier only the requested lattice is read (seeking to its offset); an
    ``ark:`` specifier is read once and kept in memory.
    """

    def __init__(self, rspecifier: str):
        super().__init__(rspecifier, read_lattice_object, LatticeFormatError, read_binary_lattices_bulk)


class ReadStats:
    """Counts for Kaldi's closing "Done N lattices, failed M" line."""

    def __init__(self) -> None:
        self.done = 0
        self.failed = 0

    def line(self) -> str:
        return f"Done {self.done} lattices, failed for {self.failed}"


def read_lattices_for_command(rspecifier: str, skip_bad: bool, stats: ReadStats) -> Iterator[Lattice]:
    """The lattices a command should process; bad ones are logged and counted in ``stats.failed``
    when ``skip_bad`` (else the first one raises LatticeFormatError)."""
    for key, lat, err in read_lattices_tolerant(rspecifier, skip_bad):
        if lat is None:
            logger.warning("skipping lattice %s: %s", key, err)
            stats.failed += 1
            continue
        yield lat
