"""recipes/ami_mini/run.sh --quick end to end in a copy of the recipe: every stage runs, exp/RESULTS.md has a
row per system with numeric WERs; a rerun skips everything and changes nothing; a run killed mid-stage and
run again ends with the outputs of an uninterrupted run."""

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.recipes.test_ami_mini_stage0 import _recipe_copy

pytest.importorskip("matplotlib", reason="the results stage draws plots (the plot extra)")


def _env() -> dict:
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", PYTHONPATH=str(REPO_ROOT),
                OMP_NUM_THREADS="1")


def _quick(recipe: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["./run.sh", "--quick"], cwd=recipe, env=_env(), capture_output=True, text=True)


def _systems(recipe: Path) -> list[str]:
    lines = (recipe / "conf" / "quant_systems_quick.txt").read_text().splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]


def _outputs(recipe: Path) -> dict:
    """What must not depend on interruptions: the results without timings, and every rescored lattice."""
    res = json.loads((recipe / "exp/results/results.json").read_text())
    for row in res["rows"]:
        row.pop("ms_per_word")
    out = {"results": res}
    for p in sorted((recipe / "exp/rescore").rglob("lat.*.gz")):
        out[str(p.relative_to(recipe))] = gzip.decompress(p.read_bytes())
    return out


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    recipe = _recipe_copy(tmp_path_factory.mktemp("quick"))
    r = _quick(recipe)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return recipe, r


def test_quick_run_writes_a_row_per_system(quick_run):
    recipe, r = quick_run
    md = (recipe / "exp/RESULTS.md").read_text()
    table = md.split("## Main table")[1].split("## Every condition")[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines() if line.startswith("| ")]
    head, body = rows[0], rows[1:]
    assert head[:7] == ["ID", "LM", "method", "#bit", "PPL", "dev WER", "eval WER"]
    assert [b[1] for b in body] == ["3-gram", "lstm"] + ["lstm"] * len(_systems(recipe))
    for b in body:
        for wer in b[5:7]:
            assert re.fullmatch(r"\d+\.\d\d[-+*<>]*", wer), b
    assert float(body[0][4]) > 1 and body[0][7] == "-"  # the 3-gram's PPL (eval-lm), no size
    for b in body[1:]:
        assert float(b[4]) > 1 and float(b[7]) > 0  # PPL, size
    assert "MAPSSWE" in md and "Results (exp/RESULTS.md" in r.stdout
    res = json.loads((recipe / "exp/results/results.json").read_text())
    assert [row["id"] for row in res["rows"]] == ["3gram", "lstm"] + _systems(recipe)
    assert set(res["rows"][2]["results"]) == {"nbest5_w0.5", "nbest5_tuned", "lattice_w0.5"}
    assert (recipe / "exp/results/plots/wer_vs_size_eval.png").stat().st_size > 0
    # the mixed plan is held to the uniform 2-bit model's packed file, and the uniform model gets the same
    # fine-tuning steps from its prototype (its log shows BP)
    size = {s: (recipe / "exp/quant" / s / "model.packed.safetensors").stat().st_size for s in ("lstm_u2", "lstm_kl2")}
    assert size["lstm_kl2"] <= size["lstm_u2"], size
    assert "exp/quant/lstm_u2: bp, 2.00 bits/weight" in (recipe / "exp/quant/log/lstm_u2.log").read_text()
    # --word-bands 1000,3000 (sens_opts): the prototypes' banded layout reaches every system trained from them
    for s_id in ("lstm_u2", "lstm_kl2"):
        plan = yaml.safe_load((recipe / "exp/quant" / s_id / "plan.yaml").read_text())
        assert plan["word_bands"]["sizes"][:2] == [1000, 2000], s_id


def test_rerun_skips_every_stage_and_changes_nothing(quick_run):
    recipe, _ = quick_run
    before = {p: p.read_bytes() for p in (recipe / "exp").rglob("*") if p.is_file()}
    r = _quick(recipe)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for stage in range(0, 6):
        assert f"Stage {stage}:" in r.stdout
    assert "skipping" in r.stdout and "training" not in r.stdout
    after = {p: p.read_bytes() for p in (recipe / "exp").rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.slow  # two more quick runs
@pytest.mark.parametrize("kill_at", ["Stage 2:", "Stage 3:"])
def test_killed_run_resumes_to_the_same_outputs(quick_run, tmp_path, kill_at):
    reference, _ = quick_run
    recipe = _recipe_copy(tmp_path)
    p = subprocess.Popen(["./run.sh", "--quick"], cwd=recipe, env=_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    for line in p.stdout:
        if kill_at in line:
            break
    time.sleep(4)  # into the stage's first job
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    r = _quick(recipe)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert _outputs(recipe) == _outputs(reference)
