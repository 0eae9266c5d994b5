"""The mixed-precision commands end to end on a tiny LM: sensitivity -> allocate -> quantize --plan
--init-from -> quant-report with the paper-style table and both plots."""

import json

import numpy as np
import pytest
import torch
import yaml

from kaldi_mpq.cli import main
from kaldi_mpq.lm.checkpoint import build_model, save_checkpoint
from kaldi_mpq.quant.plan import Plan
from kaldi_mpq.quant.prototypes import load_prototypes
from kaldi_mpq.quant.sensitivity import SensitivityTable

SENTS = [[4 + (i * 7 + j) % 60 for j in range(3 + i % 5)] for i in range(60)]
LSTM = dict(type="lstm", embed_dim=16, hidden_dim=16, num_layers=2)


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory, symbols):
    tmp = tmp_path_factory.mktemp("mp")
    torch.manual_seed(0)
    model = build_model(LSTM, symbols)
    train = {"batching": "sentence", "batch_size": 8, "loss_reduction": "mean", "clip": 0.0}
    save_checkpoint(tmp / "fp", model, {"model": LSTM, "train": train}, symbols)
    text = tmp / "text.txt"
    text.write_text("\n".join(" ".join(symbols.words(s)) for s in SENTS) + "\n")
    return tmp


def test_sensitivity_allocate_quantize_report(lm_dir, capsys):
    t = lm_dir
    txt = str(t / "text.txt")
    assert main(["sensitivity", "--lm", str(t / "fp"), "--prototypes", str(t / "protos"), "--train", txt,
                 "--out", str(t / "sens"), "--method", "ptq", "--bits", "1,2,4,8", "--probes", "5",
                 "--sentences", "16"]) == 0
    for metric in ("kl", "hessian_avg", "hessian", "hessian_diag"):
        table = SensitivityTable.read(t / "sens" / f"{metric}.yaml")
        assert table.bits == (1, 2, 4, 8, 32) and (t / "sens" / f"{metric}.tsv").is_file()
    assert load_prototypes(t / "protos").method == "ptq"
    assert main(["allocate", "--table", str(t / "sens" / "kl.yaml"), "--avg-bits", "2", "--bits", "1,2,4,8",
                 "--prototypes", str(t / "protos"), "--out", str(t / "plan_kl")]) == 0
    plan = Plan.read(t / "plan_kl" / "plan.yaml")
    assert plan.metadata["metric"] == "kl" and plan.metadata["average_bits"] <= 2
    front = (t / "plan_kl" / "pareto.tsv").read_text().splitlines()
    assert len(front) >= 2
    assert main(["quantize", "--lm", str(t / "fp"), "--method", "bp", "--plan", str(t / "plan_kl" / "plan.yaml"),
                 "--init-from", str(t / "protos"), "--train", txt, "--valid", txt, "--max-iters", "1",
                 "--steps-per-iter", "2", "--out", str(t / "kl")]) == 0
    cfg = yaml.safe_load((t / "kl" / "config.yaml").read_text())
    assert cfg["quant"]["init_from"] == str(t / "protos")
    assert cfg["quant"]["average_bits"] <= 2
    capsys.readouterr()
    assert main(["quant-report", "--text", txt, "--paper-table", "--timing-passes", "1",
                 "--plot", str(t / "size_ppl.png"), "--plot-bits", str(t / "bits"), "--json", str(t / "report.json"),
                 str(t / "fp"), str(t / "kl")]) == 0
    out = capsys.readouterr().out
    rows = json.loads((t / "report.json").read_text())
    assert [r["path"] for r in rows] == [str(t / "fp"), str(t / "kl")]
    assert rows[0]["method"] == "fp32" and rows[1]["method"] == "bp+kl" and float(rows[1]["bits"]) <= 2
    assert rows[1]["compression"] > 1 and rows[0]["ppl"] > 1
    assert "| ID | precision / method | #bit | PPL | model size (MB) | comp. ratio | ms/word |" in out
    assert "bp+kl" in out  # the mixed plan's series: method + metric
    assert (t / "size_ppl.png").stat().st_size > 0 and (t / "bits" / "kl.png").stat().st_size > 0


def test_init_from_starts_at_the_prototypes(lm_dir):
    """PTQ with --init-from re-quantizes the inherited weights: the packed model equals the prototypes'."""
    t = lm_dir
    if not (t / "protos").exists():
        pytest.skip("needs the prototypes of the first test")
    assert main(["quantize", "--lm", str(t / "fp"), "--method", "ptq", "--bits", "2", "--init-from",
                 str(t / "protos"), "--out", str(t / "ptq2")]) == 0
    from kaldi_mpq.quant.runtime import load_packed
    lm = load_packed(t / "ptq2", "float")
    protos = load_prototypes(t / "protos")
    params = dict(lm.module.named_parameters())
    coded = [n for n, r in protos.cmap.rows.items() if (r >= 0).all()]
    assert coded
    for name in coded:
        np.testing.assert_allclose(params[name].detach().numpy(), protos.weights[2][name].numpy(), atol=1e-6)


def test_allocate_errors_are_one_line(lm_dir, capsys):
    assert main(["allocate", "--table", str(lm_dir / "missing.yaml"), "--avg-bits", "2",
                 "--out", str(lm_dir / "x")]) == 1
    assert "missing.yaml" in capsys.readouterr().err


def test_word_bands_from_sensitivity_to_the_packed_model(lm_dir, capsys):
    """--word-bands: prototypes, tables, the allocated plan, the fine-tuned and the uniform model all
    share the banded layout; a plan of another layout is refused in one line."""
    t = lm_dir
    txt = str(t / "text.txt")
    assert main(["sensitivity", "--lm", str(t / "fp"), "--prototypes", str(t / "bprotos"), "--train", txt,
                 "--out", str(t / "bsens"), "--method", "ptq", "--bits", "1,2,4", "--probes", "3",
                 "--sentences", "16", "--word-bands", "20,40"]) == 0
    protos = load_prototypes(t / "bprotos")
    bands = protos.plan_base.word_bands
    capsys.readouterr()
    for edges in ("10,40", None):  # prototypes of another layout are not silently reused
        argv = ["sensitivity", "--lm", str(t / "fp"), "--prototypes", str(t / "bprotos"), "--train", txt,
                "--out", str(t / "bsens2"), "--method", "ptq", "--metric", "kl"]
        assert main(argv + (["--word-bands", edges] if edges else [])) == 1
        err = capsys.readouterr().err
        assert "holds prototypes of layout sublayer/float, word bands 20,40, not the sublayer/float" in err
    assert bands is not None and bands.sizes()[:2] == [20, 20]
    table = SensitivityTable.read(t / "bsens" / "kl.yaml")
    assert table.plan_base.word_bands == bands
    assert [c for c in table.clusters if c.startswith("output")] == ["output.band0", "output.band1", "output.band2"]
    assert main(["allocate", "--table", str(t / "bsens" / "hessian_diag.yaml"), "--avg-bits", "2",
                 "--out", str(t / "bplan")]) == 0
    plan = Plan.read(t / "bplan" / "plan.yaml")
    assert plan.word_bands == bands and "embedding.band2" in plan.bits
    common = ["--lm", str(t / "fp"), "--init-from", str(t / "bprotos"), "--train", txt, "--valid", txt,
              "--max-iters", "1", "--steps-per-iter", "2"]
    assert main(["quantize", "--method", "bp", "--plan", str(t / "bplan" / "plan.yaml"), *common,
                 "--out", str(t / "bmixed")]) == 0
    assert main(["quantize", "--method", "bp", "--bits", "2", *common, "--out", str(t / "bu2")]) == 0
    for out in ("bmixed", "bu2"):  # the uniform model takes the prototypes' layout
        assert Plan.read(t / out / "plan.yaml").word_bands == bands
    Plan({"_default": 2, "embedding": 4}).write(t / "plain_plan.yaml")
    capsys.readouterr()
    assert main(["quantize", "--method", "bp", "--plan", str(t / "plain_plan.yaml"), *common,
                 "--out", str(t / "bad")]) == 1
    err = capsys.readouterr().err
    assert "cluster layout sublayer/float differs from the prototypes' sublayer/float, 3 word bands" in err
    assert not (t / "bad").exists()
    # from the fp32 model: bands counted on --train
    assert main(["quantize", "--lm", str(t / "fp"), "--method", "ptq", "--bits", "2", "--word-bands", "10",
                 "--train", txt, "--out", str(t / "ptq_bands")]) == 0
    assert Plan.read(t / "ptq_bands" / "plan.yaml").word_bands.sizes()[0] == 10
