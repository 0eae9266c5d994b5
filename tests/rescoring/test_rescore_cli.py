"""nbest-rescore / lattice-rescore commands on a small decode dir: outputs, identity, mismatch, jobs."""

from __future__ import annotations

import numpy as np
import pytest

from kaldi_mpq import cli
from kaldi_mpq.lattice.io import read_lattices, write_lattices
from kaldi_mpq.ngram.train import train_arpa
from kaldi_mpq.testing.lm import tiny_checkpoint, tiny_symbols
from kaldi_mpq.testing.lattices import random_lattice


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("rescore")
    symbols = tiny_symbols(12)
    symbols.write(root / "words.txt")
    rng = np.random.default_rng(0)
    text = [" ".join(f"w{i}" for i in rng.integers(0, 12, rng.integers(1, 8))) for _ in range(300)]
    train_arpa(text, root / "lm.arpa", order=3)
    dec = root / "decode"
    dec.mkdir()
    for job in (1, 2):
        lats = [random_lattice(np.random.default_rng(10 * job + k), symbols, f"utt{job}_{k}") for k in range(3)]
        write_lattices(f"ark:{dec}/lat.{job}.gz", lats)
    (dec / "num_jobs").write_text("2\n")
    tiny_checkpoint(root / "lstm", "lstm", symbols)
    tiny_checkpoint(root / "other", "lstm", tiny_symbols(13))
    return root


def best_words(decode_dir, acwt=0.1):
    return {lat.key: lat.best_path(acwt).words for j in (1, 2) for lat in read_lattices(f"ark:{decode_dir}/lat.{j}.gz")}


@pytest.mark.parametrize("command", ["nbest-rescore", "lattice-rescore"])
def test_rescore_commands(setup, command):
    r = setup
    out = r / f"out_{command}"
    common = ["--lm", str(r / "lstm"), "--words", str(r / "words.txt"), "--old-lm", str(r / "lm.arpa"),
              "--device", "cpu"]
    assert cli.main([command, *common, str(r / "decode"), str(out)]) == 0
    assert (out / "num_jobs").read_text().strip() == "2"
    assert set(best_words(out)) == set(best_words(r / "decode"))
    # weight 0 with linear interpolation puts the removed n-gram back: best paths unchanged
    same = r / f"same_{command}"
    assert cli.main([command, *common, "--weight", "0", "--job", "2", str(r / "decode"), str(same)]) == 0
    assert not (same / "lat.1.gz").exists()
    expected = {k: v for k, v in best_words(r / "decode").items() if k.startswith("utt2")}
    assert {lat.key: lat.best_path(0.1).words for lat in read_lattices(f"ark:{same}/lat.2.gz")} == expected

    # --ngram given the old LM itself is the same as no --ngram
    again = r / f"again_{command}"
    assert cli.main([command, *common, "--weight", "0", "--ngram", str(r / "lm.arpa"), "--job", "2",
                     str(r / "decode"), str(again)]) == 0
    assert best_words_job(again, 2) == expected
    assert cli.main([command, "--lm", str(r / "lstm"), "--words", str(r / "words.txt"), "--ngram",
                     str(r / "lm.arpa"), "--interpolation", "log-linear", str(r / "decode"), str(r / "x")]) == 1


def best_words_job(decode_dir, job, acwt=0.1):
    return {lat.key: lat.best_path(acwt).words for lat in read_lattices(f"ark:{decode_dir}/lat.{job}.gz")}


def test_vocabulary_mismatch_is_refused(setup, capsys):
    r = setup
    rc = cli.main(["nbest-rescore", "--lm", str(r / "other"), "--words", str(r / "words.txt"), "--old-lm",
                   str(r / "lm.arpa"),
                   str(r / "decode"), str(r / "bad")])
    assert rc == 1 and "word lists mismatch" in capsys.readouterr().err
    assert not (r / "bad").exists()


def test_without_old_lm_the_default_is_log_linear(setup):
    r = setup
    out = r / "no_old_lm"
    assert cli.main(["lattice-rescore", "--lm", str(r / "lstm"), "--words", str(r / "words.txt"), "--device", "cpu",
                     "--job", "1", str(r / "decode"), str(out)]) == 0
    assert set(best_words_job(out, 1)) == {k for k in best_words(r / "decode") if k.startswith("utt1")}
