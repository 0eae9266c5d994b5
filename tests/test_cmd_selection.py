"""local/cmd.sh: which launcher a recipe's train_cmd / decode_cmd / cuda_cmd use."""

import os
import subprocess
from pathlib import Path

import pytest

LOCAL = Path(__file__).resolve().parents[1] / "local"


def _select(tmp_path, **env) -> subprocess.CompletedProcess:
    script = f'. {LOCAL}/cmd.sh && printf "%s\\n" "$train_cmd" "$decode_cmd" "$cuda_cmd"'
    base = {k: v for k, v in os.environ.items() if k not in ("KALDI_ROOT", "queue", "slurm_opts", "gpu_opts")}
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, env={**base, **env})


@pytest.fixture
def kaldi_root(tmp_path):
    utils = tmp_path / "kaldi" / "egs" / "wsj" / "s5" / "utils"
    utils.mkdir(parents=True)
    for pl in ("run.pl", "queue.pl", "slurm.pl"):
        (utils / pl).write_text("#!/usr/bin/env perl\n")
        (utils / pl).chmod(0o755)
    return tmp_path / "kaldi", utils


def test_without_kaldi_local_and_slurm(tmp_path):
    out = _select(tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["run.pl --mem 4G", "run.pl --mem 4G", "run.pl --gpu 1 --mem 8G"]
    out = _select(tmp_path, queue="slurm", slurm_opts="--time 1:00:00", gpu_opts="--partition gpu")
    slurm = f"{LOCAL}/slurm.sh"
    assert out.stdout.splitlines() == [f"{slurm} --mem 4G --time 1:00:00", f"{slurm} --mem 4G --time 1:00:00",
                                       f"{slurm} --gpu 1 --mem 8G --time 1:00:00 --partition gpu"]
    out = _select(tmp_path, queue="sge")
    assert out.returncode != 0 and "set KALDI_ROOT" in out.stderr


def test_with_kaldi_root_kaldis_own_launchers(tmp_path, kaldi_root):
    root, utils = kaldi_root
    for queue, pl in (("local", "run.pl"), ("slurm", "slurm.pl"), ("sge", "queue.pl")):
        out = _select(tmp_path, KALDI_ROOT=str(root), queue=queue, slurm_opts="--time 1:00:00")
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == [f"{utils}/{pl} --mem 4G", f"{utils}/{pl} --mem 4G",
                                           f"{utils}/{pl} --gpu 1 --mem 8G"]
    out = _select(tmp_path, KALDI_ROOT=str(tmp_path / "nowhere"))
    assert out.returncode != 0 and "run.pl is missing" in out.stderr
    out = _select(tmp_path, queue="pbs")
    assert out.returncode != 0 and "queue must be local, slurm or sge" in out.stderr
