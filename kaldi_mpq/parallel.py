"""JOB splitting for decode dirs and a local runner, used when Kaldi's ``utils/run.pl`` is absent.

A Kaldi decode dir is split in ``num_jobs`` parts, ``lat.1.gz`` ... ``lat.N.gz``; each job of a
rescoring run reads one part and writes the same-numbered part of the output dir::

    exp/tri3a/decode/num_jobs      "16"
    exp/tri3a/decode/lat.3.gz      job 3's lattices

In process, :func:`parallel_map` has lhotse's map-like shape: ``parallel_map(fn, items, num_jobs=4)``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import subprocess
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence, TypeVar

from kaldi_mpq.errors import KaldiMpqError
from kaldi_mpq.fileio import Pathlike, atomic_write

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


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


def job_path(decode_dir: Pathlike, job: int, pattern: str = "lat.{job}.gz") -> Path:
    """``decode_dir/lat.JOB.gz`` for one job (1-based, as Kaldi's JOB)."""
    return Path(decode_dir) / pattern.format(job=job)


def job_list(num_jobs: int, job: Optional[int] = None) -> list[int]:
    """All jobs ``1..num_jobs``, or just ``job`` after checking it is one of them."""
    if job is None:
        return list(range(1, num_jobs + 1))
    if not 1 <= job <= num_jobs:
        raise KaldiMpqError(f"--job {job} is outside 1..{num_jobs}")
    return [job]


def split_evenly(items: Sequence[T], num_parts: int) -> list[list[T]]:
    """``items`` in ``num_parts`` contiguous parts whose sizes differ by at most one."""
    n = len(items)
    bounds = [n * k // num_parts for k in range(num_parts + 1)]
    return [list(items[bounds[k] : bounds[k + 1]]) for k in range(num_parts)]


def parallel_map(fn: Callable[[T], R], items: Iterable[T], num_jobs: int = 1) -> Iterator[R]:
    """``map(fn, items)`` over ``num_jobs`` processes (in this process when 1), results in order.

    ``fn`` must be picklable (a module-level function) when ``num_jobs > 1``.
    """
    if num_jobs <= 1:
        yield from map(fn, items)
        return
    with concurrent.futures.ProcessPoolExecutor(num_jobs) as pool:
        yield from pool.map(fn, items)


def run_jobs(command: Sequence[str], num_jobs: int, log_pattern: Pathlike, max_parallel: int = 1) -> None:
    """Run ``command`` once per job, ``JOB`` in its arguments and in ``log_pattern`` replaced by the job
    number, at most ``max_parallel`` at a time (the local equivalent of ``run.pl JOB=1:N log cmd``).

    Raises:
        KaldiMpqError: naming the failed jobs and their logs.
    """

    def one(job: int) -> tuple[int, int, str]:
        log = Path(str(log_pattern).replace("JOB", str(job)))
        log.parent.mkdir(parents=True, exist_ok=True)
        argv = [a.replace("JOB", str(job)) for a in command]
        with open(log, "w") as f:
            f.write("# " + " ".join(argv) + "\n")
            f.flush()
            rc = subprocess.call(argv, stdout=f, stderr=subprocess.STDOUT)
        return job, rc, str(log)

    with concurrent.futures.ThreadPoolExecutor(max(1, max_parallel)) as pool:
        results = list(pool.map(one, range(1, num_jobs + 1)))
    failed = [(j, log) for j, rc, log in results if rc != 0]
    if failed:
        raise KaldiMpqError(
            f"{len(failed)} of {num_jobs} jobs failed, e.g. job {failed[0][0]}: see {failed[0][1]}"
        )
