"""Training throughput of kaldi-mpq's loop vs a plain PyTorch loop, same model and batches, one process.

Usage:
    python bench/train_throughput.py                       # LSTM 2x200, PTB-sized vocabulary, CPU
    python bench/train_throughput.py --model transformer_small --batches 40 --device cuda
    python bench/train_throughput.py --text ../shared/data/ptb-mikolov/ptb.valid.txt.gz

Both loops run the same optimizer step on the same batches (stream BPTT batches, LSTM state carried);
they alternate for ``--repeats`` rounds and the best round of each is kept. Prints tokens/s of each and
the ratio ours / plain (goal >= 0.95).
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch
import torch.nn.functional as F

from kaldi_mpq.lm.checkpoint import build_model
from kaldi_mpq.lm.config import load_config
from kaldi_mpq.lm.train import LrSchedule, TrainConfig, make_optimizer, train_epoch
from kaldi_mpq.text.batching import IGNORE, StreamBatches
from kaldi_mpq.text.corpus import read_sentences
from kaldi_mpq.text.symbols import SymbolTable
from kaldi_mpq.text.vocab import build_vocab, count_words, sentences_to_ids


class Limited:
    """The first ``n`` batches of ``batches`` (keeps ``carries_state``)."""

    def __init__(self, batches, n):
        self.batches, self.n, self.carries_state = batches, n, batches.carries_state

    def __len__(self):
        return self.n

    def __iter__(self):
        return itertools.islice(iter(self.batches), self.n)


def plain_loop(module, batches, optimizer, clip, device, sum_over_time):
    """The reference: the loop of PyTorch's word_language_model example."""
    module.train()
    state, tokens = None, 0
    carry = batches.carries_state and hasattr(module, "zero_state")
    for inputs, targets in batches:
        inputs, targets = inputs.to(device), targets.to(device)
        if state is not None:
            state = tuple(s.detach() for s in state)
        logits, state = module.forward_with_state(inputs, state) if carry else (module(inputs), None)
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE,
                              reduction="sum")
        n = int((targets != IGNORE).sum())
        loss = nll / (inputs.shape[0] if sum_over_time else n)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
        optimizer.step()
        tokens += n
    return tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lstm_2x200", help="LM preset or YAML")
    ap.add_argument("--text", help="training text (default: random sentences over a 10k vocabulary)")
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    config = load_config(args.model)
    tcfg = TrainConfig.from_dict({**config["train"], "device": args.device})
    if args.text:
        sents = read_sentences(args.text)
        symbols = build_vocab(count_words(sents))
    else:
        rng = np.random.default_rng(0)
        symbols = SymbolTable.from_words([f"w{i}" for i in range(9999)])
        sents = [[f"w{i}" for i in rng.zipf(1.2, size=rng.integers(5, 40)) % 9999] for _ in range(4000)]
    ids = sentences_to_ids(sents, symbols)
    batches = Limited(StreamBatches(ids, symbols.bos_id, symbols.eos_id, tcfg.batch_size, tcfg.bptt), args.batches)
    device = torch.device(args.device)
    torch.manual_seed(0)
    module = build_model(config["model"], symbols).to(device)
    optimizer = make_optimizer(module, tcfg)
    schedule = LrSchedule(tcfg, len(batches))
    sum_over_time = tcfg.loss_reduction == "sum_over_time"

    def timed(fn):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        tokens = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return tokens / (time.perf_counter() - t)

    plain_loop(module, Limited(batches.batches, 3), optimizer, tcfg.clip, device, sum_over_time)  # warm-up
    ours, plain = [], []
    for _ in range(args.repeats):
        plain.append(timed(lambda: plain_loop(module, batches, optimizer, tcfg.clip, device, sum_over_time)))
        ours.append(timed(lambda: train_epoch(module, batches, optimizer, schedule, tcfg, 0, progress=False)[1]))
    print(f"model {args.model} on {device}, {args.batches} batches of {tcfg.batch_size}x{tcfg.bptt}, "
          f"best of {args.repeats}")
    print(f"plain PyTorch loop: {max(plain):10.0f} tokens/s")
    print(f"kaldi-mpq train:    {max(ours):10.0f} tokens/s")
    print(f"ratio kaldi-mpq / plain: {max(ours) / max(plain):.3f}")


if __name__ == "__main__":
    main()
