"""Running recipes/swbd and recipes/ami on their stand-ins (tests/recipes/standin.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

RECIPES = REPO_ROOT / "recipes"


def run_recipe(name: str, *args, path_prefix: str = "", **env) -> subprocess.CompletedProcess:
    """``recipes/<name>/run.sh args`` as a user runs it (from its directory), with this checkout's kaldi-mpq
    and no cluster settings of the caller's environment."""
    base = {k: v for k, v in os.environ.items() if k not in ("KALDI_ROOT", "queue", "slurm_opts", "gpu_opts")}
    base.update(PATH=f"{path_prefix}{Path(sys.executable).parent}:{os.environ['PATH']}",
                PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", OMP_NUM_THREADS="1", **env)
    return subprocess.run(["bash", "./run.sh", *map(str, args)], cwd=RECIPES / name, capture_output=True, text=True,
                          env=base)


def check(out: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture
def shared_root(shared_data) -> Path:
    """../shared/data, with the two sets the stand-ins are made of (the test skips without them)."""
    shared_data("kaldi-lattices-tagalog-tri3a")
    return shared_data("scoring-glm").parent


def best_wers(results: Path) -> dict[str, dict[str, float]]:
    """``{set: {"<dir>: <part>": %WER}}`` from the RESULTS stage's best_wer lines."""
    out: dict[str, dict[str, float]] = {}
    part = None
    for line in results.read_text().splitlines():
        if line.startswith("## "):
            part = out.setdefault(line[3:], {})
        elif ": best " in line and part is not None:
            head, rest = line.split(": best ", 1)
            sub = rest.split(":", 1)[0]
            part[f"{head}: {sub}"] = float(rest.split("%WER ", 1)[1].split()[0])
    return out


def fake_lhotse(tmp_path: Path, manifest: Path, names: list[str]) -> str:
    """A ``lhotse`` program that records its arguments in tmp_path/lhotse_calls and writes ``manifest`` as
    each of ``names`` in its last argument (the output dir), as ``lhotse prepare <corpus>`` names them;
    returns the PATH prefix that puts it first."""
    bin_dir = tmp_path / "fake_bin"
    bin_dir.mkdir()
    copies = "".join(f'cp {manifest} "$out/{n}"\n' for n in names)
    (bin_dir / "lhotse").write_text(f'#!/usr/bin/env bash\necho "$@" >> {tmp_path}/lhotse_calls\n'
                                    f'out="${{@: -1}}"\nmkdir -p "$out"\n{copies}')
    (bin_dir / "lhotse").chmod(0o755)
    return f"{bin_dir}:"
