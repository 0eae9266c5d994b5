"""Choose a bit-width per cluster: least summed sensitivity within a size budget, exactly.

Usage:
    kaldi-mpq allocate --table exp/lstm_sens/kl.yaml --avg-bits 2.0 --out exp/lstm_kl2
    kaldi-mpq allocate --table exp/lstm_sens/hessian_avg.yaml --mb 1.2 --solver ilp --out exp/lstm_hes_1.2mb
    kaldi-mpq quantize --lm exp/lstm --method bp --plan exp/lstm_kl2/plan.yaml --init-from exp/lstm_protos \\
        --train ptb.train.txt --valid ptb.valid.txt --out exp/lstm_bp_kl2

--avg-bits is the parameter-weighted average bits of the quantized weights (quant-report's #bit); --mb
the packed file in 10^6 bytes (codes, scales, fp32 weights, header). Writes --out/plan.yaml and
--out/pareto.tsv (every plan on the size vs summed-sensitivity front).
"""

from __future__ import annotations

import argparse

from kaldi_mpq.bin.argtypes import bit_widths, positive_float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", required=True, help="sensitivity table (<metric>.yaml of kaldi-mpq sensitivity)")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--avg-bits", type=positive_float, help="budget: average bits per quantized weight")
    budget.add_argument("--mb", type=positive_float, help="budget: packed file size in MB (10^6 bytes)")
    parser.add_argument("--bits", type=bit_widths, help="allowed bit-widths, e.g. 1,2,4,8 (default: the table's columns)")
    parser.add_argument("--solver", choices=("dp", "ilp"), default="dp")
    parser.add_argument("--prototypes", help="prototypes directory, recorded in the plan's metadata")
    parser.add_argument("--out", required=True, help="output directory (plan.yaml, pareto.tsv)")


def main(args: argparse.Namespace) -> int:
    from kaldi_mpq.quant.mp_pipeline import allocate_files

    kind, budget = ("avg_bits", args.avg_bits) if args.avg_bits is not None else ("mb", args.mb)
    bits = args.bits or None
    a = allocate_files(args.table, budget, kind, args.out, args.solver, bits, args.prototypes)
    print(f"{args.out}/plan.yaml: {a.average_bits:.3f} bits/weight, {a.ideal_bytes / 1e6:.3f} MB ideal, "
          f"summed sensitivity {a.sensitivity:.6g}; bits {a.bits.tolist()}")
    return 0
