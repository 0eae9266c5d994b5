"""Checkpoint directories: round trip, tied weights stored once, mismatching words, corrupt files."""

import numpy as np
import pytest
import yaml

from kaldi_mpq.errors import CheckpointError, ConfigError, SymbolTableError
from kaldi_mpq.lm.checkpoint import build_model
from kaldi_mpq.lm_loading import load_lm, register_loader
from kaldi_mpq.testing.lm import TINY_MODELS, tiny_checkpoint, tiny_lm, tiny_symbols


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_round_trip_and_tied_weights_saved_once(kind, tmp_path):
    from safetensors.torch import load_file

    ckpt = tiny_checkpoint(tmp_path / "lm", kind, tie_weights=True, seed=5)
    assert sorted(p.name for p in ckpt.iterdir()) == ["config.yaml", "model.safetensors", "words.txt"]
    config = yaml.safe_load((ckpt / "config.yaml").read_text())
    assert config["version"] == 1 and config["format"] == "float" and config["model"]["type"] == kind
    names = set(load_file(str(ckpt / "model.safetensors")))
    assert "embedding.weight" in names and "output.weight" not in names
    lm = load_lm(ckpt, device="cpu")
    assert lm.module.output.weight is lm.module.embedding.weight
    sents = [[3, 4, 5], [6]]
    ref = tiny_lm(kind, seed=5, tie_weights=True).score_sentences(sents)
    for a, b in zip(lm.score_sentences(sents), ref):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_words_must_match(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "lm")
    load_lm(ckpt, words=ckpt / "words.txt", device="cpu")  # same list: fine
    other = tiny_symbols(21)
    other.write(tmp_path / "words.txt")
    with pytest.raises(SymbolTableError, match=r"word lists mismatch: id 22 is '#0' in .*lm/words.txt but 'w20' in"):
        load_lm(ckpt, words=tmp_path / "words.txt", device="cpu")
    with pytest.raises(SymbolTableError, match="word lists mismatch"):
        load_lm(ckpt, words=other, device="cpu")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint directory"):
        load_lm(tmp_path / "nope")
    ckpt = tiny_checkpoint(tmp_path / "lm")
    (ckpt / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=r"model.safetensors: corrupt weights file"):
        load_lm(ckpt, device="cpu")
    (ckpt / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"model.safetensors: missing"):
        load_lm(ckpt, device="cpu")
    ckpt = tiny_checkpoint(tmp_path / "lm2")
    (ckpt / "config.yaml").write_text("model: [unclosed")
    with pytest.raises(CheckpointError, match=r"config.yaml: corrupt YAML"):
        load_lm(ckpt, device="cpu")
    ckpt = tiny_checkpoint(tmp_path / "lm3")
    (ckpt / "words.txt").unlink()
    with pytest.raises(CheckpointError, match=r"words.txt: missing"):
        load_lm(ckpt, device="cpu")
    ckpt = tiny_checkpoint(tmp_path / "lm4")
    cfg = yaml.safe_load((ckpt / "config.yaml").read_text())
    cfg["model"]["hidden_dim"] = 32
    (ckpt / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(CheckpointError, match="shape"):
        load_lm(ckpt, device="cpu")


def test_loader_registry(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "lm")
    cfg = yaml.safe_load((ckpt / "config.yaml").read_text())
    cfg["format"] = "test-format"
    (ckpt / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(CheckpointError, match="unknown checkpoint format 'test-format'"):
        load_lm(ckpt, device="cpu")
    seen = {}

    @register_loader("test-format")
    def _load(path, config, symbols, device):
        seen["args"] = (path, config["format"], len(symbols))
        return tiny_lm(symbols=symbols)

    assert load_lm(ckpt, device="cpu").symbols == tiny_symbols()
    assert seen["args"] == (ckpt, "test-format", len(tiny_symbols()))


def test_build_model_rejects_bad_configs():
    sym = tiny_symbols()
    with pytest.raises(ConfigError, match="model.type"):
        build_model({"type": "gru"}, sym)
    with pytest.raises(ConfigError, match="unknown lstm option"):
        build_model({**TINY_MODELS["lstm"], "heads": 2}, sym)
    with pytest.raises(ConfigError, match="tie_weights needs embed_dim == hidden_dim"):
        build_model({**TINY_MODELS["lstm"], "embed_dim": 8, "tie_weights": True}, sym)
