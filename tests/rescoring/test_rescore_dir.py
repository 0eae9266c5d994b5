"""Decode-dir rescoring driver: finished jobs are not redone, nothing partial or temporary is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from kaldi_mpq.lattice.io import read_lattices, write_lattices
from kaldi_mpq.rescoring.decode_dir import is_complete, lattice_files, read_decode_lattices
from kaldi_mpq.rescoring.rescore_dir import rescore_decode_dir
from kaldi_mpq.testing.lattices import random_lattice
from kaldi_mpq.testing.lm import tiny_symbols


@pytest.fixture
def decode(tmp_path):
    symbols = tiny_symbols(12)
    dec = tmp_path / "decode"
    dec.mkdir()
    for job in (1, 2):
        write_lattices(f"ark:{dec}/lat.{job}.gz",
                       [random_lattice(np.random.default_rng(10 * job + k), symbols, f"u{job}_{k}") for k in range(2)])
    (dec / "num_jobs").write_text("2\n")
    return dec


class Recorder:
    """An identity rescorer that records the utterances it was given."""

    def __init__(self):
        self.keys = []

    def __call__(self, lats):
        self.keys.extend(lat.key for lat in lats)
        return lats


def test_finished_jobs_are_not_redone(decode, tmp_path, caplog):
    out = tmp_path / "out"
    first = Recorder()
    assert rescore_decode_dir(decode, out, first).written == 4
    assert is_complete(out, 2) and [lat.key for lat in read_decode_lattices(out)] == sorted(first.keys)
    again = Recorder()
    with caplog.at_level("INFO"):
        report = rescore_decode_dir(decode, out, again)
    assert again.keys == [] and report.jobs_done_before == 2 and "already rescored" in caplog.text
    # an interrupted run of $cmd jobs: only the missing job is done, by the job or by a whole-dir run
    (out / "lat.2.gz").unlink()
    job1 = Recorder()
    assert rescore_decode_dir(decode, out, job1, job=1).jobs_done_before == 1 and job1.keys == []
    rest = Recorder()
    rescore_decode_dir(decode, out, rest)
    assert rest.keys == ["u2_0", "u2_1"] and is_complete(out, 2)
    assert [f.name for f in lattice_files(out)] == ["lat.1.gz", "lat.2.gz"]


def test_failure_and_stale_temporaries_leave_nothing(decode, tmp_path):
    out = tmp_path / "out"
    killed = [tmp_path / ".out.abc123.tmp", tmp_path / ".out.old"]  # what SIGKILL'd runs leave
    for d in killed:
        d.mkdir()

    def failing(lats):
        raise RuntimeError("LM crashed")

    with pytest.raises(RuntimeError):
        rescore_decode_dir(decode, out, failing)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["decode"]
    (out).mkdir()
    (out / "num_jobs").write_text("2\n")
    (out / ".lat.2.gz.x1y2.tmp").write_bytes(b"half")
    rescore_decode_dir(decode, out, Recorder(), job=2)
    assert sorted(p.name for p in out.iterdir()) == ["lat.2.gz", "num_jobs"]
    assert [lat.key for lat in read_lattices(f"ark:{out}/lat.2.gz")] == ["u2_0", "u2_1"]


def test_sigterm_removes_the_temporary_dir(decode, tmp_path):
    script = (
        "import sys, time\n"
        "from kaldi_mpq.rescoring.rescore_dir import rescore_decode_dir\n"
        "def slow(lats):\n"
        "    time.sleep(60)\n"
        "    return lats\n"
        "rescore_decode_dir(sys.argv[1], sys.argv[2], slow)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", script, str(decode), str(tmp_path / "out")], env=env,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".out.*.tmp")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decode"]
