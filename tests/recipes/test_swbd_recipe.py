"""recipes/swbd on an egs/swbd/s5c-like stand-in: every stage in quick mode, resuming, failing jobs, and
the launchers and GPU requests of the jobs."""

import json

import pytest

from tests.recipes.conftest import best_wers, check, fake_lhotse, run_recipe
from tests.recipes.standin import swbd_standin

QUICK = ("--config", "conf/quick.conf", "--unk", "<UNK>", "--heldout-every", "10")


def test_quick_end_to_end_and_resume(shared_root, tmp_path):
    """Stages 0-8 on one test set with a small selection of LMs; then --stage 6 redoes only what lost .done."""
    kaldi = tmp_path / "s5c"
    swbd_standin(kaldi, shared_root, sets=("eval2000",))
    (tmp_path / "systems.conf").write_text("# name lm method options\nlstm_ptq4  lstm  ptq  --bits 4\n")
    exp = tmp_path / "exp"
    opts = (*QUICK, "--kaldi-dir", kaldi, "--exp", exp, "--lms", "lstm:lstm_tiny", "--systems", tmp_path / "systems.conf",
            "--test-sets", "eval2000", "--rescore-systems", "lstm lstm_ptq4", "--lattice-systems", "lstm",
            "--min-lmwt", 10, "--max-lmwt", 10, "--table-sets", "eval2000_swbd eval2000_callhm")
    out = check(run_recipe("swbd", *opts))
    # the results table (Tables III/IV layout): the subsets as sets, rows marked against the first pass and
    # the quantized LM against its float LM
    table = json.loads((exp / "RESULTS.json").read_text())
    assert table["sets"] == ["eval2000_swbd", "eval2000_callhm"] and table["conditions"] == ["nbest", "lattice"]
    rows = {r["id"]: r for r in table["rows"]}
    assert list(rows) == ["first_pass", "lstm", "lstm_ptq4"] and rows["lstm_ptq4"]["parent"] == "lstm"
    # the first-pass n-gram's dev PPL (eval-lm on $old_lm) beside the neural LMs'
    ngram = json.loads((exp / "NGRAM.json").read_text())
    assert rows["first_pass"]["ppl"] == pytest.approx(ngram["ppl"]) and ngram["ppl"] > 1
    assert rows["first_pass"]["model"] == ngram["lm"] and rows["lstm"]["ppl"] > 1
    assert rows["lstm_ptq4"]["size_mb"] < rows["lstm"]["size_mb"] and "lattice" not in rows["lstm_ptq4"]["results"]
    cells = rows["lstm"]["results"]["nbest"]
    assert "vs_baseline" in cells["eval2000_callhm"]
    assert "vs_parent" in rows["lstm_ptq4"]["results"]["nbest"]["eval2000_callhm"]
    ref_words = len((kaldi / "data" / "eval2000_hires" / "text").read_text().split()) - len(
        (kaldi / "data" / "eval2000_hires" / "text").read_text().splitlines())
    assert cells["eval2000_swbd"]["words"] + cells["eval2000_callhm"]["words"] == ref_words
    assert "eval2000_swbd WER" in out.stdout
    wers = best_wers(exp / "RESULTS_sclite.txt")["eval2000"]
    for d in ("first_pass", "lstm_nbest", "lstm_ptq4_nbest", "lstm_lattice"):
        for part in ("all", "swbd", "callhm"):
            assert 0 < wers[f"{d}: {part}"] < 20, (d, part, wers)
    # hubscr.pl with the Hub5 GLM when SCTK is installed, the Python scorer with the GLM otherwise
    log = (exp / "decode" / "eval2000" / "lstm_nbest" / "scoring" / "log" / "score_sclite.log").read_text()
    assert "(hubscr.pl)" in log or "(python)" in log
    sig = (exp / "significance" / "eval2000" / "lstm_ptq4_nbest.txt").read_text()
    assert sig.startswith("# lstm_ptq4_nbest vs lstm_nbest") and "MAPSSWE" in sig
    assert (exp / "significance" / "eval2000" / "lstm_nbest.txt").read_text().startswith("# lstm_nbest vs first_pass")
    assert "| lstm_ptq4 | ptq | 4 |" in (exp / "QUANT.md").read_text()
    # the Kaldi decode dir is read, never written
    decode = kaldi / "exp" / "chain" / "tdnn7q_sp" / "decode_eval2000_sw1_fsh_fg"
    assert sorted(p.name for p in decode.iterdir()) == ["lat.1.gz", "lat.2.gz", "num_jobs"]

    kept = exp / "decode" / "eval2000" / "first_pass" / "scoring" / "best_wer"
    redo = exp / "decode" / "eval2000" / "lstm_nbest" / "scoring"
    before = kept.stat().st_mtime_ns
    (redo / ".done").unlink()
    (redo / "best_wer").unlink()
    out = check(run_recipe("swbd", *opts, "--stage", 6))
    assert "Stage 5" not in out.stdout and "Stage 6" in out.stdout
    assert kept.stat().st_mtime_ns == before and (redo / "best_wer").exists()
    assert best_wers(exp / "RESULTS_sclite.txt")["eval2000"] == wers


def test_a_failing_job_stops_the_recipe_naming_it(shared_root, tmp_path):
    kaldi = tmp_path / "s5c"
    swbd_standin(kaldi, shared_root, sets=("eval2000",))
    exp = tmp_path / "exp"
    out = run_recipe("swbd", *QUICK, "--kaldi-dir", kaldi, "--exp", exp, "--lms", "lstm:no_such_preset",
                     "--stop-stage", 3)
    assert out.returncode != 0
    log = exp / "lm" / "log" / "train_lstm.log"
    assert f"job 'train-lm lstm' failed; see {log}" in out.stderr
    assert "no_such_preset" in log.read_text()
    assert "Stage 3" not in out.stdout and not (exp / "lm" / "lstm" / ".done").exists()


def test_missing_kaldi_files_are_named(tmp_path):
    out = run_recipe("swbd", *QUICK, "--kaldi-dir", tmp_path, "--exp", tmp_path / "exp", "--stop-stage", 0)
    assert out.returncode != 0 and f"{tmp_path}/data/local/lm/text is missing" in out.stderr


def test_jobs_go_through_kaldis_launcher_and_ask_for_gpus(shared_root, tmp_path):
    """With KALDI_ROOT set the jobs go to Kaldi's utils/run.pl (here a program recording its arguments):
    training asks for --num-gpus GPUs and runs under torchrun, GPU rescoring for one GPU a job."""
    kaldi = tmp_path / "s5c"
    swbd_standin(kaldi, shared_root, sets=("eval2000",))
    utils = tmp_path / "kaldi" / "egs" / "wsj" / "s5" / "utils"
    utils.mkdir(parents=True)
    (utils / "run.pl").write_text(f'#!/usr/bin/env bash\necho "$@" >> {tmp_path}/calls\n')
    (utils / "run.pl").chmod(0o755)
    exp = tmp_path / "exp"
    (tmp_path / "no_systems.conf").write_text("# float LMs only\n")
    check(run_recipe("swbd", *QUICK, "--kaldi-dir", kaldi, "--exp", exp, "--stop-stage", 1))
    opts = ("--lms", "lstm:lstm_2x1024", "--lm-device", "cuda", "--num-gpus", 4, "--systems",
            tmp_path / "no_systems.conf", "--test-sets", "eval2000", "--rescore-device", "cuda",
            "--rescore-systems", "lstm", "--lattice-systems", "none")
    for stages in ((2, 3), (5, 5)):  # not the LM report: the recording launcher trains nothing
        check(run_recipe("swbd", *QUICK, "--kaldi-dir", kaldi, "--exp", exp, "--stage", stages[0], "--stop-stage",
                         stages[1], *opts, KALDI_ROOT=str(tmp_path / "kaldi")))
    calls = (tmp_path / "calls").read_text().splitlines()
    train = [c for c in calls if " train-lm " in c]
    assert len(train) == 1 and train[0].startswith(f"--gpu 4 --mem 8G {exp}/lm/log/train_lstm.log torchrun "
                                                   "--standalone --nproc_per_node 4 ")
    assert "--config lstm_2x1024" in train[0] and "--device cuda" in train[0]
    rescore = [c for c in calls if " nbest-rescore " in c]
    assert len(rescore) == 1 and rescore[0].startswith(
        f"--gpu 1 --mem 8G JOB=1:2 {exp}/decode/eval2000/lstm_nbest/log/rescore.JOB.log kaldi-mpq nbest-rescore ")
    assert "--device cuda" in rescore[0] and "--job JOB" in rescore[0] and "G.carpa" in rescore[0]


def test_lm_text_by_lhotses_preparation(shared_root, tmp_path):
    """--swbd-audio/--fisher-corpus: lhotse's switchboard and fisher-english preparations (here a stand-in
    program writing an AMI manifest under their names) give the LM text."""
    sups = shared_root / "ami" / "lhotse-ES2011a" / "ES2011a_sups.jsonl.gz"
    prefix = fake_lhotse(tmp_path, sups, ["swbd_supervisions_all.jsonl.gz", "fisher-english_supervisions_all.jsonl.gz"])
    exp = tmp_path / "exp"
    check(run_recipe("swbd", *QUICK, "--kaldi-dir", tmp_path, "--swbd-audio", "LDC97S62", "--swbd-transcripts",
                     "swb_ms98", "--fisher-corpus", "/corpora/fisher", "--exp", exp, "--stop-stage", 0,
                     path_prefix=prefix))
    assert (tmp_path / "lhotse_calls").read_text().splitlines() == [
        f"prepare switchboard --transcript-dir {tmp_path}/swb_ms98 {tmp_path}/LDC97S62 {exp}/lhotse",
        f"prepare fisher-english /corpora/fisher {exp}/lhotse"]
    # both manifests (the same file here) are read: twice the sentences of one
    check(run_recipe("swbd", "--lm-text", sups, "--exp", tmp_path / "one", "--stop-stage", 0))
    count = lambda d: sum(len((d / "data" / f).read_text().splitlines()) for f in ("train.txt", "dev.txt"))  # noqa: E731
    assert count(exp) == 2 * count(tmp_path / "one")


@pytest.mark.slow
def test_every_method_and_two_test_sets(shared_root, tmp_path):
    """conf/quick.conf as it is: both LMs, every quantization method, eval2000 and rt03 with subsets."""
    kaldi = tmp_path / "s5c"
    swbd_standin(kaldi, shared_root)
    exp = tmp_path / "exp"
    check(run_recipe("swbd", *QUICK, "--kaldi-dir", kaldi, "--exp", exp))
    quant = (exp / "QUANT.md").read_text()
    for method in ("ptq", "admm", "bp", "gq", "bp+kl", "bp+hessian"):
        assert f"| {method} |" in quant, method
    assert (exp / "quant" / "lstm_nas" / ".done").exists()
    assert json.loads((exp / "RESULTS.json").read_text())["sets"] == ["eval2000_swbd", "eval2000_callhm", "rt03"]
    wers = best_wers(exp / "RESULTS_sclite.txt")
    assert {"first_pass: swbd", "first_pass: callhm", "lstm_admm2_nbest: all"} <= set(wers["eval2000"])
    assert {"first_pass: swbd", "first_pass: fsh", "transformer_nbest: all"} <= set(wers["rt03"])
