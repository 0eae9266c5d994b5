"""Table of #bit, perplexity, size, compression, size/ideal and speed for a set of LM directories.

Usage:
    kaldi-mpq quant-report --text ptb.test.txt exp/lstm exp/lstm_admm8 exp/lstm_admm4 exp/lstm_admm2
    kaldi-mpq quant-report --text ptb.test.txt --markdown --runtime float exp/lstm exp/lstm_*bit
    kaldi-mpq quant-report --text ptb.test.txt --plot exp/size_ppl.png exp/lstm exp/lstm_*   # + size vs PPL plot
    kaldi-mpq quant-report --text dev.txt --json exp/report.json exp/lstm exp/lstm_*   # + rows for results-table

The first float checkpoint listed is the reference for the compression ratio; ``size/ideal`` is the
packed file size over bits x params / 8 + scales + fp32 weights (<= 1.01 expected).
"""

from __future__ import annotations

import argparse

from kaldi_mpq.bin.argtypes import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lms", nargs="+", help="LM directories (float or packed)")
    parser.add_argument("--text", required=True, help="evaluation text (sentence mode)")
    parser.add_argument("--runtime", default="auto", choices=("auto", "float", "int8", "packed"),
                        help="runtime mode for packed models")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--timing-passes", type=positive_int, default=2,
                        help="passes over the text per model; eval time is the fastest")
    parser.add_argument("--plot", help="also write a size-vs-perplexity plot here (.png, .pdf or .svg): one "
                        "series per method (mixed plans as method+metric, e.g. bp+kl)")
    parser.add_argument("--paper-table", action="store_true",
                        help="also print the table in the layout of paper 2's Table 2 (#bit, PPL, MB, ratio, ms/word)")
    parser.add_argument("--json", help="also write the rows as JSON here (a list of objects: path as given, "
                        "then the table's fields), the input of kaldi-mpq results-table")
    parser.add_argument("--plot-bits", help="also write a bits-per-cluster plot of every packed model into this "
                        "directory (<name>.png)")


def main(args: argparse.Namespace) -> int:
    from kaldi_mpq.quant.pipeline import format_report, report_rows
    from kaldi_mpq.quant.plots import plot_size_vs_ppl, pyplot

    if args.plot:
        pyplot()  # a missing matplotlib is said before the models are evaluated
    rows = report_rows(args.lms, args.text, runtime=args.runtime, timing_passes=args.timing_passes)
    print(format_report(rows, markdown=args.markdown))
    if args.paper_table:
        from kaldi_mpq.quant.pipeline import format_paper_table

        print()
        print(format_paper_table(rows))
    if args.plot_bits:
        from kaldi_mpq.quant.pipeline import plot_bits_of

        for path in plot_bits_of(args.lms, args.plot_bits):
            print(f"wrote {path}")
    if args.json:
        from kaldi_mpq.quant.pipeline import write_report_json

        write_report_json(rows, args.lms, args.json)
    if args.plot:
        plot_size_vs_ppl(rows, args.plot)
    return 0
