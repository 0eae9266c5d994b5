"""Speed and memory of packed LMs against the fp32 model, in one process, on the same sentences.

Usage:
    python bench/quant_speed.py                       # PTB-sized LSTM (10k vocab, 2 x 200), random weights
    python bench/quant_speed.py --model transformer --sentences 300 --threads 1

Prints words/s of sentence scoring for fp32 and for each bit-width in the default runtime ("auto":
int8 kernels at 8 bits, decoded fp32 below) and in the packed-in-memory runtime, the ratio to fp32,
and the peak resident memory (RSS) of a fresh process that loads the model and scores the sentences.
Speed does not depend on the weight values, so random weights are used.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

CONFIGS = {"lstm": dict(type="lstm", embed_dim=200, hidden_dim=200, num_layers=2),
           "transformer": dict(type="transformer", d_model=256, num_layers=4, num_heads=4, ff_dim=1024)}


def words_per_second(lm, sentences, repeats: int = 2) -> float:
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        lm.score_sentences(sentences)
        best = max(best, sum(len(s) + 1 for s in sentences) / (time.perf_counter() - start))
    return best


def _child(path: str, runtime: str, n: int) -> None:
    """Load and score in a fresh process; print peak RSS in MB."""
    from kaldi_mpq.lm.checkpoint import load_lm
    from kaldi_mpq.quant import load_packed

    lm = load_lm(path, device="cpu") if runtime == "fp32" else load_packed(path, runtime)
    rng = np.random.default_rng(0)
    lm.score_sentences([list(rng.integers(4, lm.symbols.size, 20)) for _ in range(n)])
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def peak_rss_mb(path: Path, runtime: str, n: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", str(path), runtime, str(n)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(CONFIGS), default="lstm")
    ap.add_argument("--vocab", type=int, default=10000)
    ap.add_argument("--sentences", type=int, default=200)
    ap.add_argument("--bits", default="1,2,4,8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child", nargs=3)
    args = ap.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return
    torch.set_num_threads(args.threads)
    from kaldi_mpq.lm.checkpoint import build_model, load_lm, save_checkpoint
    from kaldi_mpq.quant import PTQConfig, load_packed, quantize_, save_packed
    from kaldi_mpq.text.symbols import SymbolTable

    symbols = SymbolTable.from_words(["<eps>", "<s>", "</s>", "<unk>"] + [f"w{i}" for i in range(args.vocab - 4)])
    cfg = CONFIGS[args.model]
    rng = np.random.default_rng(0)
    sentences = [list(rng.integers(4, symbols.size, rng.integers(5, 40))) for _ in range(args.sentences)]
    tmp = Path(tempfile.mkdtemp(prefix="quant_speed."))
    torch.manual_seed(0)
    save_checkpoint(tmp / "fp32", build_model(cfg, symbols), cfg, symbols)
    fp32 = words_per_second(load_lm(tmp / "fp32", device="cpu"), sentences)
    rows = [("fp32", "-", fp32, 1.0, peak_rss_mb(tmp / "fp32", "fp32", 50))]
    for bits in map(int, args.bits.split(",")):
        module = load_lm(tmp / "fp32", device="cpu").module
        r = quantize_(module, PTQConfig(plan=bits))
        save_packed(tmp / f"q{bits}", r.layout, r.alpha, r.codes, cfg, symbols)
        for runtime in ("auto", "packed"):
            wps = words_per_second(load_packed(tmp / f"q{bits}", runtime), sentences)
            rows.append((f"{bits}-bit", runtime, wps, wps / fp32, peak_rss_mb(tmp / f"q{bits}", runtime, 50)))
    print(f"{args.model} {cfg}, vocab {symbols.size}, {len(sentences)} sentences, {args.threads} thread(s)")
    print(f"{'model':8} {'runtime':8} {'words/s':>10} {'x fp32':>7} {'peak RSS MB':>12}")
    for name, rt, wps, ratio, rss in rows:
        print(f"{name:8} {rt:8} {wps:10.0f} {ratio:7.2f} {rss:12.1f}")


if __name__ == "__main__":
    main()
