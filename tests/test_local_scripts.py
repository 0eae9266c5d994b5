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


def recording_program(tmp_path, name: str) -> Path:
    """``tmp_path/bin/name``, a program that appends its arguments to ``tmp_path/calls``; returns the dir."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / name
    fake.write_text(f'#!/usr/bin/env bash\necho "$@" >> {tmp_path}/calls\n')
    fake.chmod(0o755)
    return bin_dir


def test_run_jobs_here_names_the_failed_jobs(tmp_path):
    out = _bash("cmd=run.pl; max_parallel=2; "
                "run_jobs 5 log/x.JOB.log bash -c 'echo out JOB; [ JOB != 3 ] && [ JOB != 5 ]'", tmp_path)
    assert out.returncode == 1
    assert "2 of 5 job(s) failed (3 5)" in out.stderr and "out 3" in out.stderr
    assert [(tmp_path / "log" / f"x.{j}.log").read_text() for j in range(1, 6)] == [f"out {j}\n" for j in range(1, 6)]
    ok = _bash("cmd=run.pl; run_jobs 3 log/y.JOB.log bash -c 'echo JOB'", tmp_path)
    assert ok.returncode == 0 and (tmp_path / "log" / "y.3.log").read_text() == "3\n"


def test_run_jobs_uses_the_launcher_when_found(tmp_path):
    bin_dir = recording_program(tmp_path, "queue.pl")
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


def test_lmrescore_wrappers_pass_only_the_options_given(tmp_path):
    """The wrappers restate no defaults of the CLI: unset options are left to `kaldi-mpq`."""
    bin_dir = recording_program(tmp_path, "kaldi-mpq")
    decode = tmp_path / "decode"
    decode.mkdir()
    (decode / "num_jobs").write_text("2\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def calls(script, *options):
        (tmp_path / "calls").unlink(missing_ok=True)
        out = subprocess.run(["bash", str(LOCAL / script), "--cmd", "no-such-launcher.pl", *options, "lm",
                              "words.txt", str(decode), str(tmp_path / "out")], capture_output=True, text=True,
                             env=env, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        return sorted((tmp_path / "calls").read_text().splitlines())

    base = f"--lm lm --words words.txt --job {{}} {decode} {tmp_path / 'out'}"
    assert calls("lmrescore_nbest.sh") == [f"nbest-rescore {base.format(j)}" for j in (1, 2)]
    assert calls("lmrescore_lattice.sh") == [f"lattice-rescore {base.format(j)}" for j in (1, 2)]
    given = calls("lmrescore_lattice.sh", "--max-arcs", "5000", "--weight=0.3", "--old-lm", "lm.arpa")
    assert given[0] == ("lattice-rescore --lm lm --words words.txt --old-lm lm.arpa --weight 0.3 --max-arcs 5000 "
                        f"--job 1 {decode} {tmp_path / 'out'}")
    assert calls("lmrescore_nbest.sh", "--n", "7", "--interpolation", "linear")[1].startswith(
        "nbest-rescore --lm lm --words words.txt --n 7 --interpolation linear --job 2")
    bad = subprocess.run(["bash", str(LOCAL / "lmrescore_nbest.sh"), "--max-arcs", "5", "lm", "words.txt",
                          str(decode), str(tmp_path / "out")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 1 and "invalid option --max-arcs" in bad.stderr
