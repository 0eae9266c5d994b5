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

Keys are Kaldi tokens (``IsToken``): non-empty, no whitespace and no ASCII control character. Every
error names the archive, the key being read and the byte offset (of the decompressed stream).
Tolerant reading (``resync``) reports a bad entry and goes on with the next one.

Files written to a path are written atomically (temp file + rename); pipes and stdout cannot be.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import io
import logging
import re
import subprocess
import sys
import zlib
from typing import IO, BinaryIO, Callable, Iterable, Iterator, Optional, TypeVar, Union

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

# Kaldi's IsToken: no whitespace, no ASCII control character (nor DEL, nor byte 255)
_NOT_TOKEN_BYTES = bytes(range(0x21)) + b"\x7f\xff"
_BAD_KEY_BYTE = re.compile(b"[" + re.escape(_NOT_TOKEN_BYTES) + b"]")


class StreamFailure(Exception):
    """A gzip stream or an input pipe failed after ``offset`` decompressed bytes. Internal: the
    table readers report it as their error type, naming the key being read."""

    def __init__(self, offset: int, reason: str):
        super().__init__(reason)
        self.offset, self.reason = offset, reason


class _PipeReader(io.RawIOBase):
    """stdout of a shell command; a non-zero exit status raises at EOF (truncated gzip etc.)."""

    def __init__(self, command: str, error: type[KaldiMpqError]):
        self._cmd = command
        self._error = error
        self._proc = subprocess.Popen(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        n = self._proc.stdout.readinto(b)
        if n == 0:
            self._check()
        self._count += n
        return n

    def _check(self) -> None:
        rc = self._proc.wait()
        if rc != 0:
            err = self._proc.stderr.read().decode(errors="replace").strip().splitlines()
            raise StreamFailure(self._count, f"command {self._cmd!r} failed with status {rc}: {err[-1] if err else ''}")

    def close(self) -> None:
        if not self.closed:
            self._proc.stdout.close()
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc.stderr.close()
        super().close()


_GZIP_SLICE = 1 << 15


class _CheckedGzip(io.RawIOBase):
    """gzip decompression that reports a truncated/corrupt stream as ``error``."""

    def __init__(self, raw: BinaryIO, name: str, error: type[KaldiMpqError]):
        self._gz = gzip.GzipFile(fileobj=raw, mode="rb")
        self._raw = raw
        self._name = name
        self._error = error
        self._count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        try:  # in slices, so that a failure loses at most one slice of the good bytes before it
            n = self._gz.readinto(memoryview(b)[:_GZIP_SLICE])
        except (EOFError, OSError, zlib.error) as e:  # (gzip.BadGzipFile is an OSError)
            raise StreamFailure(self._count, f"corrupt or truncated gzip data ({e})") from None
        self._count += n
        return n

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
    except (OSError, ValueError) as e:  # ValueError: a NUL in the name
        raise error(f"{name}: cannot open for reading ({getattr(e, 'strerror', None) or e})") from None
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return io.BufferedReader(_CheckedGzip(raw, name, error), CHUNK_BYTES)
    return raw


class ByteWindow:
    """A sliding window over a binary stream, for parsers that want one contiguous ``bytes``.

    ``buf[pos:]`` holds unread bytes; ``offset(i)`` maps a buffer index to the byte offset in the
    (decompressed) stream, for error messages and scp offsets. Bytes before ``pos`` are dropped on
    refills, except from ``mark`` on when it is set (an entry's start, to resynchronise after an error).
    A failing stream (corrupt gzip, failed pipe) raises :class:`StreamFailure` from the first
    :meth:`fill` that needs bytes past the failure; the bytes before it are read normally.
    """

    def __init__(self, stream: BinaryIO, name: str, start_offset: int = 0):
        self.stream = stream
        self.name = name
        self.buf = b""
        self.pos = 0
        self.base = start_offset  # stream offset of buf[0]
        self.eof = False
        self.mark: Optional[int] = None
        self.failure: Optional[StreamFailure] = None
        self._read = getattr(stream, "read1", stream.read)  # read1: what is there, failures come later

    def offset(self, i: Optional[int] = None) -> int:
        return self.base + (self.pos if i is None else i)

    def fill(self, n: int) -> bool:
        """Make at least ``n`` unread bytes available (fewer only at EOF); True if there are ``n``."""
        avail = len(self.buf) - self.pos
        if avail >= n:
            return True
        keep = self.pos if self.mark is None else min(self.mark, self.pos)
        chunks = [self.buf[keep:]]
        self.base += keep
        self.pos -= keep
        if self.mark is not None:
            self.mark -= keep
        while avail < n and not self.eof:
            try:
                data = self._read(min(max(CHUNK_BYTES, n - avail), 64 * CHUNK_BYTES))
            except StreamFailure as e:
                self.failure = e
                data = b""
            if not data:
                self.eof = True
                break
            chunks.append(data)
            avail += len(data)
        self.buf = b"".join(chunks)
        if avail < n and self.failure is not None:
            raise self.failure
        return avail >= n

    def ended(self) -> bool:
        """True when everything has been read from the stream (buffered bytes may remain); raises
        the stream's :class:`StreamFailure` if it ended by failing."""
        if self.eof and self.failure is not None:
            raise self.failure
        return self.eof

    def prefetch(self, n: int) -> None:
        """Buffer up to ``n`` unread bytes as far as the stream gives them; a stream failure is left
        to the :meth:`fill` that needs the missing bytes."""
        try:
            self.fill(n)
        except StreamFailure:
            pass

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
            if j < n or self.ended():
                self.pos = j
                return b[start:j]
            keep = j - start
            self.pos = start
            self.fill(2 * keep + CHUNK_BYTES)  # grows geometrically: linear time on long tokens
            start = self.pos

    def readline(self) -> bytes:
        """The bytes up to and including the next newline (or to EOF)."""
        searched = 0  # bytes after pos known to hold no newline
        while True:
            i = self.buf.find(b"\n", self.pos + searched)
            if i >= 0:
                line = self.buf[self.pos:i + 1]
                self.pos = i + 1
                return line
            if self.ended():
                line = self.buf[self.pos:]
                self.pos = len(self.buf)
                return line
            searched = len(self.buf) - self.pos
            self.fill(2 * searched + CHUNK_BYTES)  # grows geometrically: linear time on long lines


ObjectReader = Callable[[ByteWindow, str], T]
"""Reads one object from a window positioned just after ``key + ' '``; gets the key for messages."""

BulkReader = Callable[[ByteWindow], list]
"""Reads as many whole ``key object`` entries as it can take from a window positioned at a key, as
``(key, object, byte_offset_of_object)``; reads none (``[]``) to leave the next entry to the
:data:`ObjectReader` (which then also reports any error in it)."""


Resync = Callable[[ByteWindow], bool]
"""Moves a window from inside a bad entry to the start of the next entry (a key) and returns True,
or to the end of the stream and returns False."""


def _read_key(win: ByteWindow, name: str, error: type[KaldiMpqError], previous: Optional[str]) -> Optional[str]:
    """The next key (None at the end of the archive), checked as Kaldi's IsToken does, with the
    window after its separator; a text object's newline is left to the object reader."""
    key_b = win.read_token()
    if not key_b:
        return None
    at = win.offset() - len(key_b)
    bad = _BAD_KEY_BYTE.search(key_b)
    try:
        key = key_b.decode()
    except UnicodeDecodeError:
        bad = bad or True
        key = key_b.decode(errors="replace")
    if bad:
        after = f"after key {previous!r}" if previous is not None else "the first key"
        raise error(f"{name}: key {key!r}: byte offset {at}: bad key ({after}): a key is a token of printable "
                    f"characters without whitespace, as Kaldi requires")
    if not win.fill(1):
        raise error(f"{name}: key {key!r}: byte offset {win.offset()}: no object after the key")
    c = win.buf[win.pos:win.pos + 1]
    if c not in (b" ", b"\n", b"\t"):
        raise error(f"{name}: key {key!r}: byte offset {win.offset()}: expected a space after the key")
    if c != b"\n":
        win.pos += 1
    return key


def iter_archive(
    name: str, read_object: ObjectReader, error: type[KaldiMpqError] = KaldiMpqError,
    read_bulk: Optional[BulkReader] = None, resync: Optional[Resync] = None,
) -> Iterator[tuple[str, Union[T, KaldiMpqError], int]]:
    """Yield ``(key, object, byte_offset_of_object)`` from an archive rxfilename, streaming.

    With ``read_bulk`` the entries it takes come from it and the others from ``read_object``.

    Without ``resync`` the first bad entry raises ``error``. With it (tolerant reading) a bad entry is
    yielded with the ``error`` instance in place of the object and reading goes on: right after the
    entry when the object reader got past it (an error raised with ``recoverable`` set), else from
    where ``resync`` finds the next entry; a failing gzip stream or pipe ends the archive.
    """
    stream = open_rxfilename(name, error)
    key: Optional[str] = None  # the last key read, for messages

    def stream_error(e: StreamFailure) -> KaldiMpqError:
        where = f"key {key!r}" if key is not None else "before the first key"
        return error(f"{name}: {where}: byte offset {e.offset}: {e.reason}")

    try:
        win = ByteWindow(stream, name)
        while True:
            off = win.offset()
            restart: Optional[int] = None  # where to look for the next entry if this one is bad
            try:
                while read_bulk is not None:
                    items = read_bulk(win)
                    if not items:
                        break
                    key = items[-1][0]
                    yield from items
                win.mark = win.pos  # keep this entry's bytes until it is read
                entry_key = _read_key(win, name, error, key)  # (a bad key: look on after it)
                if entry_key is None:
                    return
                key = entry_key
                off = win.offset()
                restart = off + 1
                obj = read_object(win, key)
            except StreamFailure as e:
                if resync is None:
                    raise stream_error(e) from None
                yield key or "", stream_error(e), off
                return
            except error as e:
                if resync is None:
                    raise
                yield (key if restart is not None else ""), e, off
                if not getattr(e, "recoverable", False):
                    if restart is not None:
                        win.pos = restart - win.base
                    win.mark = None
                    try:
                        found = resync(win)
                    except StreamFailure as f:
                        yield key or "", stream_error(f), off
                        return
                    if not found:
                        return
                continue
            finally:
                win.mark = None
            yield key, obj, off
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


@dataclasses.dataclass(frozen=True)
class ScpEntry:
    key: str
    rxfilename: str
    offset: Optional[int]
    where: str = ""  # the scp file and the byte offset of the line, for messages


def read_scp(path: str, error: type[KaldiMpqError] = KaldiMpqError) -> list[ScpEntry]:
    """Read an scp file: ``key rxfilename[:offset]`` lines (keys checked as archive keys are)."""
    entries = []
    at = 0
    with contextlib.closing(open_rxfilename(path, error)) as f:
        try:
            lines = list(f)
        except StreamFailure as e:
            raise error(f"{path}: byte offset {e.offset}: {e.reason}") from None
    for lineno, raw in enumerate(lines, 1):
        where = f"{path}: byte offset {at} (line {lineno})"
        at += len(raw)
        raw_fields = raw.strip().split(None, 1)
        if not raw_fields:
            continue
        try:
            key, rx = (f.decode("utf-8") for f in raw_fields) if len(raw_fields) == 2 else (raw_fields[0].decode(), "")
        except UnicodeDecodeError:
            raise error(f"{where}: key {raw_fields[0][:60]!r}: the line is not UTF-8 text: {raw[:80]!r}") from None
        if not rx or _BAD_KEY_BYTE.search(raw_fields[0]) or "\0" in rx:
            raise error(f"{where}: key {key[:60]!r}: expected 'key rxfilename' (a key without control "
                        f"characters, a file name without NUL), got {raw.strip()[:80]!r}")
        head, colon, tail = rx.rpartition(":")
        if colon and tail.isdigit() and tail.isascii() and not rx.endswith("|"):
            entries.append(ScpEntry(key, head, int(tail), f"{where}: key {key!r}"))
        else:
            entries.append(ScpEntry(key, rx, None, f"{where}: key {key!r}"))
    return entries


def read_scp_object(entry: ScpEntry, read_object: ObjectReader, error: type[KaldiMpqError] = KaldiMpqError) -> T:
    """Read the one object an scp entry points to (seeking to its offset)."""
    where = entry.where or f"key {entry.key!r}"
    try:
        stream = open_rxfilename(entry.rxfilename, error)
    except error as e:
        raise error(f"{where}: {e}") from None
    if entry.offset is None:
        if stream is not sys.stdin.buffer:
            stream.close()
        for _, obj, _ in iter_archive(entry.rxfilename, read_object, error):
            return obj
        raise error(f"{entry.rxfilename}: key {entry.key!r}: byte offset 0: no object in the file ({where})")
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
            raise error(f"{entry.rxfilename}: key {entry.key!r}: byte offset {entry.offset}: "
                        f"the offset is past the end of the file ({where})")
        win = ByteWindow(stream, entry.rxfilename, entry.offset)
        return read_object(win, entry.key)
    except StreamFailure as e:
        raise error(f"{entry.rxfilename}: key {entry.key!r}: byte offset {e.offset}: {e.reason}") from None
    finally:
        stream.close()


def read_table(
    rspecifier: str, read_object: ObjectReader, error: type[KaldiMpqError] = KaldiMpqError,
    read_bulk: Optional[BulkReader] = None, resync: Optional[Resync] = None,
) -> Iterator[tuple[str, Union[T, KaldiMpqError]]]:
    """Iterate ``(key, object)`` over an ``ark:`` or ``scp:`` rspecifier, streaming (archives
    through ``read_bulk`` too when given, see :func:`iter_archive`).

    With ``resync`` (tolerant reading, see :func:`iter_archive`) a bad entry is yielded with the
    ``error`` instance in place of the object; in an scp every entry is read on its own anyway.
    """
    spec = parse_specifier(rspecifier, error)
    if spec.kind == "ark":
        for key, obj, _ in iter_archive(spec.path, read_object, error, read_bulk, resync):
            yield key, obj
    elif spec.kind == "scp":
        for entry in read_scp(spec.path, error):
            try:
                obj = read_scp_object(entry, read_object, error)
            except error as e:
                if resync is None:
                    raise
                obj = e
            yield entry.key, obj
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
