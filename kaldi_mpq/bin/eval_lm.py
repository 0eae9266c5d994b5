"""Perplexity, OOV rate and speed of an LM checkpoint on text.

Usage:
    kaldi-mpq eval-lm --lm exp/lstm --text ptb.test.txt                    # sentence mode
    kaldi-mpq eval-lm --lm exp/lstm --text ptb.test.txt --mode stream      # text as one history
    kaldi-mpq eval-lm --lm exp/lm --text data/dev/text --words data/lang/words.txt --unk '<UNK>'

Prints one line: ``ppl``, ``tokens`` (words + </s>), ``oov_rate`` (of words), ``words_per_sec``;
``--json`` prints the same as JSON.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from kaldi_mpq.bin.train_lm import add_text_arguments

    parser.add_argument("--lm", required=True, help="LM checkpoint directory")
    parser.add_argument("--text", required=True, help="evaluation text")
    parser.add_argument("--words", help="check the LM against this words.txt (word lists must match)")
    parser.add_argument("--mode", default="sentence", choices=("sentence", "stream"),
                        help="sentence: each sentence from <s>; stream: the text as one history")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per batch (sentence mode)")
    parser.add_argument("--bptt", type=int, help="chunk length in stream mode (default: training bptt)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: CUDA when present)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_text_arguments(parser)


def main(args: argparse.Namespace) -> int:
    import json

    from kaldi_mpq.lm.pipeline import TextOptions, eval_lm_files

    r = eval_lm_files(
        args.lm, args.text, words=args.words, mode=args.mode, batch_size=args.batch_size, bptt=args.bptt,
        text=TextOptions(format=args.format, normalize=args.normalize), device=args.device,
    )
    values = {"lm": str(args.lm), "text": str(args.text), "mode": r.mode, "ppl": round(r.ppl, 3),
              "tokens": r.tokens, "oov_rate": round(r.oov.oov_rate, 5), "oov_types": r.oov.oov_types,
              "words_per_sec": round(r.words_per_second, 1)}
    if args.json:
        print(json.dumps(values))
    else:
        print(" ".join(f"{k} {v}" for k, v in values.items()))
    return 0
