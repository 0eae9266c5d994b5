"""Identical runs write identical bytes: float checkpoints, training states and packed models."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from kaldi_mpq.cli import main
from kaldi_mpq.fileio import write_safetensors
from kaldi_mpq.quant.packed import TIMING_FILE

TINY = ["--set", "model.embed_dim=16", "--set", "model.hidden_dim=16", "--set", "train.epochs=2",
        "--set", "train.batch_size=4", "--set", "train.bptt=8", "--set", "model.dropout=0.2",
        "--device", "cpu", "--no-progress"]


def test_safetensors_metadata_keys_are_sorted(tmp_path):
    from safetensors.numpy import load_file, safe_open, save

    meta = {k: str(i) for i, k in enumerate("qwertyuiopasdfghjklzxcvbnm")}
    write_safetensors(tmp_path / "m.safetensors", save({"x": np.arange(5, dtype=np.float32)}, metadata=meta))
    blob = (tmp_path / "m.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    assert n % 8 == 0
    assert list(json.loads(blob[8:8 + n])["__metadata__"]) == sorted(meta)
    assert load_file(tmp_path / "m.safetensors")["x"].tolist() == [0, 1, 2, 3, 4]
    with safe_open(str(tmp_path / "m.safetensors"), framework="numpy") as f:
        assert f.metadata() == meta


def _files(d):
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_identical_runs_write_identical_bytes(tmp_path, capsys):
    words = "the cat sat on a mat while the dog ran to a big red house near the old tree".split()
    lines = [" ".join(words[i % 7: i % 7 + 3 + i % 5]) for i in range(60)]
    (tmp_path / "train.txt").write_text("\n".join(lines[:50]) + "\n")
    (tmp_path / "valid.txt").write_text("\n".join(lines[50:]) + "\n")
    t, v = str(tmp_path / "train.txt"), str(tmp_path / "valid.txt")
    for run in ("a", "b"):
        d = tmp_path / run
        assert main(["train-lm", "--config", "lstm_tiny", "--train", t, "--valid", v, "--out", str(d / "lm"),
                     "--seed", "3", *TINY]) == 0
        lm = str(tmp_path / "a" / "lm")  # both quantize the same model: only the quantization is compared
        assert main(["quantize", "--lm", lm, "--method", "ptq", "--bits", "2", "--out", str(d / "ptq")]) == 0
        assert main(["quantize", "--lm", lm, "--method", "bp", "--bits", "3", "--train", t, "--valid", v,
                     "--max-iters", "2", "--steps-per-iter", "3", "--out", str(d / "bp")]) == 0
    capsys.readouterr()
    for sub in ("lm", "ptq", "bp"):
        a, b = _files(tmp_path / "a" / sub), _files(tmp_path / "b" / sub)
        assert sorted(a) == sorted(b)
        assert "model.safetensors" in a or "model.packed.safetensors" in a
        for name in a:
            if name != TIMING_FILE:  # wall-clock figures, kept apart for that reason
                assert a[name] == b[name], f"{sub}/{name} differs between identical runs"
