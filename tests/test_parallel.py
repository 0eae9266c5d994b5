"""JOB splitting helpers and the local runner."""

from __future__ import annotations

import sys

import pytest

from kaldi_mpq.errors import KaldiMpqError
from kaldi_mpq.parallel import parallel_map, run_jobs, split_evenly
from kaldi_mpq.rescoring.decode_dir import job_list, job_path, read_num_jobs, write_num_jobs


def _square(x: int) -> int:
    return x * x


def test_num_jobs_round_trip(tmp_path):
    write_num_jobs(tmp_path, 4)
    assert read_num_jobs(tmp_path) == 4
    assert job_path(tmp_path, 3) == tmp_path / "lat.3.gz"
    (tmp_path / "num_jobs").write_text("four\n")
    with pytest.raises(KaldiMpqError, match="num_jobs:1: expected a positive integer"):
        read_num_jobs(tmp_path)
    with pytest.raises(KaldiMpqError, match="missing"):
        read_num_jobs(tmp_path / "nope")


def test_jobs_and_split():
    assert job_list(3) == [1, 2, 3]
    assert job_list(3, 2) == [2]
    with pytest.raises(KaldiMpqError, match="outside 1..3"):
        job_list(3, 4)
    parts = split_evenly(list(range(10)), 3)
    assert [len(p) for p in parts] == [3, 3, 4] and sum(parts, []) == list(range(10))


@pytest.mark.parametrize("num_jobs", [1, 2])
def test_parallel_map(num_jobs):
    assert list(parallel_map(_square, range(6), num_jobs=num_jobs)) == [0, 1, 4, 9, 16, 25]


def test_run_jobs(tmp_path):
    script = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
    run_jobs([sys.executable, "-c", script, str(tmp_path / "out.JOB"), "JOB"], 3, tmp_path / "log/x.JOB.log", 2)
    assert [(tmp_path / f"out.{j}").read_text() for j in (1, 2, 3)] == ["1", "2", "3"]
    with pytest.raises(KaldiMpqError, match="3 of 3 jobs failed.*log/y.1.log"):
        run_jobs([sys.executable, "-c", "raise SystemExit(JOB)"], 3, tmp_path / "log/y.JOB.log")
