"""The recipe helpers in local/: Kaldi's JOB=1:N job contract (local/run_jobs.sh) and the n-best
rescoring wrapper run on a real decode dir."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

from kaldi_mpq.testing.lm import tiny_checkpoint
from kaldi_mpq.text.symbols import SymbolTable

LOCAL = Path(__file__).resolve().parents[1] / "local"


def _bash(script: str, tmp_path, path_prefix: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{path_prefix}{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", f"set -euo pipefail; . {LOCAL}/run_jobs.sh; {script}"],
                          capture_output=True, text=True, cwd=tmp_path, env=env)


def test_run_jobs_here_names_the_failed_jobs(tmp_path):
    out = _bash("cmd=run.pl; max_parallel=2; "
                "run_jobs 5 log/x.JOB.log bash -c 'echo out JOB; [ JOB != 3 ] && [ JOB != 5 ]'", tmp_path)
    assert out.returncode == 1
    assert "2 of 5 job(s) failed (3 5)" in out.stderr and "out 3" in out.stderr
    assert [(tmp_path / "log" / f"x.{j}.log").read_text() for j in range(1, 6)] == [f"out {j}\n" for j in range(1, 6)]
    ok = _bash("cmd=run.pl; run_jobs 3 log/y.JOB.log bash -c 'echo JOB'", tmp_path)
    assert ok.returncode == 0 and (tmp_path / "log" / "y.3.log").read_text() == "3\n"


def test_run_jobs_uses_the_launcher_when_found(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "queue.pl"
    fake.write_text(f'#!/usr/bin/env bash\necho "$@" >> {tmp_path}/calls\n')
    fake.chmod(0o755)
    out = _bash("cmd='queue.pl --mem 2G'; run_jobs 4 log/r.JOB.log kaldi-mpq x --job JOB; "
                "run_jobs 1 log/s.log kaldi-mpq score", tmp_path, f"{bin_dir}:")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "calls").read_text().splitlines() == [
        "--mem 2G JOB=1:4 log/r.JOB.log kaldi-mpq x --job JOB", "--mem 2G log/s.log kaldi-mpq score"]


def test_lmrescore_nbest_script_on_a_decode_dir(shared_data, tmp_path):
    root = shared_data("kaldi-lattices-tagalog-tri3a")
    words = root / "data" / "lang" / "words.txt"
    decode = tmp_path / "decode"
    decode.mkdir()
    for j in (1, 2):
        os.symlink(root / "exp" / "tri3a" / "decode" / f"lat.{j}.gz", decode / f"lat.{j}.gz")
    (decode / "num_jobs").write_text("2\n")
    lm = tiny_checkpoint(tmp_path / "lm", symbols=SymbolTable.read(words, unk="<UNK>"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", str(LOCAL / "lmrescore_nbest.sh"), "--max-parallel", "2", "--n", "5", str(lm),
                          str(words), str(decode), str(tmp_path / "out")], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "out" / "num_jobs").read_text().strip() == "2"
    for j in (1, 2):
        with gzip.open(tmp_path / "out" / f"lat.{j}.gz", "rb") as f:
            assert f.read(64)  # a non-empty Kaldi archive
        assert (tmp_path / "out" / "log" / f"rescore.{j}.log").exists()
