"""Running work in parallel: Kaldi-style JOB arrays run locally when ``utils/run.pl`` is absent, and a
map over processes.

Kaldi's job contract: job numbers are 1..N and every ``JOB`` in a command line and its log name
becomes the job's number (the decode-dir layout a job reads and writes, ``lat.JOB.gz`` and
``num_jobs``, is :mod:`kaldi_mpq.rescoring.decode_dir`'s). In process, :func:`parallel_map` has
lhotse's map-like shape: ``parallel_map(fn, items, num_jobs=4)``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import subprocess
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from kaldi_mpq.errors import KaldiMpqError
from kaldi_mpq.fileio import Pathlike

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


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
