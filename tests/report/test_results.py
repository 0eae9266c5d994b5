"""kaldi-mpq results-table on small scored decode dirs written here: tuning on dev applied to eval,
MAPSSWE marks against the baseline and the parent, report figures, outputs and errors."""

import json

import pytest

from kaldi_mpq.cli import main
from kaldi_mpq.errors import ConfigError, ScoringError
from kaldi_mpq.report.results import build_table, read_systems, tune, write_outputs
from kaldi_mpq.scoring.kaldi_wer import compute_wer, compute_wer_command, wer_file_text
from kaldi_mpq.scoring.transcripts import Transcripts, write_transcripts

REF = {f"u{i:02d}": ["the", "cat", "sat", "on", "mat", f"w{i}"] for i in range(40)}


def hyp(errors_in: int, sub: str = "x") -> dict:
    """REF with the last word of the first ``errors_in`` utterances substituted."""
    return {k: (w[:-1] + [sub] if i < errors_in else list(w)) for i, (k, w) in enumerate(REF.items())}


def scored(d, sweep: dict) -> str:
    """A decode dir scored as kaldi-mpq score leaves it: ``sweep[(lmwt, wip)] = hypotheses``."""
    write_transcripts(d / "scoring_kaldi" / "test_filt.txt", REF, trailing_space=False)
    for (lmwt, wip), h in sweep.items():
        write_transcripts(d / "scoring_kaldi" / f"penalty_{wip}" / f"{lmwt}.txt", h)
        s = compute_wer(Transcripts(REF), Transcripts(h))
        (d / f"wer_{lmwt}_{wip}").write_text(wer_file_text(s, compute_wer_command("test_filt.txt")))
    return str(d)


@pytest.fixture
def exp(tmp_path):
    """3-gram: 30/40 utterances wrong; fp32 LM: 5; its 2-bit model: 6 (dev) / 7 (eval); a worse
    1-bit model: 25 (at LMWT 7). The LM has a second interpolation weight whose dev WER is better (4 errors) but
    eval worse (9): tuning must take it for eval too."""
    for s in ("dev", "eval"):
        scored(tmp_path / f"ng/decode_{s}", {(7, "0.0"): hyp(35), (8, "0.0"): hyp(30), (8, "0.5"): hyp(33)})
        scored(tmp_path / f"lm_w5/decode_{s}", {(7, "0.0"): hyp(5), (8, "0.0"): hyp(12), (8, "0.5"): hyp(6)})
        scored(tmp_path / f"lm_w7/decode_{s}", {(7, "0.0"): hyp(4 if s == "dev" else 9), (8, "0.0"): hyp(20),
                                                (8, "0.5"): hyp(20)})
        scored(tmp_path / f"q2/decode_{s}", {(7, "0.0"): hyp(8), (8, "0.0"): hyp(6), (8, "0.5"): hyp(7 if s == "eval" else 9)})
        scored(tmp_path / f"q1/decode_{s}", {(7, "0.0"): hyp(25), (8, "0.0"): hyp(26), (8, "0.5"): hyp(27)})
    for m in ("lm", "q2", "q1"):
        (tmp_path / "models" / m).mkdir(parents=True)
    report = [{"path": str(tmp_path / "models" / m), "name": m, "bits": b, "ppl": p, "size_mb": mb,
               "compression": c, "size_ratio": 1.0, "ms_per_word": 0.01, "method": meth}
              for m, b, p, mb, c, meth in (("lm", "32", 80.0, 4.0, 1.0, "fp32"), ("q2", "2.01", 90.0, 0.3, 13.3, "bp"),
                                           ("q1", "1", 150.0, 0.2, 20.0, "bp"))]
    (tmp_path / "report.json").write_text(json.dumps(report))
    t = tmp_path
    lines = ["# systems", "id\tlm\tmethod\tbits\tmodel\tparent\tnbest\ttuned",
             f"3gram\t3-gram\t-\t-\t-\t-\t{t}/ng/decode_{{set}}\t{t}/ng/decode_{{set}}",
             f"lm\tLSTM\tfp32\t32\t{t}/models/lm\t-\t{t}/lm_w5/decode_{{set}}\t{t}/lm_w5/decode_{{set}},{t}/lm_w7/decode_{{set}}",
             f"q2\tLSTM\tuniform\t-\t{t}/models/q2\tlm\t{t}/q2/decode_{{set}}\t-",
             f"q1\tLSTM\tuniform\t1\t{t}/models/q1\tlm\t{t}/q1/decode_{{set}}\t-", ""]
    (t / "systems.tsv").write_text("\n".join(lines))
    return t


def test_tuned_on_dev_applied_to_eval(exp):
    t = build_table(exp / "systems.tsv", ["dev", "eval"], report=exp / "report.json")
    rows = {r.system.id: r for r in t.rows}
    q2 = rows["q2"].cells["nbest"]
    assert (q2["dev"].choice.lmwt, q2["dev"].choice.wip) == (8, "0.0")  # best on dev
    assert (q2["eval"].choice.lmwt, q2["eval"].choice.wip) == (8, "0.0")  # not eval's own best (8, 0.5)
    assert q2["eval"].choice.point.errors == 6 and q2["eval"].choice.point.words == 240
    tuned = rows["lm"].cells["tuned"]
    assert tuned["eval"].choice.decode_dir == f"{exp}/lm_w7/decode_eval" and tuned["eval"].choice.point.errors == 9
    assert tuned["dev"].choice.point.errors == 4
    assert rows["q2"].bits == "2.01" and rows["q1"].bits == "1" and rows["3gram"].ppl is None
    assert "tuned" not in rows["q2"].cells


def test_significance_marks(exp):
    t = build_table(exp / "systems.tsv", ["dev", "eval"], report=exp / "report.json")
    rows = {r.system.id: r for r in t.rows}
    assert rows["3gram"].cells["nbest"]["eval"].marks() == ""
    assert rows["lm"].cells["nbest"]["eval"].marks() == "+"  # 5 vs 30 wrong utterances
    assert rows["q2"].cells["nbest"]["eval"].marks() == "+*"  # lossless against its parent
    q1 = rows["q1"].cells["nbest"]["eval"]
    assert q1.marks() == "+>" and q1.vs_parent.p_value < 0.05 and q1.vs_baseline.p_value < 0.05  # 25 vs 30
    assert q1.vs_parent.errors1 == 25 and q1.vs_parent.errors2 == 5


def test_outputs_and_command(exp, capsys):
    out = exp / "out"
    assert main(["results-table", "--systems", str(exp / "systems.tsv"), "--report", str(exp / "report.json"),
                 "--sets", "dev,eval", "--markdown", str(out / "RESULTS.md"), "--text", str(out / "t.txt"),
                 "--json", str(out / "r.json"), "--title", "Test"]) == 0
    printed = capsys.readouterr().out
    assert printed == (out / "t.txt").read_text()
    md = (out / "RESULTS.md").read_text()
    assert "| ID | LM | method | #bit | PPL | dev WER | eval WER | size (MB) | comp. ratio | ms/word |" in md
    assert "| 2 | LSTM | uniform | 2.01 | 90.00 | 2.50+* | 2.50+* | 0.300 | 13.3 | 0.0100 |" in md
    assert "| 0 | 3-gram | - | - | - | 12.50 | 12.50 | - | - | - |" in md
    assert "MAPSSWE, two-sided, alpha = 0.05" in md
    data = json.loads((out / "r.json").read_text())
    assert data["tune_set"] == "dev" and [r["id"] for r in data["rows"]] == ["3gram", "lm", "q2", "q1"]
    assert data["rows"][1]["results"]["tuned"]["eval"]["lmwt"] == 7


def test_ngram_perplexity_from_eval_lm_json(exp):
    """The n-gram row's PPL comes from eval-lm --json (JSON lines, key 'lm'); size and speed stay '-'."""
    arpa = exp / "lm_3gram.arpa.gz"
    arpa.write_bytes(b"")
    systems = (exp / "systems.tsv").read_text().replace("3gram\t3-gram\t-\t-\t-\t-", f"3gram\t3-gram\t-\t-\t{arpa}\t-")
    (exp / "systems.tsv").write_text(systems)
    (exp / "ngram.jsonl").write_text(json.dumps({"lm": str(arpa), "type": "ngram", "ppl": 86.29, "tokens": 10}) + "\n")
    t = build_table(exp / "systems.tsv", ["dev", "eval"], report=[exp / "report.json", exp / "ngram.jsonl"])
    rows = {r.system.id: r for r in t.rows}
    assert rows["3gram"].ppl == 86.29 and rows["3gram"].size_mb is None and rows["lm"].ppl == 80.0
    write_outputs(t, markdown_path=exp / "RESULTS.md")
    assert "| 0 | 3-gram | - | - | 86.29 | 12.50 | 12.50 | - | - | - |" in (exp / "RESULTS.md").read_text()
    (exp / "bad.jsonl").write_text('{"lm": "x"}\n')
    with pytest.raises(ConfigError, match="bad.jsonl: not a quant-report"):
        build_table(exp / "systems.tsv", ["dev", "eval"], report=[exp / "bad.jsonl"])


def test_set_names_are_options(exp, tmp_path):
    """Switchboard-style set names, tuned on the second one."""
    for d in ("ng", "lm_w5", "lm_w7", "q2", "q1"):
        for s, src in (("rt03", "dev"), ("eval2000", "eval")):
            (exp / d / f"decode_{s}").symlink_to(exp / d / f"decode_{src}")
    t = build_table(exp / "systems.tsv", ["eval2000", "rt03"], tune_set="rt03")
    assert t.sets == ["eval2000", "rt03"] and t.tune_set == "rt03"
    head = write_outputs(t).splitlines()[1]
    assert "eval2000 WER" in head and "rt03 WER" in head


def test_errors_name_the_file(exp):
    bad = exp / "bad.tsv"
    bad.write_text("id\tlm\tmethod\tbits\tmodel\tparent\tc\nq\tx\t-\t-\t-\tnope\tdir/decode_{set}\n")
    with pytest.raises(ConfigError, match=r"bad.tsv:2: parent 'nope'"):
        read_systems(bad)
    bad.write_text("id\tlm\tmethod\tbits\tmodel\tparent\tc\nq\tx\t-\t-\t-\t-\tdir/decode_dev\n")
    with pytest.raises(ConfigError, match="lacks '{set}'"):
        read_systems(bad)
    with pytest.raises(ScoringError, match="no wer_LMWT_WIP files"):
        tune([str(exp / "missing_{set}")], ["dev"], "dev")
    with pytest.raises(ConfigError, match="not in the report"):
        (exp / "empty.json").write_text("[]")
        build_table(exp / "systems.tsv", ["dev", "eval"], report=exp / "empty.json")
    with pytest.raises(ConfigError, match="baseline 'zz'"):
        build_table(exp / "systems.tsv", ["dev", "eval"], baseline="zz")
