"""File helpers shared by every stage: atomic writes and transparent gzip reading.

Outputs are never left half-written: writers go to a temporary file in the destination directory and
``os.replace`` it into place only after the data is complete (an atomic rename on POSIX).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator, Union

Pathlike = Union[str, os.PathLike]

GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: Pathlike) -> bool:
    """True if the file starts with the gzip magic bytes (whatever its name)."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_text(path: Pathlike, encoding: str = "utf-8") -> IO[str]:
    """Open a text file for reading, gunzipping it if it is gzip'd."""
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding)
    return open(path, "r", encoding=encoding)


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (``os.umask`` sets it)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/status") as f:
            return int(next(line for line in f if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_if_created(path: Pathlike, directory: bool) -> None:
    """Give a temporary file or directory (created 0600 / 0700) the permissions a plain ``open`` or
    ``mkdir`` would have, so colleagues on a shared cluster can read what we write."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


@contextlib.contextmanager
def atomic_write(path: Pathlike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Write ``path`` through a temporary sibling file renamed into place on success.

    On an exception the temporary file is removed and ``path`` is untouched. An ``OSError`` that names
    no file (a full disk: ``[Errno 28] No space left on device``) is raised again naming ``path``.
    An existing ``path`` that is not a regular file (``/dev/null``, ``/dev/stdout``, a named pipe) is
    written in place: renaming over it would replace the device node (as root, for every process).
    """
    path = Path(path)
    kwargs = {} if "b" in mode else {"encoding": encoding}
    if path.exists() and not path.is_file() and not path.is_dir():
        try:
            with open(path, mode, **kwargs) as f:
                yield f
        except OSError as e:
            _raise_naming(e, path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _as_if_created(tmp, directory=False)
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            _raise_naming(e, path)
        raise


def _raise_naming(e: OSError, path: Path) -> None:
    """Raise ``e``, or, when it names no file (a full disk), the same error naming ``path``."""
    if e.filename is None and e.errno is not None:
        raise OSError(e.errno, f"{e.strerror} (writing)", str(path)) from None
    raise e


@contextlib.contextmanager
def atomic_dir(path: Pathlike, keep_other_entries: bool = False) -> Iterator[Path]:
    """Build a directory under a temporary name and rename it to ``path`` on success.

    An existing ``path`` is replaced only once the new one is complete. With ``keep_other_entries``
    the entries of the old directory that the new one does not write (e.g. the ``log/`` of a Kaldi
    ``scoring_kaldi/``) are moved over first, so only what we rewrite is replaced.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        _as_if_created(tmp, directory=True)
        yield tmp
        if path.exists():
            if keep_other_entries:
                for entry in path.iterdir():
                    if not (tmp / entry.name).exists():
                        os.replace(entry, tmp / entry.name)
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_safetensors(path: Pathlike, blob: bytes) -> None:
    """Write ``blob`` (from ``safetensors.torch.save`` / ``safetensors.numpy.save``) atomically with the
    header's ``__metadata__`` keys sorted: the library writes them in hash order, which differs from
    process to process, so two identical runs would otherwise write different bytes."""
    import json
    import struct

    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    if isinstance(header.get("__metadata__"), dict):
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data stays 8-byte aligned, as the library writes it
    with atomic_write(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(memoryview(blob)[8 + n:])


def remove_stale_temporaries(path: Pathlike) -> list[Path]:
    """Remove what interrupted :func:`atomic_write` / :func:`atomic_dir` calls for ``path`` left beside
    it (a killed process cannot clean up after itself); returns what was removed.

    Only call this when no other process is writing ``path`` at the same time.
    """
    import glob

    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = [p for p in path.parent.glob(f".{glob.escape(path.name)}.*")
             if p.name.endswith(".tmp") or p.name == f".{path.name}.old"]
    for p in stale:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    return stale

