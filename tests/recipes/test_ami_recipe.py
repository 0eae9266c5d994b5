"""recipes/ami on an egs/ami/s5b-like stand-in: every stage in quick mode (ihm with sclite/hubscr, sdm1 with
asclite's overlap scoring), and the LM text from lhotse manifests."""

import json

import pytest

from tests.recipes.conftest import best_wers, check, fake_lhotse, run_recipe
from tests.recipes.standin import ami_standin

QUICK = ("--config", "conf/quick.conf", "--unk", "<UNK>")


def test_quick_end_to_end(shared_root, tmp_path):
    kaldi = tmp_path / "s5b"
    ami_standin(kaldi, shared_root, mics=("ihm", "sdm1"), sets=("dev",))
    (tmp_path / "systems.conf").write_text("lstm_ptq4  lstm  ptq  --bits 4\n")
    exp = tmp_path / "exp"
    check(run_recipe("ami", *QUICK, "--kaldi-dir", kaldi, "--exp", exp, "--lms", "lstm:lstm_tiny",
                     "--systems", tmp_path / "systems.conf", "--mics", "ihm sdm1", "--test-sets", "dev",
                     "--rescore-systems", "lstm lstm_ptq4", "--lattice-systems", "lstm", "--min-lmwt", 10, "--max-lmwt", 10))
    assert (exp / "data" / "dev.txt").read_text().splitlines()[0] == \
        (kaldi / "data" / "ihm" / "dev" / "text").read_text().splitlines()[0].split(maxsplit=1)[1]
    for mic in ("ihm", "sdm1"):  # Tables V/VI: one per mic
        table = json.loads((exp / f"RESULTS_{mic}.json").read_text())
        assert table["sets"] == [f"{mic}_dev"] and [r["id"] for r in table["rows"]] == ["first_pass", "lstm", "lstm_ptq4"]
        assert table["rows"][0]["ppl"] == pytest.approx(json.loads((exp / "NGRAM.json").read_text())["ppl"])
    wers = best_wers(exp / "RESULTS_sclite.txt")
    for s in ("ihm_dev", "sdm1_dev"):
        assert set(wers[s]) == {f"{d}: all" for d in ("first_pass", "lstm_nbest", "lstm_ptq4_nbest", "lstm_lattice")}
        assert all(0 < w < 20 for w in wers[s].values()), wers
        assert (exp / "significance" / s / "lstm_ptq4_nbest.txt").read_text().startswith("# lstm_ptq4_nbest vs lstm_nbest")
    ihm = (exp / "decode" / "ihm_dev" / "lstm_nbest" / "scoring" / "log" / "score_sclite.log").read_text()
    sdm = (exp / "decode" / "sdm1_dev" / "lstm_nbest" / "scoring" / "log" / "score_sclite.log").read_text()
    assert "--asclite --overlap-limit 4" in sdm and "--asclite" not in ihm


def test_lm_text_from_lhotse_manifests(shared_root, tmp_path):
    """Stage 0 with lhotse supervision manifests as --lm-text (what local/lhotse_text.sh makes from the corpus),
    three copies of the in-domain text, as the papers' AMI LM text."""
    sups = shared_root / "ami" / "lhotse-ES2011a" / "ES2011a_sups.jsonl.gz"
    exp = tmp_path / "exp"
    check(run_recipe("ami", *QUICK, "--lm-text", sups, "--lm-dev-text", "", "--heldout-every", 10, "--ami-repeat", 3,
                     "--exp", exp, "--stop-stage", 0))
    train = (exp / "data" / "train.txt").read_text().splitlines()
    dev = (exp / "data" / "dev.txt").read_text().splitlines()
    assert len(train) % 3 == 0 and train[: len(train) // 3] == train[len(train) // 3: 2 * len(train) // 3]
    assert len(dev) > 0 and len(train) // 3 > 5 * len(dev)


def test_lm_text_by_lhotses_ami_preparation(shared_root, tmp_path):
    """--ami-corpus: lhotse's ami preparation (here a stand-in program writing the ES2011a manifest under
    its names) gives the training and dev text."""
    sups = shared_root / "ami" / "lhotse-ES2011a" / "ES2011a_sups.jsonl.gz"
    prefix = fake_lhotse(tmp_path, sups, ["ami-ihm_supervisions_train.jsonl.gz", "ami-ihm_supervisions_dev.jsonl.gz"])
    exp = tmp_path / "exp"
    check(run_recipe("ami", *QUICK, "--ami-corpus", "/corpora/amicorpus", "--ami-annotations", "/corpora/ann",
                     "--exp", exp, "--stop-stage", 0, path_prefix=prefix))
    assert (tmp_path / "lhotse_calls").read_text().splitlines() == [
        f"prepare ami --mic ihm --normalize-text kaldi --annotations /corpora/ann /corpora/amicorpus {exp}/lhotse"]
    assert (exp / "data" / "train.txt").read_text() == (exp / "data" / "dev.txt").read_text()


@pytest.mark.slow
def test_every_method_on_ihm_and_sdm(shared_root, tmp_path):
    kaldi = tmp_path / "s5b"
    ami_standin(kaldi, shared_root, mics=("ihm", "sdm1"), sets=("dev", "eval"))
    exp = tmp_path / "exp"
    check(run_recipe("ami", *QUICK, "--kaldi-dir", kaldi, "--exp", exp, "--mics", "ihm sdm1"))
    assert set(best_wers(exp / "RESULTS_sclite.txt")) == {"ihm_dev", "ihm_eval", "sdm1_dev", "sdm1_eval"}
    table = json.loads((exp / "RESULTS_sdm1.json").read_text())
    assert table["sets"] == ["sdm1_dev", "sdm1_eval"] and table["tune_set"] == "sdm1_dev"
    assert (exp / "quant" / "lstm_nas" / ".done").exists() and (exp / "quant" / "lstm_hessian" / ".done").exists()
