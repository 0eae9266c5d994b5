"""Kaldi table I/O: rspecifiers, wspecifiers, archives and scp files, for any object type.

Kaldi names a *table* (a sequence of ``(key, object)`` pairs) with a specifier:

* rspecifiers (reading): ``ark:lat.1`` ``ark:lat.1.gz`` (gzip detected from the magic bytes)
  ``ark:gunzip -c lat.1.gz|`` (a shell pipe) ``ark:-`` (stdin) ``ark,t:-`` ``scp:lat.scp``;
  scp lines are ``key rxfilename`` where the rxfilename may end in ``:byte_offset``
  (``utt1 exp/lat.1.ark:1234``).
* wspecifiers (writing): ``ark:out.ark`` ``ark:out.gz`` (gzip'd because of the name)
  ``ark:|gzip -c > lat.1.gz`` ``ark,t:-`` ``ark,scp:out.ark,out.scp``.

An archive is the concatenation of ``key`` + one space + the object; a Kaldi binary object usually
starts with ``\\0B`` (lattices do not: OpenFst's header comes straight after the space)::

    utt1 \\0B<binary object>utt2 \\0B<binary object>
    utt1 1 2 3\\n                     (text int vector, ark,t)

This module only splits archives into keys and byte streams; the object codecs live with their
domain (``kaldi_mpq.lattice.io`` for lattices). Readers stream with bounded memory: the
:class:`ByteWindow` keeps only the bytes of the object being parsed.

Files written to a path are written atomically (temp file + rename); pipes and stdout cannot be.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import io
import logging
import subprocess
import sys
from typing import IO, BinaryIO, Callable, Iterable, Iterator, Optional, TypeVar

from kaldi_mpq.errors import KaldiMpqError
from kaldi_mpq.fileio import GZIP_MAGIC, atomic_write

logger = logging.getLogger(__name__)

T = TypeVar("T")
CHUNK_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class Specifier:
    """A parsed r/wspecifier.

    Attributes:
        kind: ``"ark"``, ``"scp"`` or ``"ark,scp"`` (writing an archive and its scp together).
        path: the rx/wxfilename (for ``ark,scp`` the archive); ``"-"`` is stdin/stdout; a string
            ending (reading) or starting (writing) with ``|`` is a shell pipe.
        scp_path: the scp file written beside the archive for ``ark,scp``.
        text: the ``t`` option (text mode, for writing); ``b`` forces binary.
        options: every option given, e.g. ``("t", "s", "cs")``.
    """

    kind: str
    path: str
    scp_path: Optional[str] = None
    text: bool = False
    options: tuple[str, ...] = ()


_KNOWN_OPTIONS = {"t", "b", "s", "ns", "cs", "ncs", "o", "no", "p", "np", "f", "nf", "bg"}


def parse_specifier(spec: str, error: type[KaldiMpqError] = KaldiMpqError) -> Specifier:
    """Parse ``ark[,opts]:name`` / ``scp[,opts]:name`` / ``ark,scp[,opts]:a.ark,a.scp``.

    Raises:
        error: no ``ark``/``scp`` prefix, or an unknown option.
    """
    head, sep, rest = spec.partition(":")
    if not sep:
        raise error(f"bad specifier {spec!r}: expected ark:NAME or scp:NAME (e.g. 'ark:gunzip -c lat.1.gz|')")
    parts = [p.strip() for p in head.split(",") if p.strip()]
    kinds = [p for p in parts if p in ("ark", "scp")]
    opts = tuple(p for p in parts if p not in ("ark", "scp"))
    bad = [o for o in opts if o not in _KNOWN_OPTIONS]
    if not kinds or bad:
        raise error(f"bad specifier {spec!r}: expected ark or scp with options among {sorted(_KNOWN_OPTIONS)}")
    text = "t" in opts and "b" not in opts
    if "ark" in kinds and "scp" in kinds:
        ark, comma, scp = rest.partition(",")
        if not comma:
            raise error(f"bad specifier {spec!r}: ark,scp needs two names 'ark,scp:out.ark,out.scp'")
        return Specifier("ark,scp", ark, scp, text, opts)
    return Specifier(kinds[0], rest if rest != "" else "-", None, text, opts)


# -- input --------------------------------------------------------------------------------------------

class _PipeReader(io.RawIOBase):
    """stdout of a shell command; a non-zero exit status raises at EOF (truncated gzip etc.)."""

    def __init__(self, command: str, error: type[KaldiMpqError]):
        self._cmd = command
        self._error = error
        self._proc = subprocess.Popen(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        n = self._proc.stdout.readinto(b)
        if n == 0:
            self._check()
        return n

    def _check(self) -> None:
        rc = self._proc.wait()
        if rc != 0:
            err = self._proc.stderr.read().decode(errors="replace").strip().splitlines()
            raise self._error(f"command {self._cmd!r} failed with status {rc}: {err[-1] if err else ''}")

    def close(self) -> None:
        if not self.closed:
            self._proc.stdout.close()
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc.stderr.close()
        super().close()


class _CheckedGzip(io.RawIOBase):
    """gzip decompression that reports a truncated/corrupt stream as ``error``."""

    def __init__(self, raw: BinaryIO, name: str, error: type[KaldiMpqError]):
        self._gz = gzip.GzipFile(fileobj=raw, mode="rb")
        self._raw = raw
        self._name = name
        self._error = error

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        try:
            return self._gz.readinto(b)
        except (EOFError, OSError, gzip.BadGzipFile) as e:
            raise self._error(f"{self._name}: corrupt or truncated gzip data ({e})") from None

    def close(self) -> None:
        if not self.closed:
            self._gz.close()
            self._raw.close()
        super().close()


def open_rxfilename(name: str, error: type[KaldiMpqError] = KaldiMpqError) -> BinaryIO:
    """Open a Kaldi rxfilename for binary reading: ``-``, ``cmd |``, or a file (gunzipped if gzip'd).

    Raises:
        error: the file does not exist.
    """
    if name in ("-", ""):
        return sys.stdin.buffer
    if name.rstrip().endswith("|"):
        return io.BufferedReader(_PipeReader(name.rstrip()[:-1], error), CHUNK_BYTES)
    try:
        raw = open(name, "rb")
    except OSError as e:
        raise error(f"{name}: cannot open for reading ({e.strerror})") from None
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return io.BufferedReader(_CheckedGzip(raw, name, error), CHUNK_BYTES)
    return raw


class ByteWindow:
    """A sliding window over a binary stream, for parsers that want one contiguous ``bytes``.

    ``buf[pos:]`` holds unread bytes; ``offset(i)`` maps a buffer index to the byte offset in the
    (decompressed) stream, for error messages and scp offsets.
    """

    def __init__(self, stream: BinaryIO, name: str, start_offset: int = 0):
        self.stream = stream
        self.name = name
        self.buf = b""
        self.pos = 0
        self.base = start_offset  # stream offset of buf[0]
        self.eof = False

    def offset(self, i: Optional[int] = None) -> int:
        return self.base + (self.pos if i is None else i)

    def fill(self, n: int) -> bool:
        """Make at least ``n`` unread bytes available (fewer only at EOF); True if there are ``n``."""
        avail = len(self.buf) - self.pos
        if avail >= n:
            return True
        chunks = [self.buf[self.pos:]]
        self.base += self.pos
        self.pos = 0
        while avail < n and not self.eof:
            data = self.stream.read(min(max(CHUNK_BYTES, n - avail), 64 * CHUNK_BYTES))
            if not data:
                self.eof = True
                break
            chunks.append(data)
            avail += len(data)
        self.buf = b"".join(chunks)
        return avail >= n

    def read_token(self) -> bytes:
        """Skip leading whitespace and read up to the next space/newline (not consumed)."""
        while True:
            if not self.fill(1):
                return b""
            b = self.buf
            i = self.pos
            n = len(b)
            while i < n and b[i] in b" \t\r\n":
                i += 1
            self.pos = i
            if i < n:
                break
        start = self.pos
        while True:
            j = start
            b = self.buf
            n = len(b)
            while j < n and b[j] not in b" \t\r\n":
                j += 1
            if j < n or self.eof:
                self.pos = j
                return b[start:j]
            keep = j - start
            self.pos = start
            self.fill(keep + CHUNK_BYTES)
            start = self.pos

    def readline(self) -> bytes:
        """The bytes up to and including the next newline (or to EOF)."""
        while True:
            i = self.buf.find(b"\n", self.pos)
            if i >= 0:
                line = self.buf[self.pos:i + 1]
                self.pos = i + 1
                return line
            if self.eof:
                line = self.buf[self.pos:]
                self.pos = len(self.buf)
                return line
            self.fill(len(self.buf) - self.pos + CHUNK_BYTES)


ObjectReader = Callable[[ByteWindow, str], T]
"""Reads one object from a window positioned just after ``key + ' '``; gets the key for messages."""

BulkReader = Callable[[ByteWindow], list]
"""Reads as many whole ``key object`` entries as it can take from a window positioned at a key, as
``(key, object, byte_offset_of_object)``; reads none (``[]``) to leave the next entry to the
:data:`ObjectReader` (which then also reports any error in it)."""


def iter_archive(
    name: str, read_object: ObjectReader, error: type[KaldiMpqError] = KaldiMpqError,
    read_bulk: Optional[BulkReader] = None,
) -> Iterator[tuple[str, T, int]]:
    """Yield ``(key, object, byte_offset_of_object)`` from an archive rxfilename, streaming.

    With ``read_bulk`` the entries it takes come from it and the others from ``read_object``."""
    stream = open_rxfilename(name, error)
    try:
        win = ByteWindow(stream, name)
        while True:
            while read_bulk is not None:
                items = read_bulk(win)
                if not items:
                    break
                yield from items
            key_b = win.read_token()
            if not key_b:
                return
            try:
                key = key_b.decode()
            except UnicodeDecodeError:
                raise error(f"{name}: byte offset {win.offset() - len(key_b)}: bad key {key_b[:40]!r}") from None
            if not win.fill(1):
                raise error(f"{name}: key {key!r}: byte offset {win.offset()}: no object after the key")
            c = win.buf[win.pos:win.pos + 1]
            if c not in (b" ", b"\n", b"\t"):
                raise error(f"{name}: key {key!r}: byte offset {win.offset()}: expected a space after the key")
            if c != b"\n":
                win.pos += 1
            off = win.offset()
            yield key, read_object(win, key), off
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


@dataclasses.dataclass(frozen=True)
class ScpEntry:
    key: str
    rxfilename: str
    offset: Optional[int]


def read_scp(path: str, error: type[KaldiMpqError] = KaldiMpqError) -> list[ScpEntry]:
    """Read an scp file: ``key rxfilename[:offset]`` lines."""
    entries = []
    with contextlib.closing(open_rxfilename(path, error)) as f:
        for lineno, raw in enumerate(io.TextIOWrapper(f, encoding="utf-8"), 1):
            fields = raw.strip().split(None, 1)
            if not fields:
                continue
            if len(fields) != 2:
                raise error(f"{path}:{lineno}: expected 'key rxfilename', got {raw.strip()!r}")
            key, rx = fields
            head, colon, tail = rx.rpartition(":")
            if colon and tail.isdigit() and not rx.endswith("|"):
                entries.append(ScpEntry(key, head, int(tail)))
            else:
                entries.append(ScpEntry(key, rx, None))
    return entries


def read_scp_object(entry: ScpEntry, read_object: ObjectReader, error: type[KaldiMpqError] = KaldiMpqError) -> T:
    """Read the one object an scp entry points to (seeking to its offset)."""
    if entry.offset is None:
        for _, obj, _ in iter_archive(entry.rxfilename, read_object, error):
            return obj
        raise error(f"{entry.rxfilename}: key {entry.key!r}: no object in the file")
    stream = open_rxfilename(entry.rxfilename, error)
    try:
        if stream.seekable():
            stream.seek(entry.offset)
            skipped = entry.offset
        else:  # gzip'd or pipe: read through
            skipped = 0
            while skipped < entry.offset:
                got = len(stream.read(min(CHUNK_BYTES, entry.offset - skipped)))
                if got == 0:
                    break
                skipped += got
        if skipped != entry.offset:
            raise error(f"{entry.rxfilename}: key {entry.key!r}: offset {entry.offset} is past the end of the file")
        win = ByteWindow(stream, entry.rxfilename, entry.offset)
        return read_object(win, entry.key)
    finally:
        stream.close()


def read_table(
    rspecifier: str, read_object: ObjectReader, error: type[KaldiMpqError] = KaldiMpqError,
    read_bulk: Optional[BulkReader] = None,
) -> Iterator[tuple[str, T]]:
    """Iterate ``(key, object)`` over an ``ark:`` or ``scp:`` rspecifier, streaming (archives
    through ``read_bulk`` too when given, see :func:`iter_archive`)."""
    spec = parse_specifier(rspecifier, error)
    if spec.kind == "ark":
        for key, obj, _ in iter_archive(spec.path, read_object, error, read_bulk):
            yield key, obj
    elif spec.kind == "scp":
        for entry in read_scp(spec.path, error):
            yield entry.key, read_scp_object(entry, read_object, error)
    else:
        raise error(f"{rspecifier!r}: ark,scp is for writing; read with ark: or scp:")


class RandomAccessTable:
    """Random access by key through an scp (or an archive indexed once on first use).

    Example::

        lats = RandomAccessTable("scp:lat.scp", read_compact_lattice)
        lat = lats["utt1"]
    """

    def __init__(self, rspecifier: str, read_object: ObjectReader, error: type[KaldiMpqError] = KaldiMpqError,
                 read_bulk: Optional[BulkReader] = None):
        self._spec = parse_specifier(rspecifier, error)
        self._read = read_object
        self._error = error
        self._rspecifier = rspecifier
        if self._spec.kind == "scp":
            self._entries = {e.key: e for e in read_scp(self._spec.path, error)}
            self._cache: Optional[dict] = None
        else:  # an archive (maybe a pipe) can only be read through once: keep its objects
            self._entries = {}
            self._cache = {k: o for k, o, _ in iter_archive(self._spec.path, read_object, error, read_bulk)}

    def keys(self) -> list[str]:
        return list(self._entries) if self._cache is None else list(self._cache)

    def __contains__(self, key: str) -> bool:
        return key in (self._entries if self._cache is None else self._cache)

    def __getitem__(self, key: str):
        if self._cache is not None:
            if key not in self._cache:
                raise self._error(f"{self._rspecifier}: key {key!r}: no such key in the archive")
            return self._cache[key]
        if key not in self._entries:
            raise self._error(f"{self._rspecifier}: key {key!r}: no such key in the scp")
        return read_scp_object(self._entries[key], self._read, self._error)


# -- output -------------------------------------------------------------------------------------------

@contextlib.contextmanager
def open_wxfilename(name: str, error: type[KaldiMpqError] = KaldiMpqError) -> Iterator[BinaryIO]:
    """Open a Kaldi wxfilename for binary writing: ``-``, ``| cmd``, or a file written atomically
    (gzip-compressed when its name ends in ``.gz``)."""
    if name in ("-", ""):
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    stripped = name.strip()
    if stripped.startswith("|"):
        proc = subprocess.Popen(stripped[1:], shell=True, stdin=subprocess.PIPE)
        try:
            yield proc.stdin
        finally:
            proc.stdin.close()
            rc = proc.wait()
        if rc != 0:
            raise error(f"output command {stripped[1:]!r} failed with status {rc}")
        return
    with atomic_write(name, "wb") as f:
        if name.endswith(".gz"):
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
                yield gz
        else:
            yield f


ObjectWriter = Callable[[IO[bytes], T, bool], None]
"""Writes one object (after ``key + ' '``) in binary (False) or text (True) form."""


def write_table(
    wspecifier: str,
    items: Iterable[tuple[str, T]],
    write_object: ObjectWriter,
    error: type[KaldiMpqError] = KaldiMpqError,
    text: Optional[bool] = None,
) -> int:
    """Write ``(key, object)`` pairs to a wspecifier; returns how many were written.

    ``text`` overrides the ``t`` option. For ``ark,scp:a.ark,a.scp`` the scp gets ``key a.ark:offset``.
    Nothing is left at the destination if an exception escapes (files are atomic).
    """
    spec = parse_specifier(wspecifier, error)
    if spec.kind == "scp":
        raise error(f"{wspecifier!r}: writing through an scp is not supported; use ark: or ark,scp:")
    as_text = spec.text if text is None else text
    n = 0
    scp_lines = []
    with open_wxfilename(spec.path, error) as out:
        counting = _CountingWriter(out)
        for key, obj in items:
            if not key or any(c.isspace() for c in key):
                raise error(f"{spec.path}: key {key!r}: keys must be non-empty and contain no whitespace")
            counting.write(key.encode() + b" ")
            if spec.scp_path is not None:
                scp_lines.append(f"{key} {spec.path}:{counting.count}\n")
            write_object(counting, obj, as_text)
            n += 1
    if spec.scp_path is not None:
        with atomic_write(spec.scp_path, "w") as f:
            f.writelines(scp_lines)
    return n


class _CountingWriter(io.RawIOBase):
    """Counts bytes written, for scp offsets (which refer to uncompressed bytes)."""

    def __init__(self, out: IO[bytes]):
        self._out = out
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        n = len(b)
        self._out.write(b)
        self.count += n
        return n


__all__ = [
    "BulkReader", "ByteWindow", "RandomAccessTable", "ScpEntry", "Specifier", "iter_archive", "open_rxfilename",
    "open_wxfilename", "parse_specifier", "read_scp", "read_scp_object", "read_table", "write_table",
]
