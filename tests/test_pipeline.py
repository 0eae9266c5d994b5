"""The whole pipeline through the command line only, as a user runs it on a Kaldi decode dir:
train-lm -> quantize -> nbest-rescore (packed LM) -> score, on real tri3a lattices."""

import re

from kaldi_mpq import cli
from tests.scoring.test_decode_dir import link_decode_dir

TAGALOG = "kaldi-lattices-tagalog-tri3a"


def test_train_quantize_rescore_score(shared_data, tmp_path):
    root = shared_data(TAGALOG)
    decode = root / "exp" / "tri3a" / "decode"
    words = root / "data" / "lang" / "words.txt"
    test_ids = {line.split()[0] for line in (decode / "scoring" / "test_filt.txt").read_text().splitlines()}
    train = [l for l in (root / "data" / "train" / "text").read_text().splitlines() if l.split()[0] not in test_ids]
    (tmp_path / "train.txt").write_text("\n".join(train[50:]) + "\n")
    (tmp_path / "valid.txt").write_text("\n".join(train[:50]) + "\n")
    (tmp_path / "data" / "test").mkdir(parents=True)
    (tmp_path / "data" / "test" / "text").write_text((decode / "scoring" / "test_filt.txt").read_text())
    link_decode_dir(decode, tmp_path / "decode")

    def run(*argv):
        assert cli.main([str(a) for a in argv]) == 0, argv

    run("train-lm", "--config", "lstm_tiny", "--set", "train.epochs=1", "--format", "kaldi",
        "--train", tmp_path / "train.txt", "--valid", tmp_path / "valid.txt", "--words", words, "--unk", "<UNK>",
        "--out", tmp_path / "lm", "--no-progress")
    run("quantize", "--lm", tmp_path / "lm", "--method", "ptq", "--bits", "4", "--out", tmp_path / "lm_q4")
    run("nbest-rescore", "--lm", tmp_path / "lm_q4", "--words", words, "--acwt", "0.0588", "--weight", "0.3",
        "--interpolation", "log-linear", tmp_path / "decode", tmp_path / "decode_q4")
    assert (tmp_path / "decode_q4" / "num_jobs").read_text().strip() == "16"
    run("score", "--layout", "old", "--hyp-filter", "unk", tmp_path / "data" / "test", words, tmp_path / "decode_q4")
    wers = {}
    for k in range(7, 18):
        m = re.search(r"%WER ([\d.]+) \[ \d+ / 5056,", (tmp_path / "decode_q4" / f"wer_{k}").read_text())
        assert m, f"wer_{k} has no %WER line over the 5056 reference words"
        wers[k] = float(m.group(1))
    # An LM trained for one epoch on 498 sentences, mixed in at weight 0.3: the rescored decode must stay
    # close to the first pass (3.92 % at LMWT 17), not fall apart.
    assert min(wers.values()) < 8.0
