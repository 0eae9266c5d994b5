"""bench/mp_table.sh (through bench/mp_sensitivity.sh) with a stand-in ``kaldi-mpq`` that records its
calls: every plan gets the same budget (the uniform N-bit file by default), every fine-tuning the same
iterations x steps, and the report lists the fp32 model and every row at every target."""

import os
import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"

# records the call; quantize writes a packed file of 1,234,567 bytes into --out
STANDIN = r'''#!/usr/bin/env bash
echo "$*" >> "$CALLS"
out=
while [ $# -gt 0 ]; do [ "$1" = --out ] && out=$2; shift; done
if grep -q '^quantize' <<<"$(tail -n 1 "$CALLS")"; then
  mkdir -p "$out" && head -c 1234567 /dev/zero > "$out/model.packed.safetensors"
fi
'''


def _run(tmp_path, *options):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "kaldi-mpq"
    fake.write_text(STANDIN)
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls")}
    out = subprocess.run(["bash", str(BENCH / "mp_table.sh"), "--lm", "fp", "--train", "tr", "--valid", "va",
                          "--test", "te", "--exp", str(tmp_path / "exp"), "--max-iters", "3",
                          "--steps-per-iter", "7", *options], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr + out.stdout
    return (tmp_path / "calls").read_text().splitlines()


def _opt(call, name):
    words = call.split()
    return words[words.index(name) + 1]


def test_every_plan_gets_the_uniform_file_budget_and_the_same_steps(tmp_path):
    calls = _run(tmp_path)
    exp = tmp_path / "exp"
    assert calls[0].startswith("sensitivity") and _opt(calls[0], "--prototypes") == f"{exp}/protos"
    quantize = [c for c in calls if c.startswith("quantize")]
    assert {(_opt(c, "--max-iters"), _opt(c, "--steps-per-iter")) for c in quantize} == {("3", "7")}
    for n in (2, 4):
        outs = {_opt(c, "--out"): c for c in quantize if f"/b{n}/" in _opt(c, "--out")}
        assert sorted(Path(o).name for o in outs) == sorted(f"{m}{n}" for m in
                                                           ("uniform", "kl", "hessian_avg", "nas", "gq"))
        assert _opt(outs[f"{exp}/b{n}/gq{n}"], "--method") == "gq"
        assert _opt(outs[f"{exp}/b{n}/gq{n}"], "--bits") == str(n)
        for m in ("uniform", "kl", "hessian_avg", "nas"):
            assert _opt(outs[f"{exp}/b{n}/{m}{n}"], "--init-from") == f"{exp}/protos"
        # the plans are allocated after the uniform model, within its packed file
        budgeted = [c for c in calls if (c.startswith("allocate") or c.startswith("nas")) and f"/b{n}/" in c]
        assert len(budgeted) == 3 and {_opt(c, "--mb") for c in budgeted} == {"1.234567"}
        first_uniform = calls.index(outs[f"{exp}/b{n}/uniform{n}"])
        assert all(calls.index(c) > first_uniform for c in budgeted)
    assert sum(c.startswith(f"quantize --lm fp --method bp --bits {n}") for c in calls for n in (2, 4)) == 2
    report = calls[-1]
    assert report.startswith("quant-report") and "--markdown" in report and "--paper-table" in report
    dirs = report.split()[-11:]
    assert dirs[0] == "fp" and len(set(dirs)) == 11


def test_the_average_bits_budget(tmp_path):
    calls = _run(tmp_path, "--budget", "avg_bits", "--targets", "2")
    budgeted = [c for c in calls if c.startswith("allocate") or c.startswith("nas")]
    assert len(budgeted) == 3 and {_opt(c, "--avg-bits") for c in budgeted} == {"2"}
    assert all("--mb" not in c for c in budgeted)


def test_nas_and_gq_rows_can_be_left_out(tmp_path):
    calls = _run(tmp_path, "--targets", "2", "--nas", "false", "--gq", "false",
                 "--metrics", "kl hessian_avg hessian_diag")
    assert not any(c.startswith("nas") for c in calls)
    assert not any(c.startswith("quantize") and "--method gq" in c for c in calls)
    exp = tmp_path / "exp"
    report = calls[-1].split()
    assert report[0] == "quant-report"
    assert report[-5:] == ["fp"] + [f"{exp}/b2/{m}2" for m in ("uniform", "kl", "hessian_avg", "hessian_diag")]
