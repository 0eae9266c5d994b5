"""train-lm, eval-lm, make-vocab and prepare-text through ``cli.main``, and their bad-input errors."""

import json

import pytest

from kaldi_mpq.cli import main
from kaldi_mpq.errors import ConfigError
from kaldi_mpq.lm.config import load_config, preset_names

TINY = ["--set", "model.embed_dim=16", "--set", "model.hidden_dim=16", "--set", "train.epochs=1",
        "--set", "train.batch_size=4", "--set", "train.bptt=8", "--device", "cpu", "--no-progress"]


@pytest.fixture
def texts(tmp_path):
    words = "the cat sat on a mat while the dog ran to a big red house near the old tree".split()
    lines = [" ".join(words[i % 7: i % 7 + 3 + i % 5]) for i in range(60)]
    (tmp_path / "train.txt").write_text("\n".join(lines[:50]) + "\n")
    (tmp_path / "valid.txt").write_text("\n".join(lines[50:]) + "\nan unseen word\n")
    return tmp_path


def _run(capsys, *argv):
    rc = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return rc, out, err


def test_presets_ship_with_the_package():
    names = preset_names()
    for name in ("lstm_2x200", "lstm_2x1024", "transformer_6x512", "transformer_small", "lstm_tiny",
                 "transformer_tiny"):
        assert name in names
        cfg = load_config(name)
        assert cfg["model"]["type"] in ("lstm", "transformer") and cfg["train"]["epochs"] >= 1
    c = load_config("lstm_2x200", ["train.lr=0.5", "model.tie_weights=true", "epochs=2"])
    assert (c["train"]["lr"], c["model"]["tie_weights"], c["train"]["epochs"]) == (0.5, True, 2)
    with pytest.raises(ConfigError, match="unknown config preset 'nope'"):
        load_config("nope")
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config("lstm_tiny", ["train.lr"])


def test_vocab_train_eval_resume(texts, capsys):
    d = texts
    rc, _, _ = _run(capsys, "make-vocab", "--text", d / "train.txt", "--out", d / "words.txt", "--min-count", 2)
    assert rc == 0 and "<unk>" in (d / "words.txt").read_text()
    rc, out, err = _run(capsys, "train-lm", "--config", "lstm_tiny", "--train", d / "train.txt", "--valid",
                        d / "valid.txt", "--words", d / "words.txt", "--out", d / "lm", *TINY)
    assert rc == 0, err
    assert "best valid ppl" in out
    rc, out, _ = _run(capsys, "train-lm", "--config", "lstm_tiny", "--train", d / "train.txt", "--valid",
                      d / "valid.txt", "--words", d / "words.txt", "--out", d / "lm", "--resume", *TINY)
    assert rc == 0 and "at epoch 1 of 1" in out
    for mode in ("sentence", "stream"):
        rc, out, _ = _run(capsys, "eval-lm", "--lm", d / "lm", "--text", d / "valid.txt", "--mode", mode, "--json")
        r = json.loads(out)
        assert rc == 0 and r["mode"] == mode and 1 < r["ppl"] < 1000
        assert r["tokens"] == sum(len(x.split()) + 1 for x in (d / "valid.txt").read_text().splitlines())
        assert r["oov_rate"] > 0
        rc, out, _ = _run(capsys, "eval-lm", "--lm", d / "lm", "--text", d / "valid.txt", "--mode", mode,
                          "--json", d / f"{mode}.json")
        written = json.loads((d / f"{mode}.json").read_text())
        assert rc == 0 and written == json.loads(out)
        assert {k: v for k, v in written.items() if k != "words_per_sec"} == \
            {k: v for k, v in r.items() if k != "words_per_sec"}
    rc, out, _ = _run(capsys, "eval-lm", "--lm", d / "lm", "--lm", d / "lm", "--text", d / "valid.txt",
                      "--markdown", d / "r.md")
    assert rc == 0 and "PPL" in out and (d / "r.md").read_text().startswith("| LM")


def test_transformer_from_yaml_file(texts, capsys, tmp_path):
    cfg = tmp_path / "tf.yaml"
    cfg.write_text("model: {type: transformer, d_model: 16, num_layers: 1, num_heads: 2, ff_dim: 16}\n"
                   "train: {optimizer: adam, lr: 0.01, schedule: constant, epochs: 1, batching: sentence,"
                   " batch_size: 8}\n")
    rc, out, err = _run(capsys, "train-lm", "--config", cfg, "--train", texts / "train.txt", "--valid",
                        texts / "valid.txt", "--out", tmp_path / "tf", "--device", "cpu", "--no-progress")
    assert rc == 0, err
    assert (tmp_path / "tf" / "model.safetensors").is_file()
    rc, out, _ = _run(capsys, "eval-lm", "--lm", tmp_path / "tf", "--text", texts / "valid.txt", "--mode",
                      "stream", "--bptt", "5", "--json")
    assert rc == 0 and json.loads(out)["tokens"] == sum(
        len(x.split()) + 1 for x in (texts / "valid.txt").read_text().splitlines())


def test_prepare_text_ami(capsys, tmp_path):
    (tmp_path / "m.transcript.txt").write_text("Hello, there. How are you? Fine.\n")
    rc, _, _ = _run(capsys, "prepare-text", "--format", "raw", "--normalize", "ami", tmp_path / "m.transcript.txt",
                    "--out", tmp_path / "out.txt")
    assert rc == 0 and (tmp_path / "out.txt").read_text() == "HELLO THERE\nHOW ARE YOU\nFINE\n"


def _expect_error(capsys, argv, pattern, out_dir=None):
    rc, _, err = _run(capsys, *argv)
    assert rc == 1
    errors = [line for line in err.splitlines() if line.startswith("kaldi-mpq ")]
    assert len(errors) == 1 and pattern in errors[0] and "Traceback" not in err, err
    if out_dir is not None:
        assert not out_dir.exists()
        assert not [p for p in out_dir.parent.iterdir() if p.name.startswith(f".{out_dir.name}")]


def test_bad_inputs_are_one_line_errors_without_output(texts, capsys):
    d = texts
    (d / "empty.txt").write_text("\n")
    train = ["train-lm", "--config", "lstm_tiny", "--train", d / "train.txt", "--valid", d / "valid.txt"]
    _expect_error(capsys, ["train-lm", "--config", "lstm_tiny", "--train", d / "empty.txt", "--valid",
                           d / "valid.txt", "--out", d / "o1", *TINY], "empty.txt: no sentences", d / "o1")
    _expect_error(capsys, ["train-lm", "--config", "lstm_tiny", "--train", d / "missing.txt", "--valid",
                           d / "valid.txt", "--out", d / "o2", *TINY], "missing.txt: no such text file", d / "o2")
    (d / "dup.txt").write_text("<eps> 0\n<unk> 1\nthe 2\nthe 3\n<s> 4\n</s> 5\n")
    _expect_error(capsys, [*train, "--words", d / "dup.txt", "--out", d / "o3", *TINY],
                  "dup.txt:4: duplicate symbol 'the'", d / "o3")
    _expect_error(capsys, [*train, "--out", d / "o4", *TINY, "--set", "model.init_range=1e38"],
                  "train.txt: loss is nan at epoch 1, batch 1", d / "o4")
    _expect_error(capsys, [*train, "--out", d / "o5", *TINY, "--set", "train.optimizer=rmsprop"],
                  "optimizer must be sgd, adam or adamw", d / "o5")
    # a checkpoint against a different words.txt
    assert _run(capsys, *train, "--out", d / "lm", *TINY)[0] == 0
    (d / "other.txt").write_text("<eps> 0\n<unk> 1\nzebra 2\n")
    _expect_error(capsys, ["eval-lm", "--lm", d / "lm", "--text", d / "valid.txt", "--words", d / "other.txt"],
                  "word lists mismatch: id 2 is")
    _expect_error(capsys, ["eval-lm", "--lm", d / "nolm", "--text", d / "valid.txt"],
                  "no such checkpoint directory")


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_same_weights(texts, tmp_path):
    """A real kill (SIGKILL of the train-lm process after its first checkpoint), then --resume."""
    import signal
    import subprocess
    import sys
    import time

    from safetensors.torch import load_file

    (texts / "big.txt").write_text((texts / "train.txt").read_text() * 40)
    args = [sys.executable, "-m", "kaldi_mpq", "train-lm", "--config", "lstm_tiny", "--train", str(texts / "big.txt"),
            "--valid", str(texts / "valid.txt"), *map(str, TINY), "--set", "train.epochs=3"]
    assert subprocess.run([*args, "--out", str(tmp_path / "ref")], capture_output=True).returncode == 0
    proc = subprocess.Popen([*args, "--out", str(tmp_path / "run")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while not (tmp_path / "run" / "config.yaml").exists() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert subprocess.run([*args, "--out", str(tmp_path / "run"), "--resume"], capture_output=True).returncode == 0
    ref, run = load_file(str(tmp_path / "ref" / "model.safetensors")), load_file(str(tmp_path / "run" / "model.safetensors"))
    assert ref.keys() == run.keys() and all((ref[k] == run[k]).all() for k in ref)
