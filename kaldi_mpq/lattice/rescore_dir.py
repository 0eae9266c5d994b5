"""Rescoring whole Kaldi decode dirs, job by job: ``in_dir/lat.JOB.gz`` -> ``out_dir/lat.JOB.gz``.

Layout read and written (Kaldi's)::

    exp/tri3a/decode/num_jobs          16
    exp/tri3a/decode/lat.1.gz ...      gzip'd CompactLattice archives
    exp/tri3a/decode_rnnlm/num_jobs    16 (copied)
    exp/tri3a/decode_rnnlm/lat.1.gz    the rescored lattices of job 1

Nothing partial is left behind: with all jobs in one process the output dir is built under a temporary
name and renamed when complete; with ``job`` given (one job of a ``$cmd JOB=1:N`` array) that job's
``lat.JOB.gz`` is written atomically. Utterances whose lattice is empty or has no complete path are
reported and left out, as Kaldi's rescoring binaries do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from kaldi_mpq.fileio import Pathlike, atomic_dir
from kaldi_mpq.lattice.lattice import Lattice
from kaldi_mpq.parallel import job_list, job_path, read_num_jobs, write_num_jobs

logger = logging.getLogger(__name__)

# rescores a batch of lattices; None marks an utterance with nothing left
Rescorer = Callable[[Sequence[Lattice]], Sequence[Optional[Lattice]]]


@dataclass
class DirReport:
    """What a decode-dir rescoring did."""

    utterances: int = 0
    written: int = 0
    skipped: int = 0

    def add(self, other: "DirReport") -> None:
        self.utterances += other.utterances
        self.written += other.written
        self.skipped += other.skipped


def rescore_job(in_path: Pathlike, out_path: Pathlike, rescore: Rescorer) -> DirReport:
    """Rescore one archive into another (written atomically)."""
    from kaldi_mpq.errors import LatticeFormatError
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
    """Rescore every job of ``in_dir`` (or just ``job``) into ``out_dir``.

    Raises:
        KaldiMpqError: a missing ``num_jobs`` or lattice archive, a ``job`` outside 1..num_jobs, or
            any format error while reading (naming file, key and offset).
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    nj = read_num_jobs(in_dir)
    jobs = job_list(nj, job)
    report = DirReport()
    if job is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_num_jobs(out_dir, nj)
        report.add(rescore_job(job_path(in_dir, job), job_path(out_dir, job), rescore))
        return report
    with atomic_dir(out_dir) as tmp:
        for j in jobs:
            report.add(rescore_job(job_path(in_dir, j), job_path(tmp, j), rescore))
        write_num_jobs(tmp, nj)
    logger.info("%s: %d utterances, %d written, %d left out", out_dir, report.utterances, report.written, report.skipped)
    return report


def load_rescoring_lms(
    lm_dir: Pathlike, words: Pathlike, old_lm: Optional[Pathlike] = None, device: Optional[str] = None
):
    """The new LM (a checkpoint dir, checked against the lang dir's ``words.txt``) and the old n-gram
    LM (an ARPA file mapped to the same words), or ``None`` for no old LM. (A separate n-gram to
    interpolate with is ``NgramLM.from_file(path, lm.symbols)``.)

    Raises:
        SymbolTableError: "word lists mismatch" between the LM and ``words``.
    """
    from kaldi_mpq.lm_loading import load_lm
    from kaldi_mpq.ngram.arpa import NgramLM

    lm = load_lm(lm_dir, words=words, device=device)
    old = NgramLM.from_file(old_lm, lm.symbols) if old_lm is not None else None
    return lm, old
