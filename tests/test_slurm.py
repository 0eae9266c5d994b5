"""local/slurm.sh on a real Slurm cluster (started here, see tests/slurm_cluster.py): the lattice
rescoring and scoring stages of a Kaldi decode dir run as Slurm array jobs give byte for byte the outputs
of the local run, and a failing task stops the stage naming the task and its log.

Marked ``slurm``, not ``slow``: CI (root, slurm-wlm installed by ``local/install.sh --test``) runs it.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kaldi_mpq.lattice.io import read_lattices, write_lattices
from kaldi_mpq.testing.lm import tiny_checkpoint
from kaldi_mpq.text.symbols import SymbolTable
from tests.slurm_cluster import start_cluster

pytestmark = pytest.mark.slurm

LOCAL = Path(__file__).resolve().parents[1] / "local"
TAGALOG = "kaldi-lattices-tagalog-tri3a"
NJ = 4
UTTS_PER_JOB = 3
STAGE_TIMEOUT = 170


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("slurm"))
    yield c
    c.stop()


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """A decode dir of NJ jobs of real Kaldi lattices (the UTTS_PER_JOB smallest of each of the first NJ
    archives, to keep the stages short), its data dir, lang dir and a tiny LM."""
    from tests.conftest import shared_data_path

    src = shared_data_path(TAGALOG)
    root = tmp_path_factory.mktemp("exp")
    decode = root / "exp" / "tri3a" / "decode"
    decode.mkdir(parents=True)
    utts = set()
    for j in range(1, NJ + 1):
        lattices = list(read_lattices(f"ark:{src}/exp/tri3a/decode/lat.{j}.gz"))
        small = {lat.key for lat in sorted(lattices, key=lambda lat: lat.num_arcs)[:UTTS_PER_JOB]}
        write_lattices(f"ark:{decode}/lat.{j}.gz", [lat for lat in lattices if lat.key in small])
        utts |= small
    (decode / "num_jobs").write_text(f"{NJ}\n")
    assert utts, "no utterances read from the lattices"
    text = [line for line in (src / "exp" / "tri3a" / "decode" / "scoring" / "test_filt.txt").read_text().splitlines()
            if line.split()[0] in utts]
    (root / "data" / "test").mkdir(parents=True)
    (root / "data" / "test" / "text").write_text("\n".join(text) + "\n")
    words = src / "data" / "lang" / "words.txt"
    lm = tiny_checkpoint(root / "lm", symbols=SymbolTable.read(words, unk="<UNK>"))
    return {"root": root, "decode": decode, "words": words, "lang": src / "data" / "lang", "lm": lm}


def _stage(script: str, args: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """Run a local/ script; on a timeout its whole process group (jobs included) is killed."""
    env = {**env, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
    cmd = ["bash", str(LOCAL / script), *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=STAGE_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _rescore_and_score(cmd: str, exp: dict, out: Path, env: dict) -> list[subprocess.CompletedProcess]:
    rescore = _stage("lmrescore_lattice.sh", ["--cmd", cmd, "--max-parallel", NJ, exp["lm"], exp["words"],
                                              exp["decode"], out], exp["root"], env)
    assert rescore.returncode == 0, rescore.stderr
    score = _stage("score_kaldi.sh", ["--cmd", cmd, "--min-lmwt", 8, "--max-lmwt", 12, "--word-ins-penalty",
                                      "0.0,0.5", "data/test", exp["lang"], out], exp["root"], env)
    assert score.returncode == 0, score.stderr
    return [rescore, score]


def _outputs(d: Path) -> dict:
    """Every file of a decode dir except the logs (which hold times and host names), by relative path."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and "log" not in p.relative_to(d).parts}


def _show(cluster, runs) -> None:
    """What CI's log should show: the Slurm jobs the launcher submitted and slurmctld's records of them."""
    lines = [line for r in runs for line in r.stderr.splitlines() if "Slurm job" in line]
    print("\nSlurm jobs submitted by local/slurm.sh:\n  " + "\n  ".join(lines))
    fields = ("JobId", "Name", "JobState", "ArrayJobId", "ArrayTaskId", "ExitCode", "NodeList")
    print("slurmctld job completion records:")
    for rec in cluster.jobcomp:
        kv = dict(re.findall(r"(\w+)=(\S*)", rec))
        print("  " + " ".join(f"{k}={kv.get(k, '')}" for k in fields))


def test_slurm_stages_equal_the_local_run(cluster, experiment, capsys):
    exp = experiment
    # both runs write the same path (Kaldi's wer_* files name the decode dir); the local one is moved aside
    slurm = exp["root"] / "exp" / "tri3a" / "decode_rescored"
    local = slurm.with_name("decode_rescored_local")
    _rescore_and_score("run.pl", exp, slurm, dict(os.environ))
    slurm.rename(local)
    runs = _rescore_and_score(str(LOCAL / "slurm.sh"), exp, slurm, cluster.env)
    with capsys.disabled():
        _show(cluster, runs)

    submitted = [int(m) for r in runs for m in re.findall(r"Slurm job (\d+)", r.stderr)]
    assert len(submitted) == 2, [r.stderr for r in runs]  # one array job of NJ tasks, one scoring job
    done = [dict(re.findall(r"(\w+)=(\S*)", rec)) for rec in cluster.jobcomp]
    tasks = sorted(int(d["ArrayTaskId"]) for d in done
                   if d.get("ArrayJobId") == str(submitted[0]) and d["JobState"] == "COMPLETED")
    assert tasks == list(range(1, NJ + 1))

    expected = _outputs(local)
    assert {f"lat.{j}.gz" for j in range(1, NJ + 1)} <= set(expected)
    assert "scoring_kaldi/best_wer" in expected
    assert _outputs(slurm) == expected
    for j in range(1, NJ + 1):
        log = (slurm / "log" / f"rescore.{j}.log").read_text()
        assert log.startswith("# kaldi-mpq lattice-rescore") and f"--job {j} " in log
        assert f"# Ended (code 0)" in log
    assert (slurm / "scoring_kaldi" / "log" / "score.log").read_text().splitlines()[-1].startswith("# Ended (code 0)")
    with gzip.open(slurm / "lat.1.gz", "rb") as f:
        assert f.read(8)


def test_a_failing_task_is_named_with_its_log(cluster, experiment, capsys):
    exp = experiment
    broken = exp["root"] / "exp" / "tri3a" / "decode_broken"
    broken.mkdir()
    for j in range(1, NJ + 1):
        shutil.copy(exp["decode"] / f"lat.{j}.gz", broken / f"lat.{j}.gz")
    (broken / "num_jobs").write_text(f"{NJ}\n")
    with gzip.open(broken / "lat.2.gz", "wb") as f:
        f.write(b"utt1 this is not a lattice\n")
    out_dir = exp["root"] / "exp" / "tri3a" / "decode_broken_rescored"
    run = _stage("lmrescore_lattice.sh", ["--cmd", LOCAL / "slurm.sh", exp["lm"], exp["words"], broken, out_dir],
                 exp["root"], cluster.env)
    with capsys.disabled():
        print("\nlocal/slurm.sh on a decode dir whose lat.2.gz is broken:\n  " + "\n  ".join(run.stderr.splitlines()))
    assert run.returncode != 0
    assert re.search(r"JOB=2 failed \(exit \d+, Slurm job \d+_2\); see \S*decode_broken_rescored/log/rescore\.2\.log",
                     run.stderr), run.stderr
    assert "1 of 4 job(s) failed" in run.stderr
    assert "JOB=1 failed" not in run.stderr and "JOB=3 failed" not in run.stderr
    assert "lat.2.gz" in (out_dir / "log" / "rescore.2.log").read_text()
    assert not (out_dir / "lat.2.gz").exists()


def test_resource_options_reach_slurm(cluster, tmp_path, capsys):
    """--num-threads, --mem and --max-jobs-run become each array task's CPUs and memory; --gpu asks Slurm
    for a GPU (--gres=gpu:1), which this GPU-less node refuses at submission, named with the log. (The
    range variable is N: as in Kaldi, every occurrence of its name in the command is replaced.)"""
    cmd = [str(LOCAL / "slurm.sh"), "--num-threads", "2", "--mem", "100M", "--max-jobs-run", "1",
           "N=1:2", "log/res.N.log", "echo", "task", "N", "&&", "scontrol", "show", "job",
           "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=cluster.env, timeout=STAGE_TIMEOUT)
    assert run.returncode == 0, run.stderr
    assert re.search(r"Slurm job \d+ N=1:2", run.stderr), run.stderr
    logs = [(tmp_path / "log" / f"res.{t}.log").read_text() for t in (1, 2)]
    with capsys.disabled():
        print("\nlocal/slurm.sh --num-threads 2 --mem 100M, scontrol show job of each task:")
        for log in logs:
            print("  " + " ".join(re.findall(r"\b(?:JobId|ArrayJobId|ArrayTaskId|NumCPUs|MinMemoryCPU)=\S+", log)))
    for t, log in zip((1, 2), logs):
        assert f"task {t}\n" in log and f"ArrayTaskId={t} " in log
        assert "NumCPUs=2 " in log and "MinMemoryCPU=100M" in log
    gpu = subprocess.run([str(LOCAL / "slurm.sh"), "--gpu", "1", "log/gpu.log", "nvidia-smi"], capture_output=True,
                         text=True, cwd=tmp_path, env=cluster.env, timeout=STAGE_TIMEOUT)
    with capsys.disabled():
        print("local/slurm.sh --gpu 1 on a node without GPUs:\n  " + "\n  ".join(gpu.stderr.splitlines()))
    assert gpu.returncode == 1
    assert "sbatch failed" in gpu.stderr and "log/gpu.log" in gpu.stderr and "gres" in gpu.stderr.lower()
