"""Table of #bit, perplexity, size, compression, size/ideal and speed for a set of LM directories.

Usage:
    kaldi-mpq quant-report --text ptb.test.txt exp/lstm exp/lstm_admm8 exp/lstm_admm4 exp/lstm_admm2
    kaldi-mpq quant-report --text ptb.test.txt --markdown --runtime float exp/lstm exp/lstm_*bit
    kaldi-mpq quant-report --text ptb.test.txt --plot exp/size_ppl.png exp/lstm exp/lstm_*   # + size vs PPL plot

The first float checkpoint listed is the reference for the compression ratio; ``size/ideal`` is the
packed file size over bits x params / 8 + scales + fp32 weights (<= 1.01 expected).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lms", nargs="+", help="LM directories (float or packed)")
    parser.add_argument("--text", required=True, help="evaluation text (sentence mode)")
    parser.add_argument("--runtime", default="auto", choices=("auto", "float", "int8", "packed"),
                        help="runtime mode for packed models")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--timing-passes", type=int, default=2,
                        help="passes over the text per model; eval time is the fastest")
    parser.add_argument("--plot", help="also write a size-vs-perplexity plot here (.png, .pdf or .svg)")


def main(args: argparse.Namespace) -> int:
    from kaldi_mpq.quant.pipeline import format_report, report_rows
    from kaldi_mpq.quant.plots import plot_size_vs_ppl, pyplot

    if args.plot:
        pyplot()  # a missing matplotlib is said before the models are evaluated
    rows = report_rows(args.lms, args.text, runtime=args.runtime, timing_passes=args.timing_passes)
    print(format_report(rows, markdown=args.markdown))
    if args.plot:
        plot_size_vs_ppl(rows, args.plot)
    return 0
