"""Perplexity, OOV rate and speed of LM checkpoints on text.

Usage:
    kaldi-mpq eval-lm --lm exp/lstm --text ptb.test.txt                    # sentence mode
    kaldi-mpq eval-lm --lm exp/lstm --text ptb.test.txt --mode stream      # text as one history
    kaldi-mpq eval-lm --lm exp/lm --text data/dev/text --words data/lang/words.txt --unk '<UNK>'
    kaldi-mpq eval-lm --lm exp/lstm --lm exp/transformer --text dev.txt --markdown exp/RESULTS.md

One line per LM: ``ppl``, ``tokens`` (words + </s>), ``oov_rate`` (of words), ``words_per_sec``
(``--json``: JSON lines; ``--json FILE`` also writes them to FILE). With several ``--lm`` a table follows; ``--markdown`` also writes it as Markdown.
"""

from __future__ import annotations

import argparse

from kaldi_mpq.bin.argtypes import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from kaldi_mpq.bin.train_lm import add_text_arguments

    parser.add_argument("--lm", required=True, action="append",
                        help="LM checkpoint directory, or an n-gram LM file (ARPA, G.fst, G.carpa; sentence "
                             "mode) (repeatable)")
    parser.add_argument("--text", required=True, help="evaluation text")
    parser.add_argument("--words", help="check the LM against this words.txt (word lists must match)")
    parser.add_argument("--mode", default="sentence", choices=("sentence", "stream"),
                        help="sentence: each sentence from <s>; stream: the text as one history")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="sentences per batch (sentence mode)")
    parser.add_argument("--bptt", type=positive_int, help="chunk length in stream mode (default: training bptt)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: CUDA when present)")
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE",
                        help="print JSON lines, one per --lm; with FILE, also write them to FILE")
    parser.add_argument("--markdown", help="write the results table as Markdown to this file")
    add_text_arguments(parser)


def main(args: argparse.Namespace) -> int:
    import json

    from kaldi_mpq.fileio import atomic_write
    from kaldi_mpq.lm.pipeline import TextOptions, eval_lm_files, results_table
    from kaldi_mpq.lm_loading import load_lm

    reports = [
        eval_lm_files(lm, args.text, words=args.words, mode=args.mode, batch_size=args.batch_size,
                      bptt=args.bptt, text=TextOptions(format=args.format, normalize=args.normalize),
                      device=args.device, load=load_lm)
        for lm in args.lm
    ]
    lines = [json.dumps(r.as_dict()) if args.json else " ".join(f"{k} {v}" for k, v in r.as_dict().items())
             for r in reports]
    print("\n".join(lines))
    if args.json not in (None, "-"):
        with atomic_write(args.json) as f:
            f.write("\n".join(lines) + "\n")
    if len(reports) > 1:
        print(results_table(reports))
    if args.markdown:
        with atomic_write(args.markdown) as f:
            f.write(results_table(reports, markdown=True) + "\n")
    return 0
