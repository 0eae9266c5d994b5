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

import argparse
import logging
import re
from typing import IO, Iterable, Iterator, Optional

from kaldi_mpq.errors import LatticeFormatError
from kaldi_mpq.kaldi_io import CHUNK_BYTES, ByteWindow, RandomAccessTable, read_table, write_table
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

    With ``skip_bad`` every malformed lattice gives ``(key, None, message)`` and reading goes on with
    the next entry: right after it when its extent is known (any text lattice; a binary one that
    parsed but is invalid: cyclic, no final state, bad weights...), else at the next place where a
    key is followed by a lattice (see :func:`find_next_entry`). Only a failing gzip stream or pipe
    ends the archive early. In an scp every entry is read on its own.
    """
    resync = find_next_entry if skip_bad else None
    for key, lat in read_table(rspecifier, read_lattice_object, LatticeFormatError, read_binary_lattices_bulk,
                               resync):
        if isinstance(lat, LatticeFormatError):
            yield key, None, str(lat)
        else:
            yield key, lat, None


# The start of an archive entry: a key (Kaldi token bytes, not preceded by one) and a space, then
# OpenFst's magic (binary) or a newline and a state id (text).
_ENTRY_START = re.compile(rb"(?<![\x21-\x7e\x80-\xfe])[\x21-\x7e\x80-\xfe]+ (?=" + re.escape(MAGIC_BYTES)
                          + rb"|\n[0-9])")
_LONGEST_KEY = 4096  # a key cut by a buffer refill while searching is found whole if shorter


def find_next_entry(win: ByteWindow) -> bool:
    """Move ``win`` to the next entry start from its position on (True), or to the end (False).

    Used after a lattice whose end cannot be known (a corrupt binary body): what looks like the
    next key is taken; if it is not one, reading it fails and the search goes on from there."""
    while True:
        m = _ENTRY_START.search(win.buf, win.pos)
        if m is not None:
            win.pos = m.start()
            return True
        if win.ended():
            win.pos = len(win.buf)
            return False
        win.pos = max(win.pos, len(win.buf) - _LONGEST_KEY)
        win.mark = win.pos - 1 if win.pos > 0 else None  # keep one byte for the look-behind
        try:
            win.fill(len(win.buf) - win.pos + CHUNK_BYTES)
        finally:
            win.mark = None


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
    """Counts for Kaldi's closing "Done N lattices, failed for M" line, and the exit status.

    ``failed`` counts every lattice not processed; ``malformed`` those of them that could not be
    read (skipped with ``--skip-bad``).
    """

    def __init__(self) -> None:
        self.done = 0
        self.failed = 0
        self.malformed = 0

    def line(self) -> str:
        return f"Done {self.done} lattices, failed for {self.failed}"

    def exit_status(self, allow_failures: bool = False) -> int:
        """1 when nothing was done (as Kaldi's lattice programs) or when malformed lattices were
        skipped, unless ``allow_failures``; else 0."""
        if self.done == 0 or (self.malformed and not allow_failures):
            return 1
        return 0


def add_skip_bad_arguments(parser: argparse.ArgumentParser) -> None:
    """``--skip-bad`` and ``--allow-failures``, for commands that read lattices with
    :func:`read_lattices_for_command`."""
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip malformed lattices (each is logged) and go on with the next one; the "
                             "exit status is then 1 if any was skipped")
    parser.add_argument("--allow-failures", action="store_true",
                        help="with --skip-bad: exit 0 even if malformed lattices were skipped")


def read_lattices_for_command(rspecifier: str, skip_bad: bool, stats: ReadStats) -> Iterator[Lattice]:
    """The lattices a command should process; bad ones are logged and counted in ``stats.failed``
    and ``stats.malformed`` when ``skip_bad`` (else the first one raises LatticeFormatError)."""
    for _, lat, err in read_lattices_tolerant(rspecifier, skip_bad):
        if lat is None:
            logger.warning("skipping a malformed lattice: %s", err)
            stats.failed += 1
            stats.malformed += 1
            continue
        yield lat
