"""Speed and memory of packed LMs against the fp32 model, on the same sentences.

Usage:
    python bench/quant_speed.py                       # PTB-sized LSTM (10k vocab, 2 x 200), random weights
    python bench/quant_speed.py --model transformer --sentences 300 --threads 1 --repeats 7
    python bench/quant_speed.py --lm exp/ptb/lstm_2x200 --text ptb.test.txt.gz   # a trained model, real text

Models: PTQ of the fp32 model at each uniform bit-width of ``--bits`` and with each plan of ``--plans``
(``mixed2``: a mixed ~2-bit plan of 1-, 2- and 4-bit clusters, :data:`MIXED_PLANS`).

Speed: sentence scoring words/s of fp32 and of each model in the default runtime ("auto": int8
kernels wherever a layer has only 1-8 bit codes, :mod:`kaldi_mpq.quant.runtime`) and in the
packed-in-memory runtime, all loaded in this process.
The timings are interleaved: every repeat times fp32 right before each variant, so each variant has its
own paired fp32 timing; the table gives median words/s and the median of the paired ratios.

``--clock cpu`` times with the process's CPU time instead of wall time (words per CPU second): with
one thread it is not inflated by other jobs waiting for the same cores.

Memory: each runtime mode is loaded in a fresh subprocess that first warms up the same code path on a
tiny model, then records its resident set size (RSS) before the load, after the load, and its peak
while scoring one fixed small batch (8 sentences of 20 words, so the [B, T, V] logits stay small).
"load MB" (RSS after load - before) is what the weights cost in that mode; "peak MB" adds the scoring
working set (for the packed mode: the layer being decoded). glibc's mmap threshold is fixed in the
subprocess so that freed large blocks (e.g. load-time decoding) go back to the OS and RSS follows the
memory actually in use.

Accuracy: the mean absolute difference per scored word between the default runtime's log-probs
and the simulated model's (the packed model decoded to fp32, ``runtime="float"``), in nats: int8
kernels hold the weights exactly and quantize the activations on the fly. Speed does not depend on
the weight values, but this difference does: with random weights (the default) the next-word
distributions are nearly flat, so give ``--lm`` (a trained float checkpoint) and ``--text`` for a
meaningful figure.

The criteria are checked at the end: 8-bit (auto) >= 1.5x fp32 words/s; 2-bit and the mixed ~2-bit
plan (auto) >= 1.4x fp32 words/s and within 0.05 nats per word of the simulated model; no model slower
than fp32 in the default mode ("slower" means a median ratio below ``1 - NOISE``).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

CONFIGS = {"lstm": dict(type="lstm", embed_dim=200, hidden_dim=200, num_layers=2),
           "transformer": dict(type="transformer", d_model=256, num_layers=4, num_heads=4, ff_dim=1024)}
# a mixed ~2-bit plan per model: 1-, 2- and 4-bit clusters (LSTM 2.07 bits, Transformer 2.00 bits)
MIXED_PLANS = {"lstm": {"bits": {"_default": 2, r"re:rnn\.l\d\.[if]": 4, r"re:rnn\.l\d\.[go]": 1}},
               "transformer": {"bits": {"_default": 2, r"re:blocks\.\d+\.attn": 4, r"re:blocks\.\d+\.ff": 1}}}
MEM_BATCH = (8, 20)  # sentences x words of the memory probe
NOISE = 0.05  # ratios within 5% of 1 are equal speed


def seconds(lm, sentences, clock=time.perf_counter) -> float:
    start = clock()
    lm.score_sentences(sentences)
    return clock() - start


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _load(path, runtime: str):
    from kaldi_mpq.lm_loading import load_lm
    from kaldi_mpq.quant import load_packed

    return load_lm(path, device="cpu") if runtime == "fp32" else load_packed(path, runtime)


def _child(path: str, warm: str, runtime: str) -> None:
    """Print RSS KB before load, after load, and peak while scoring MEM_BATCH (fresh process)."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    lm = _load(warm, runtime)  # warm-up: imports, kernels, allocator pools
    lm.score_sentences([list(rng.integers(4, lm.symbols.size, MEM_BATCH[1])) for _ in range(MEM_BATCH[0])])
    del lm
    gc.collect()
    before = _status_kb("VmRSS")
    lm = _load(path, runtime)
    gc.collect()
    after = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    lm.score_sentences([list(rng.integers(4, lm.symbols.size, MEM_BATCH[1])) for _ in range(MEM_BATCH[0])])
    print(before, after, _status_kb("VmHWM"))


def memory_mb(path: Path, warm: Path, runtime: str) -> tuple[float, float]:
    """``(load MB, peak MB)`` above the pre-load RSS of a fresh process."""
    # a fixed mmap threshold: freed large blocks go back to the OS, so RSS follows live memory
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, __file__, "--child", str(path), str(warm), runtime],
                         capture_output=True, text=True, check=True, env=env)
    before, after, peak = map(int, out.stdout.split()[-3:])
    return (after - before) / 1024, (peak - before) / 1024


def make_models(tmp: Path, cfg: dict, vocab: int, plans: dict, name: str = "", lm_dir=None) -> list[tuple[str, Path]]:
    """fp32 checkpoint and PTQ packed directories (one per ``plans`` entry: label -> plan) under ``tmp``,
    of random weights or of the trained checkpoint ``lm_dir``."""
    from kaldi_mpq.lm.checkpoint import build_model, load_module, read_config, read_words, save_checkpoint
    from kaldi_mpq.quant import PTQConfig, quantize_, save_packed
    from kaldi_mpq.text.symbols import SymbolTable

    if lm_dir is not None:
        symbols = read_words(lm_dir)
        module = load_module(lm_dir, read_config(lm_dir), symbols)
    else:
        symbols = SymbolTable.from_words(["<eps>", "<s>", "</s>", "<unk>"] + [f"w{i}" for i in range(vocab - 4)])
        torch.manual_seed(0)
        module = build_model(cfg, symbols)
    save_checkpoint(tmp / f"{name}fp32", module, cfg, symbols)
    dirs = [("fp32", tmp / f"{name}fp32")]
    for label, plan in plans.items():
        m = build_model(cfg, symbols)
        m.load_state_dict(module.state_dict())
        r = quantize_(m, PTQConfig(plan=plan))
        bits = r.layout.average_bits()
        dirs.append((label, save_packed(tmp / f"{name}{label}", r.layout, r.alpha, r.codes, cfg, symbols,
                                        {"average_bits": bits})))
    return dirs


def read_sentences(path: str, symbols, n: int) -> list[list[int]]:
    """The first ``n`` non-empty sentences of a text file as word ids (OOVs -> <unk>)."""
    from kaldi_mpq.lm.pipeline import read_ids

    return [s for s in read_ids(path, symbols)[0] if s][:n]


def nats_apart(a, b) -> float:
    """Mean absolute difference per scored word of two lists of per-token log-prob arrays."""
    diff = np.concatenate([np.abs(np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64))
                           for x, y in zip(a, b)])
    return float(diff.mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(CONFIGS), default="lstm")
    ap.add_argument("--lm", help="a trained float checkpoint instead of random weights (its own architecture)")
    ap.add_argument("--text", help="score this text's first --sentences sentences (default: random words)")
    ap.add_argument("--vocab", type=int, default=10000)
    ap.add_argument("--sentences", type=int, default=200)
    ap.add_argument("--bits", default="1,2,4,8", help="uniform bit-widths (comma-separated; may be empty)")
    ap.add_argument("--plans", default="mixed2", help="named plans (comma-separated; may be empty): mixed2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: process CPU time (with --threads 1, robust to other jobs on the machine)")
    ap.add_argument("--child", nargs=3)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return
    torch.set_num_threads(args.threads)
    if args.lm:
        from kaldi_mpq.lm.checkpoint import read_config

        cfg = read_config(args.lm)["model"]
        kind = cfg["type"]
    else:
        kind, cfg = args.model, CONFIGS[args.model]
    plans = {f"{b}-bit": int(b) for b in args.bits.split(",") if b}
    plans.update({p: MIXED_PLANS[kind] for p in args.plans.split(",") if p})
    tmp = Path(tempfile.mkdtemp(prefix="quant_speed."))
    dirs = dict(make_models(tmp, cfg, args.vocab, plans, lm_dir=args.lm))
    tiny = {**cfg, **({"embed_dim": 8, "hidden_dim": 8} if kind == "lstm" else {"d_model": 8, "num_heads": 2, "ff_dim": 8})}
    warm = dict(make_models(tmp, tiny, 50, {k: v for k, v in plans.items()}, "warm_"))
    rng = np.random.default_rng(0)
    fp32 = _load(dirs["fp32"], "fp32")
    if args.text:
        sentences = read_sentences(args.text, fp32.symbols, args.sentences)
    else:
        sentences = [list(rng.integers(4, fp32.symbols.size, rng.integers(5, 40))) for _ in range(args.sentences)]
    words = sum(len(s) + 1 for s in sentences)
    variants = [(label, rt) for label in plans for rt in ("auto", "packed")]
    lms = {v: _load(dirs[v[0]], v[1]) for v in variants}
    for lm in [fp32, *lms.values()]:
        lm.score_sentences(sentences[:4])  # warm-up
    apart = {label: nats_apart(lms[(label, "auto")].score_sentences(sentences),
                               _load(dirs[label], "float").score_sentences(sentences)) for label in plans}
    modes = {label: sum(type(m).__module__.startswith("torch.ao.nn.quantized.dynamic.modules.")
                        and type(m).__name__ in ("Linear", "LSTM") for m in lms[(label, "auto")].module.modules())
             for label in plans}
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    t_fp32, t_var, ratio = [], {v: [] for v in variants}, {v: [] for v in variants}
    for _ in range(args.repeats):
        for v in variants:  # fp32 right before each variant: paired under the same machine load
            a, b = seconds(fp32, sentences, clock), seconds(lms[v], sentences, clock)
            t_fp32.append(a)
            t_var[v].append(b)
            ratio[v].append(a / b)
    fp32_wps = words / statistics.median(t_fp32)
    load, peak = memory_mb(dirs["fp32"], warm["fp32"], "fp32")
    rows = [("fp32", "-", "32", fp32_wps, 1.0, min(words / t for t in t_fp32), load, peak, None)]
    for v in variants:
        load, peak = memory_mb(dirs[v[0]], warm[v[0]], v[1])
        bits = _average_bits(dirs[v[0]])
        rows.append((*v, f"{bits:.2f}", words / statistics.median(t_var[v]), statistics.median(ratio[v]),
                     min(words / t for t in t_var[v]), load, peak, apart[v[0]] if v[1] == "auto" else None))
    source = f"trained {args.lm}" if args.lm else "random weights"
    print(f"{kind} {cfg}, {source}, vocab {fp32.symbols.size}, {len(sentences)} sentences ({words} words"
          f"{', from ' + args.text if args.text else ', random'}), {args.threads} thread(s), {args.repeats} "
          f"interleaved repeats, {args.clock} clock; memory: fresh process per mode, "
          f"{MEM_BATCH[0]} x {MEM_BATCH[1]}-word sentences")
    print(f"{'model':8} {'runtime':8} {'#bit':>5} {'words/s':>9} {'x fp32':>7} {'worst':>9} {'load MB':>8} "
          f"{'peak MB':>8} {'nats/word':>9}")
    for name, rt, bits, wps, r, worst, ld, pk, nats in rows:
        print(f"{name:8} {rt:8} {bits:>5} {wps:9.0f} {r:7.2f} {worst:9.0f} {ld:8.1f} {pk:8.1f} "
              f"{'-' if nats is None else f'{nats:.4f}':>9}")
    print("('x fp32': median of paired ratios; 'worst': slowest repeat's words/s; 'nats/word': mean |log-prob "
          "difference| per word, default runtime vs the simulated (decoded fp32) model)")
    print("layers on int8 kernels in the default runtime: " + ", ".join(f"{k} {v}" for k, v in modes.items()))
    by = {(n, rt): (r, nats) for n, rt, _, _, r, _, _, _, nats in rows}
    if "8-bit" in plans:
        r8 = by[("8-bit", "auto")][0]
        print(f"criterion 8-bit >= 1.5x fp32 words/s: {r8:.2f}x -> {'met' if r8 >= 1.5 else 'NOT met'}")
    for label in [p for p in ("2-bit", "mixed2") if p in plans]:
        r, nats = by[(label, "auto")]
        ok = r >= 1.4 and nats <= 0.05
        print(f"criterion {label} >= 1.4x fp32 words/s and within 0.05 nats/word: {r:.2f}x, {nats:.4f} nats "
              f"-> {'met' if ok else 'NOT met'}")
    slow = [f"{label} {by[(label, 'auto')][0]:.2f}x" for label in plans if by[(label, "auto")][0] < 1.0 - NOISE]
    print(f"criterion no model slower than fp32 (default runtime, median ratio >= {1 - NOISE:.2f}): "
          + ("met" if not slow else "NOT met: " + ", ".join(slow)))


def _average_bits(path: Path) -> float:
    import yaml

    return float(yaml.safe_load((path / "config.yaml").read_text())["quant"]["average_bits"])


if __name__ == "__main__":
    main()
