"""Kaldi's decode-dir layout: ``num_jobs`` and one lattice archive per job, read and written.

::

    exp/tri3a/decode/num_jobs      "16"
    exp/tri3a/decode/lat.1.gz      job 1's lattices (gzip'd CompactLattice archive)
    ...
    exp/tri3a/decode/lat.16.gz

Jobs are numbered 1..num_jobs, as Kaldi's ``JOB``. Scripts list the archives with the shell glob
``lat.*.gz`` (``lat.1.gz``, ``lat.10.gz``, ``lat.11.gz``, ... ``lat.2.gz``), so :func:`lattice_files`
returns them in that order and hypothesis files list utterances as Kaldi's do.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from kaldi_mpq.errors import KaldiMpqError
from kaldi_mpq.fileio import Pathlike, atomic_write

logger = logging.getLogger(__name__)

LATTICE_PATTERN = "lat.{job}.gz"


def read_num_jobs(decode_dir: Pathlike) -> int:
    """The job count of a decode dir (its ``num_jobs`` file).

    Raises:
        KaldiMpqError: the file is missing or does not hold one positive integer.
    """
    path = Path(decode_dir) / "num_jobs"
    try:
        text = path.read_text().strip()
    except OSError:
        raise KaldiMpqError(f"{path}: missing (is {decode_dir} a Kaldi decode dir?)") from None
    if not text.isdigit() or int(text) < 1:
        raise KaldiMpqError(f"{path}:1: expected a positive integer, got {text[:40]!r}")
    return int(text)


def write_num_jobs(decode_dir: Pathlike, num_jobs: int) -> None:
    with atomic_write(Path(decode_dir) / "num_jobs") as f:
        f.write(f"{num_jobs}\n")


def job_path(decode_dir: Pathlike, job: int, pattern: str = LATTICE_PATTERN) -> Path:
    """``decode_dir/lat.JOB.gz`` for one job (1-based, as Kaldi's JOB)."""
    return Path(decode_dir) / pattern.format(job=job)


def job_list(num_jobs: int, job: Optional[int] = None) -> list[int]:
    """All jobs ``1..num_jobs``, or just ``job`` after checking it is one of them."""
    if job is None:
        return list(range(1, num_jobs + 1))
    if not 1 <= job <= num_jobs:
        raise KaldiMpqError(f"--job {job} is outside 1..{num_jobs}")
    return [job]


def lattice_files(decode_dir: Pathlike) -> list[Path]:
    """``lat.JOB.gz`` for JOB in 1..num_jobs, in shell-glob (name) order.

    Raises:
        KaldiMpqError: ``num_jobs`` missing/bad, or a job's archive missing.
    """
    n = read_num_jobs(decode_dir)
    files = [job_path(decode_dir, j) for j in job_list(n)]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise KaldiMpqError(f"{decode_dir}: num_jobs is {n} but {', '.join(missing[:3])} missing")
    return sorted(files, key=lambda f: f.name)


def is_complete(decode_dir: Pathlike, num_jobs: int) -> bool:
    """True if ``decode_dir`` holds ``num_jobs`` equal to ``num_jobs`` and every job's archive (each
    written atomically, so present means finished)."""
    d = Path(decode_dir)
    if not (d / "num_jobs").is_file():
        return False
    try:
        if read_num_jobs(d) != num_jobs:
            return False
    except KaldiMpqError:
        return False
    return all(job_path(d, j).is_file() for j in job_list(num_jobs))


def read_decode_lattices(decode_dir: Pathlike, symbols=None) -> list:
    """All lattices of a decode dir, in :func:`lattice_files` order, each checked against ``symbols``
    (a :class:`~kaldi_mpq.text.symbols.SymbolTable`) when given.

    Raises:
        LatticeFormatError: a malformed archive or a word id not in words.txt (file and key named).
        KaldiMpqError: an utterance in two archives.
    """
    from kaldi_mpq.lattice.io import read_lattices

    lats, seen = [], {}
    for f in lattice_files(decode_dir):
        for lat in read_lattices(f"ark:{f}"):
            if lat.key in seen:
                raise KaldiMpqError(f"{f}: utterance {lat.key!r} also in {seen[lat.key]}")
            seen[lat.key] = f
            if symbols is not None:
                lat.check_words(symbols, str(f))
            lats.append(lat)
    logger.info("%s: read %d lattices from %d archives", decode_dir, len(lats), len(set(seen.values())))
    return lats
