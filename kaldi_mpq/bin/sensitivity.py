"""KL and Hessian sensitivity of every cluster at every bit-width (paper 1, Sec. V-A/B).

Usage:
    kaldi-mpq sensitivity --lm exp/lstm --prototypes exp/lstm_protos --train ptb.train.txt \\
        --valid ptb.valid.txt --out exp/lstm_sens
    kaldi-mpq sensitivity --lm exp/lstm --prototypes exp/lstm_protos --train ptb.train.txt --out exp/lstm_sens \\
        --metric hessian --probes 100 --probe rademacher

Prototypes (uniform 1/2/4/8-bit models) are loaded from --prototypes if it holds them, else trained
there first (--method auto: BP and ADMM on the same budget, the better on --valid kept per bit-width).
The tables are measured on --sentences sentences of --train (paper: one mini-batch of 32) and written
to --out as <metric>.yaml (for `kaldi-mpq allocate`) and <metric>.tsv: kl, and from one Hutchinson
estimate hessian, hessian_avg and hessian_diag (docs/quantization.md).
"""

from __future__ import annotations

import argparse

from kaldi_mpq.bin.argtypes import band_edges, bit_widths, non_negative_float, non_negative_int, positive_float, positive_int

from kaldi_mpq.quant.mp_pipeline import METRIC_CHOICES, SensitivityOptions

_D = SensitivityOptions()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lm", required=True, help="float LM checkpoint directory")
    parser.add_argument("--prototypes", required=True, help="prototypes directory (loaded, or trained into)")
    parser.add_argument("--train", required=True, help="training text (prototype training and the mini-batch)")
    parser.add_argument("--valid", help="validation text (prototype selection; needed to train them)")
    parser.add_argument("--out", required=True, help="output directory of the tables")
    parser.add_argument("--metric", choices=METRIC_CHOICES, default=_D.metrics)
    parser.add_argument("--sentences", type=positive_int, default=_D.sentences, help="sentences in the mini-batch")
    parser.add_argument("--seed", type=non_negative_int, default=_D.seed, help="mini-batch draw and probe seed")
    parser.add_argument("--probes", type=positive_int, default=_D.probes, help="Hutchinson probes (at most)")
    parser.add_argument("--probe", choices=("gaussian", "rademacher"), default=_D.distribution)
    parser.add_argument("--tol", type=non_negative_float, default=_D.tol, help="stop when no trace moves more than this, relative")
    g = parser.add_argument_group("prototype training (when --prototypes is empty)")
    g.add_argument("--bits", type=bit_widths, default="1,2,4,8", help="prototype bit-widths")
    g.add_argument("--method", choices=("auto", "bp", "admm", "ptq"), default="auto")
    g.add_argument("--granularity", choices=("layer", "sublayer", "gate", "node"), default="sublayer")
    g.add_argument("--bias", choices=("column", "float"), default="float")
    g.add_argument("--word-bands", type=band_edges, metavar="EDGES",
                   help="split the embedding / output rows into word-frequency bands, one cluster each: "
                        "1000,3000 = the 1,000 most frequent words of --train, the next 2,000, the rest")
    g.add_argument("--max-iters", type=positive_int, default=20)
    g.add_argument("--steps-per-iter", type=positive_int, default=200)
    g.add_argument("--patience", type=positive_int, default=2)
    g.add_argument("--lr", type=positive_float, default=0.02, help="BP learning rate")
    g.add_argument("--gamma", type=positive_float, default=1e-3, help="ADMM penalty")
    g.add_argument("--eta1", type=positive_float, default=0.02)
    g.add_argument("--eta2", type=positive_float, default=0.001)


def main(args: argparse.Namespace) -> int:
    from kaldi_mpq.quant.mp_pipeline import get_prototypes, sensitivity_files

    protos = get_prototypes(
        args.lm, args.prototypes, args.train, args.valid, args.bits, args.method,
        args.granularity, args.bias, word_band_edges=args.word_bands, max_iters=args.max_iters, steps_per_iter=args.steps_per_iter,
        patience=args.patience, lr=args.lr, gamma=args.gamma, eta1=args.eta1, eta2=args.eta2)
    options = SensitivityOptions(args.metric, args.sentences, args.seed, args.probes, args.probe, args.tol)
    for t in sensitivity_files(args.lm, protos, args.train, args.out, options):
        print(f"{args.out}/{t.metric}.tsv: {len(t.clusters)} clusters x bits {list(t.bits)}")
    return 0
