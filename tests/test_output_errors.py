"""Every command that writes files, given an output it cannot write (a full disk, a path under a regular
file, a read-only directory): a one-line error, a non-zero exit, and no file left behind.

The full disk is an ``RLIMIT_FSIZE`` of 0 around the command (writes fail with EFBIG, as they would with
ENOSPC), so it also runs as root, which ignores permissions (the read-only case is skipped there).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from kaldi_mpq import cli
from kaldi_mpq.lattice.io import read_lattices, write_lattices
from kaldi_mpq.ngram.train import train_arpa
from kaldi_mpq.testing.lattices import random_lattice
from kaldi_mpq.testing.lm import tiny_checkpoint, tiny_symbols


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Small inputs of every command: texts, an LM, a packed model, prototypes, a sensitivity table and a
    decode dir with its data dir."""
    root = tmp_path_factory.mktemp("inputs")
    symbols = tiny_symbols(12)
    symbols.write(root / "words.txt")
    rng = np.random.default_rng(0)
    text = [" ".join(f"w{i}" for i in rng.integers(0, 12, rng.integers(1, 8))) for _ in range(200)]
    (root / "train.txt").write_text("\n".join(text[:160]) + "\n")
    (root / "valid.txt").write_text("\n".join(text[160:]) + "\n")
    train_arpa(text, root / "lm.arpa", order=3)
    dec = root / "decode"
    dec.mkdir()
    lats = [random_lattice(np.random.default_rng(k), symbols, f"utt_{k}") for k in range(4)]
    write_lattices(f"ark:{dec}/lat.1.gz", lats)
    (dec / "num_jobs").write_text("1\n")
    (root / "data").mkdir()
    (root / "data" / "text").write_text("".join(f"{lat.key} w1 w2\n" for lat in lats))
    tiny_checkpoint(root / "lm", "lstm", symbols)
    t, v = str(root / "train.txt"), str(root / "valid.txt")
    assert cli.main(["quantize", "--lm", str(root / "lm"), "--method", "ptq", "--bits", "4",
                     "--out", str(root / "q4")]) == 0
    assert cli.main(["sensitivity", "--lm", str(root / "lm"), "--prototypes", str(root / "protos"), "--train", t,
                     "--out", str(root / "sens"), "--method", "ptq", "--metric", "kl", "--sentences", "4"]) == 0
    assert [lat.key for lat in read_lattices(f"ark:{dec}/lat.1.gz")] == [lat.key for lat in lats]
    return root


def _argv(command: str, r: Path, out: Path) -> list[str]:
    """The command line of ``command`` on the inputs ``r``, writing under ``out``."""
    t, v, lm, words = str(r / "train.txt"), str(r / "valid.txt"), str(r / "lm"), str(r / "words.txt")
    lat = f"ark:{r}/decode/lat.1.gz"
    rescore = ["--lm", lm, "--words", words, "--old-lm", str(r / "lm.arpa"), "--device", "cpu",
               str(r / "decode"), str(out / "rescored")]
    return {
        "prepare-text": ["prepare-text", t, "--out", str(out / "text")],
        "make-vocab": ["make-vocab", "--text", t, "--out", str(out / "words.txt"), "--write-text", str(out / "t")],
        "train-lm": ["train-lm", "--config", "lstm_tiny", "--train", t, "--valid", v, "--out", str(out / "lm"),
                     "--set", "model.embed_dim=8", "--set", "model.hidden_dim=8", "--set", "train.epochs=1",
                     "--set", "train.batch_size=4", "--set", "train.bptt=8", "--device", "cpu", "--no-progress"],
        "eval-lm": ["eval-lm", "--lm", lm, "--text", v, "--device", "cpu", "--markdown", str(out / "r.md")],
        "quantize": ["quantize", "--lm", lm, "--method", "ptq", "--bits", "2", "--out", str(out / "q2")],
        "sensitivity": ["sensitivity", "--lm", lm, "--prototypes", str(r / "protos"), "--train", t,
                        "--out", str(out / "sens"), "--metric", "kl", "--sentences", "4"],
        "allocate": ["allocate", "--table", str(r / "sens" / "kl.yaml"), "--avg-bits", "3", "--out",
                     str(out / "alloc")],
        "nas": ["nas", "--lm", lm, "--prototypes", str(r / "protos"), "--train", t, "--valid", v,
                "--out", str(out / "plan.yaml"), "--max-iters", "1", "--steps-per-iter", "1"],
        "quant-report": ["quant-report", str(r / "q4"), "--text", v, "--plot", str(out / "size.png")],
        "lattice-copy": ["lattice-copy", lat, f"ark:{out}/lat.ark"],
        "lattice-best-path": ["lattice-best-path", "--acoustic-scale", "0.1", lat, f"ark,t:{out}/1best.tra"],
        "lattice-to-nbest": ["lattice-to-nbest", "--n", "3", lat, f"ark:{out}/nbest.ark"],
        "nbest-rescore": ["nbest-rescore", *rescore],
        "lattice-rescore": ["lattice-rescore", *rescore],
        "score": ["score", str(r / "data"), words, str(out / "decode")],
    }[command]


#: commands whose only output is stdout are not here (compute-wer, significance)
WRITERS = ["prepare-text", "make-vocab", "train-lm", "eval-lm", "quantize", "sensitivity", "allocate", "nas",
           "quant-report", "lattice-copy", "lattice-best-path", "lattice-to-nbest", "nbest-rescore",
           "lattice-rescore", "score"]


@contextlib.contextmanager
def _full_disk():
    """Files cannot grow past 0 bytes in this process (EFBIG) until the block ends."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def _files(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*") if not p.is_dir()} if d.is_dir() else set()


@pytest.mark.parametrize("how", ["full-disk", "under-a-file", "read-only"])
@pytest.mark.parametrize("command", WRITERS)
def test_unwritable_output_is_one_line_error_and_leaves_nothing(command, how, inputs, tmp_path, capsys):
    if command == "quant-report":
        pytest.importorskip("matplotlib", reason="quant-report writes a file only with --plot (matplotlib)")
    if how == "read-only" and os.geteuid() == 0:
        pytest.skip("root ignores permissions (the full-disk case covers it)")
    parent = tmp_path / "out"
    if command == "score":  # scoring writes into the decode dir
        if how == "under-a-file":
            pytest.skip("score's output directory is its input decode dir")
        (parent / "decode").mkdir(parents=True)
        for f in (inputs / "decode").iterdir():
            shutil.copy(f, parent / "decode" / f.name)
    elif how == "under-a-file":
        parent.write_text("a file, not a directory\n")
    else:
        parent.mkdir()
    before = _files(parent)
    argv = _argv(command, inputs, parent)
    capsys.readouterr()
    if how == "read-only":
        for d in [parent, *(p for p in parent.rglob("*") if p.is_dir())]:
            d.chmod(0o555)
    try:
        with _full_disk() if how == "full-disk" else contextlib.nullcontext():
            rc = cli.main(argv)
    finally:
        for d in [parent, *(p for p in parent.rglob("*") if p.is_dir())] if parent.is_dir() else []:
            d.chmod(0o755)
    err = capsys.readouterr().err
    assert rc != 0, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"kaldi-mpq {command}: error: "), err
    assert _files(parent) == before, "partial output left behind"
    if how == "full-disk":  # the file that could not be written is named
        assert f"File too large (writing): '{parent}/" in err, err


def test_full_stdout_is_one_line_error(tmp_path):
    """Commands that print their result (compute-wer, significance...) fail the same way on a full stdout."""
    import subprocess
    import sys

    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full (Linux)")
    (tmp_path / "ref.txt").write_text("u1 a b c\nu2 d e\n")
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "kaldi_mpq", "compute-wer", "--text", f"ark:{tmp_path}/ref.txt",
                            f"ark:{tmp_path}/ref.txt"], stdout=full, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "kaldi-mpq compute-wer: error: [Errno 28] No space left on device"
