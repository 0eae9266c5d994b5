"""One results table for a whole experiment: a row per system (n-gram baseline, fp32 LMs, quantized LMs)
with PPL, the dev-tuned WER of every test set, MAPSSWE marks, size, compression and ms/word, as paper
1's Tables III-VI. The inputs and the marks are described in :mod:`kaldi_mpq.report.results`.

Usage:
    kaldi-mpq quant-report --text data/local/lm/dev.txt --json exp/results/report.json exp/lm/* exp/quant/*
    kaldi-mpq results-table --systems exp/results/systems.tsv --report exp/results/report.json \\
        --sets dev,eval --markdown exp/RESULTS.md --text exp/results/table.txt --plot-dir exp/results/plots
    kaldi-mpq results-table --systems systems.tsv --sets rt02,eval2000_swbd,eval2000_callhm,rt03 --tune-set rt02

Prints the aligned text table (also written with ``--text``). ``--plot-dir`` gets ``wer_vs_size_<set>.png``
for every set that is not the tuning set and ``bits/<model>.png`` (bits per cluster) for every packed model.
"""

from __future__ import annotations

import argparse
import sys

from kaldi_mpq.bin.argtypes import unit_float


def _sets(text: str) -> list[str]:
    sets = [s for s in text.split(",") if s]
    if not sets or len(set(sets)) != len(sets) or any("/" in s or "{" in s for s in sets):
        raise argparse.ArgumentTypeError(f"expected distinct comma-separated set names, got {text!r}")
    return sets


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--systems", required=True, help="systems file (TSV: id lm method bits model parent "
                        "<condition>...; see kaldi_mpq/report/results.py)")
    parser.add_argument("--sets", type=_sets, required=True, help="test-set names, comma-separated; each "
                        "replaces {set} in the decode dirs")
    parser.add_argument("--tune-set", help="set LMWT, WIP and decode alternatives are tuned on (default: the first of --sets)")
    parser.add_argument("--report", action="append",
                        help="kaldi-mpq quant-report --json output (PPL, size, ratio, ms/word), or kaldi-mpq "
                             "eval-lm --json output (PPL of an n-gram LM file); repeatable")
    parser.add_argument("--baseline", help="system id the '+'/'-' marks compare with (default: the first system)")
    parser.add_argument("--alpha", type=unit_float, default=0.05, help="significance level of the MAPSSWE marks")
    parser.add_argument("--markdown", help="write the tables as markdown here (e.g. exp/RESULTS.md)")
    parser.add_argument("--text", help="write the aligned text table here")
    parser.add_argument("--json", help="write every figure, tuned setting and p-value here")
    parser.add_argument("--title", default="Results", help="heading of the tables")
    parser.add_argument("--plot-dir", help="write the WER-vs-size and bits-per-cluster plots here")


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kaldi_mpq.report.results import build_table, plot_wer_vs_size, write_outputs

    if args.plot_dir:
        from kaldi_mpq.quant.plots import pyplot

        pyplot()  # a missing matplotlib is said before the tables are built
    table = build_table(args.systems, args.sets, args.tune_set, args.report, args.baseline, args.alpha)
    sys.stdout.write(write_outputs(table, args.markdown, args.text, args.json, args.title))
    if args.plot_dir:
        from kaldi_mpq.quant.pipeline import plot_bits_of

        out = Path(args.plot_dir)
        for st in [s for s in table.sets if s != table.tune_set] or table.sets:
            plot_wer_vs_size(table, st, out / f"wer_vs_size_{st}.png")
        packed = [r.system.model for r in table.rows if r.size_mb is not None and r.system.method != "fp32"]
        plot_bits_of(packed, out / "bits")
    return 0
