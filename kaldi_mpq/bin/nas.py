"""Search a mixed-precision plan with MP-NAS over a model's uniform prototypes.

Usage:
    kaldi-mpq nas --lm exp/lstm --prototypes exp/lstm_protos --train ptb.train.txt --valid ptb.valid.txt \\
        --beta 0.5 --out exp/lstm_nas/plan.yaml
    kaldi-mpq quantize --lm exp/lstm --plan exp/lstm_nas/plan.yaml --init-from exp/lstm_protos \\
        --train ptb.train.txt --valid ptb.valid.txt --out exp/lstm_nas/q      # fine-tune the plan

    kaldi-mpq nas ... --beta 1 --avg-bits 2.0 --out exp/lstm_nas2/plan.yaml     # a plan within 2.0 bits

Writes the plan and ``<plan>.nas.yaml`` beside it (average bits, per-iteration history, each cluster's
probabilities); prints the plan's average bits. Without a budget the plan is the argmax of each
cluster's architecture weights, which lands wherever --beta puts it. With --avg-bits or --mb (the
meaning and accounting of ``kaldi-mpq allocate``) it is the plan of highest summed log-probability
of the searched weights within the budget, chosen by the same exact allocator (--solver); the plan's
metadata records both the argmax plan's average bits and the chosen one's.
"""

from __future__ import annotations

import argparse

from kaldi_mpq.bin.argtypes import bit_widths, non_negative_float, positive_float, positive_int

from kaldi_mpq.quant.allocate import SOLVERS
from kaldi_mpq.quant.nas import NASConfig

_D = NASConfig.__dataclass_fields__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lm", required=True, help="float LM checkpoint directory (the prototypes' source)")
    parser.add_argument("--prototypes", required=True, help="prototypes directory (uniform models per bit-width)")
    parser.add_argument("--train", required=True, help="training text")
    parser.add_argument("--valid", required=True, help="validation text (reports the searched model's PPL)")
    parser.add_argument("--out", required=True, help="plan.yaml to write")
    parser.add_argument("--bits", type=bit_widths, help="candidate bit-widths, comma-separated (default: every prototype's)")
    parser.add_argument("--beta", type=non_negative_float, default=_D["beta"].default,
                        help="weight of the size cost (expected sqrt-bits per parameter) against the cross-entropy")
    parser.add_argument("--max-iters", type=positive_int, default=_D["max_iters"].default, help="outer iterations")
    parser.add_argument("--steps-per-iter", type=positive_int, default=_D["steps_per_iter"].default,
                        help="mini-batch steps per outer iteration")
    parser.add_argument("--lr", type=positive_float, default=_D["lr"].default, help="SGD learning rate of the weights")
    parser.add_argument("--arch-lr", type=positive_float, default=_D["arch_lr"].default,
                        help="Adam learning rate of the architecture weights")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--avg-bits", type=positive_float,
                        help="budget of the plan: average bits per quantized weight (default: no budget, the argmax)")
    budget.add_argument("--mb", type=positive_float, help="budget of the plan: packed file size in MB (10^6 bytes)")
    parser.add_argument("--solver", choices=SOLVERS, default=_D["solver"].default, help="allocator of a budgeted plan")
    parser.add_argument("--batching", choices=("stream", "sentence"), help="default: the model's training config's")
    parser.add_argument("--batch-size", type=positive_int, help="default: the model's")
    parser.add_argument("--bptt", type=positive_int, help="default: the model's")
    parser.add_argument("--loss-reduction", choices=("mean", "sum_over_time"), help="default: the model's")
    parser.add_argument("--clip", type=non_negative_float, help="gradient-norm clipping, 0 = none (default: the model's)")


def main(args: argparse.Namespace) -> int:
    from kaldi_mpq.quant.pipeline import nas_files
    from kaldi_mpq.quant.prototypes import load_prototypes

    bits = args.bits or None
    config = NASConfig(beta=args.beta, max_iters=args.max_iters, steps_per_iter=args.steps_per_iter, lr=args.lr,
                       arch_lr=args.arch_lr, loss_reduction=args.loss_reduction, clip=args.clip,
                       budget=args.avg_bits if args.avg_bits is not None else args.mb,
                       budget_kind="mb" if args.mb is not None else "avg_bits", solver=args.solver)
    result = nas_files(args.lm, load_prototypes(args.prototypes), args.out, config, args.train, args.valid,
                       args.batching, args.batch_size, args.bptt, bits)
    counts = {}
    for b in result.plan.bits.values():
        counts[b] = counts.get(b, 0) + 1
    print(f"{args.out}: {result.average_bits:.3f} bits/weight (clusters per bit-width: "
          + ", ".join(f"{b}: {n}" for b, n in sorted(counts.items())) + ")"
          + (f"; argmax plan {result.argmax_average_bits:.3f} bits/weight" if config.budget is not None else "")
          + (f", valid ppl {result.valid_ppl:.2f} before fine-tuning" if result.valid_ppl else ""))
    return 0
