"""Rescoring whole Kaldi decode dirs, job by job: ``in_dir/lat.JOB.gz`` -> ``out_dir/lat.JOB.gz``.

::

    exp/tri3a/decode/num_jobs          16
    exp/tri3a/decode/lat.1.gz ...      gzip'd CompactLattice archives
    exp/tri3a/decode_rnnlm/num_jobs    16 (copied)
    exp/tri3a/decode_rnnlm/lat.1.gz    the rescored lattices of job 1

Nothing partial is left behind: with all jobs in one process a new output dir is built under a
temporary name and renamed when complete; each job's ``lat.JOB.gz`` is written atomically. SIGTERM
(what ``queue.pl``/``slurm.pl`` send to a killed or timed-out job) is turned into an interrupt so
temporaries are removed; what a SIGKILL'd run left is removed by the next run.

Re-runs do not redo work: a job whose ``lat.JOB.gz`` exists (beside a matching ``num_jobs``) is
skipped with a message, and a complete output dir is left as it is; remove it to rescore again.
Utterances whose lattice is empty or has no complete path are reported and left out, as Kaldi's
rescoring binaries do.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from kaldi_mpq.errors import KaldiMpqError, LatticeFormatError
from kaldi_mpq.fileio import Pathlike, atomic_dir, remove_stale_temporaries
from kaldi_mpq.lattice.lattice import Lattice
from kaldi_mpq.rescoring.decode_dir import is_complete, job_list, job_path, read_num_jobs, write_num_jobs

logger = logging.getLogger(__name__)

# rescores a batch of lattices; None marks an utterance with nothing left
Rescorer = Callable[[Sequence[Lattice]], Sequence[Optional[Lattice]]]


@dataclass
class DirReport:
    """What a decode-dir rescoring did (``jobs_done_before``: jobs skipped as already finished)."""

    utterances: int = 0
    written: int = 0
    skipped: int = 0
    jobs_done_before: int = 0

    def add(self, other: "DirReport") -> None:
        self.utterances += other.utterances
        self.written += other.written
        self.skipped += other.skipped
        self.jobs_done_before += other.jobs_done_before


def rescore_job(in_path: Pathlike, out_path: Pathlike, rescore: Rescorer) -> DirReport:
    """Rescore one archive into another (written atomically)."""
    from kaldi_mpq.lattice.io import read_lattices_tolerant, write_lattices

    lats = []
    report = DirReport()
    for key, lat, err in read_lattices_tolerant(f"ark:{in_path}", skip_bad=True):
        report.utterances += 1
        if lat is not None:
            lats.append(lat)
        elif err is not None and ("empty lattice" in err or "no final state" in err):
            logger.warning("%s: %s: empty lattice, utterance left out", in_path, key)
            report.skipped += 1
        else:
            raise LatticeFormatError(err or f"{in_path}: {key}: unreadable lattice")
    new = list(rescore(lats)) if lats else []
    kept = []
    for lat, out in zip(lats, new):
        if out is None:
            logger.warning("%s: %s: no complete path after rescoring; utterance left out", in_path, lat.key)
            report.skipped += 1
        else:
            kept.append(out)
    write_lattices(f"ark:{out_path}", kept)
    report.written = len(kept)
    logger.info("%s -> %s: %d lattices rescored, %d left out", in_path, out_path, report.written, report.skipped)
    return report


def rescore_decode_dir(
    in_dir: Pathlike, out_dir: Pathlike, rescore: Rescorer, job: Optional[int] = None
) -> DirReport:
    """Rescore every job of ``in_dir`` (or just ``job``) into ``out_dir``, skipping finished jobs.

    Raises:
        KaldiMpqError: a missing ``num_jobs`` or lattice archive, a ``job`` outside 1..num_jobs, or
            any format error while reading (naming file, key and offset).
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    nj = read_num_jobs(in_dir)
    jobs = job_list(nj, job)
    report = DirReport()
    if job is None and is_complete(out_dir, nj):
        logger.info("%s: all %d jobs already rescored; nothing to do (remove it to rescore again)", out_dir, nj)
        report.jobs_done_before = nj
        return report
    with _sigterm_as_interrupt():
        if job is None and not _same_jobs(out_dir, nj):  # a new output dir, built whole
            remove_stale_temporaries(out_dir)
            with atomic_dir(out_dir) as tmp:
                for j in jobs:
                    report.add(rescore_job(job_path(in_dir, j), job_path(tmp, j), rescore))
                write_num_jobs(tmp, nj)
        else:  # one job of a $cmd array, or the jobs an earlier run did not finish
            out_dir.mkdir(parents=True, exist_ok=True)
            write_num_jobs(out_dir, nj)
            for j in jobs:
                out = job_path(out_dir, j)
                if out.is_file():
                    logger.info("%s exists: job %d already rescored (remove it to rescore again)", out, j)
                    report.jobs_done_before += 1
                    continue
                remove_stale_temporaries(out)
                report.add(rescore_job(job_path(in_dir, j), out, rescore))
    logger.info("%s: %d utterances, %d written, %d left out, %d jobs done before", out_dir, report.utterances,
                report.written, report.skipped, report.jobs_done_before)
    return report


def _same_jobs(out_dir: Path, num_jobs: int) -> bool:
    """``out_dir`` exists and was started from an input of ``num_jobs`` jobs."""
    try:
        return out_dir.is_dir() and read_num_jobs(out_dir) == num_jobs
    except KaldiMpqError:
        return False


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`KeyboardInterrupt` so that atomic writers remove their
    temporaries (Python's default SIGTERM ends the process without unwinding)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
