"""recipes/ami_mini/run.sh stage 0 in a copy of the recipe: outputs, idempotence, the 3-gram checksum."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

RECIPE = REPO_ROOT / "recipes" / "ami_mini"


@pytest.mark.parametrize("script", ["run.sh", "local/make_first_pass.sh"])
def test_scripts_parse(script):
    subprocess.run(["bash", "-n", str(RECIPE / script)], check=True)


def _recipe_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "recipes").mkdir(parents=True)
    shutil.copytree(RECIPE, root / "recipes" / "ami_mini", ignore=shutil.ignore_patterns("data", "exp"))
    for name in ("data", "local"):
        (root / name).symlink_to(REPO_ROOT / name)
    return root / "recipes" / "ami_mini"


def _run(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", PYTHONPATH=str(REPO_ROOT),
               OMP_NUM_THREADS="1")
    return subprocess.run(["./run.sh", "--stop-stage", "0", *args], cwd=recipe, env=env, capture_output=True,
                          text=True)


@pytest.mark.slow  # prepares the LM text of 155 meetings and trains the 3-gram (about 20-30 s)
def test_stage0_copies_the_first_pass_and_checks_the_3gram(tmp_path):
    recipe = _recipe_copy(tmp_path)
    committed = REPO_ROOT / "data" / "ami_mini"
    r = _run(recipe)
    assert r.returncode == 0, r.stdout + r.stderr
    for f in ("data/local/lm/train.txt", "data/local/lm/dev.txt", "data/lang/lm_3gram.arpa.gz", "data/.done",
              "exp/first_pass/.done"):
        assert (recipe / f).is_file(), f
    assert (recipe / "data/lang/words.txt").read_bytes() == (committed / "lang/words.txt").read_bytes()
    for s in ("dev", "eval"):
        for f in ("text", "utt2spk", "spk2utt"):
            assert (recipe / "data" / s / f).read_bytes() == (committed / s / f).read_bytes()
        for f in ("num_jobs", "lat.1.gz", "lat.2.gz"):
            assert (recipe / "exp/first_pass" / f"decode_{s}" / f).read_bytes() == \
                (committed / f"decode_{s}" / f).read_bytes()
    again = _run(recipe)
    assert again.returncode == 0 and "exist, skipping" in again.stdout
    # a first pass whose checksum is not the rebuilt 3-gram's is refused
    bad = tmp_path / "bad"
    shutil.copytree(committed, bad)
    (bad / "lm_3gram.arpa.gz.sha256").write_text("0" * 64 + "  lm_3gram.arpa.gz\n")
    shutil.rmtree(recipe / "data"), shutil.rmtree(recipe / "exp")
    r = _run(recipe, "--first-pass", str(bad))
    assert r.returncode == 1 and "is not the 3-gram the committed lattices were decoded with" in r.stdout
    assert not (recipe / "exp/first_pass/.done").exists()
