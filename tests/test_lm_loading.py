"""Any LM directory loads where an LM is accepted: float checkpoints and packed models alike."""

import json

import numpy as np
import pytest

from kaldi_mpq.cli import main as cli_main
from kaldi_mpq.errors import CheckpointError
from kaldi_mpq.lm.checkpoint import load_float_lm, read_config
from kaldi_mpq.lm_loading import load_lm
from kaldi_mpq.quant import PTQConfig, quantize_, save_packed
from kaldi_mpq.testing.lm import TINY_MODELS, tiny_checkpoint, tiny_module, tiny_symbols


@pytest.fixture
def lm_dirs(tmp_path):
    symbols = tiny_symbols()
    fp = tiny_checkpoint(tmp_path / "fp", seed=3)
    model = tiny_module(symbols=symbols, seed=3)
    result = quantize_(model, PTQConfig(plan=8))
    packed = save_packed(tmp_path / "q8", result.layout, result.alpha, result.codes, TINY_MODELS["lstm"], symbols)
    return fp, packed


def test_load_lm_opens_both_formats_and_load_float_lm_only_float(lm_dirs):
    fp, packed = lm_dirs
    sents = [[3, 4, 5], [6, 7]]
    a = load_lm(fp, words=fp / "words.txt", device="cpu").score_sentences(sents)
    b = load_lm(packed, words=fp / "words.txt", device="cpu").score_sentences(sents)
    assert max(float(np.abs(x - y).max()) for x, y in zip(a, b)) < 0.05  # 8 bits: close, not equal
    c = load_float_lm(fp, device="cpu").score_sentences(sents)
    assert all(np.array_equal(x, y) for x, y in zip(a, c))
    assert read_config(packed)["format"] == "packed"
    with pytest.raises(CheckpointError, match=r"q8/config.yaml: a 'packed' checkpoint, not a float one"):
        load_float_lm(packed, device="cpu")


def test_eval_lm_takes_float_and_packed_dirs(lm_dirs, tmp_path, capsys):
    fp, packed = lm_dirs
    text = tmp_path / "text.txt"
    text.write_text("w1 w2 w3\nw4 w5\n")
    assert cli_main(["eval-lm", "--lm", str(fp), "--lm", str(packed), "--text", str(text), "--json",
                     "--device", "cpu"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["lm"] for r in rows] == [str(fp), str(packed)]
    assert all(r["ppl"] > 1 and r["type"] == "lstm" for r in rows)
