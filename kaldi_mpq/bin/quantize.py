"""Quantize an LM checkpoint to a packed low-bit model (ADMM, modified BP, GQ or post-training).

Usage:
    kaldi-mpq quantize --lm exp/lstm --method ptq --bits 8 --out exp/lstm_ptq8
    kaldi-mpq quantize --lm exp/lstm --method admm --bits 2 --train ptb.train.txt --valid ptb.valid.txt \\
        --steps-per-iter 200 --max-iters 20 --out exp/lstm_admm2
    kaldi-mpq quantize --lm exp/tfm --method bp --plan conf/plan.yaml --granularity node \\
        --train ptb.train.txt --valid ptb.valid.txt --out exp/tfm_bp_mixed
    kaldi-mpq quantize --lm exp/lstm --method gq --bits 4 --train ptb.train.txt --valid ptb.valid.txt \\
        --out exp/lstm_gq4                     # General Quantizer (paper 4): mu-law centroid tables

ADMM, BP and GQ read the training text the way the model was trained (its config.yaml ``train:``
section: stream/BPTT batches carrying the LSTM state, loss reduction, clipping) unless overridden.
The output directory loads anywhere an LM directory is accepted (``format: packed``).

Fine-tuning a mixed plan (``--plan`` from ``kaldi-mpq allocate`` or ``kaldi-mpq nas``) starts with
``--init-from PROTOTYPES_DIR``: every cluster inherits the weights of the prototype at its bit-width,
then BP (the default) or ADMM trains the whole model. ``--bits N --init-from PROTOTYPES_DIR`` is
the uniform N-bit model in the prototypes' cluster layout (granularity, bias, word bands), fine-tuned
from the N-bit prototype.

``--word-bands 1000,3000`` splits the embedding and output rows into word-frequency bands (counted on
``--train``), each its own cluster with its own scale (docs/quantization.md, "Word bands").
"""

from __future__ import annotations

import argparse

from kaldi_mpq.bin.argtypes import band_edges, bit_width, non_negative_float, positive_float, positive_int

from kaldi_mpq.quant import ADMMConfig, BPConfig, PTQConfig
from kaldi_mpq.quant.gq import GQConfig

METHODS = {"admm": ADMMConfig, "bp": BPConfig, "gq": GQConfig, "ptq": PTQConfig}
_D_ADMM, _D_BP, _D_GQ = (c.__dataclass_fields__ for c in (ADMMConfig, BPConfig, GQConfig))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lm", required=True, help="float LM checkpoint directory")
    parser.add_argument("--method", default="bp", choices=sorted(METHODS),
                        help="bp (default: ahead of ADMM at 1-2 bits on PTB, docs/quantization.md), admm (the "
                             "papers'), gq (General Quantizer) or ptq (no training)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--bits", type=bit_width, help="uniform bit-width: 1 2 3 4 5 6 8 16")
    which.add_argument("--plan", help="plan.yaml (cluster -> bits)")
    parser.add_argument("--granularity", choices=("layer", "sublayer", "gate", "node"),
                        help="cluster granularity (default: the plan's, else sublayer)")
    parser.add_argument("--bias", choices=("column", "float"), help="float: biases stay fp32 (default); column: "
                        "each bias is quantized with its row's cluster (paper 1)")
    parser.add_argument("--word-bands", type=band_edges, metavar="EDGES",
                        help="split the embedding / output rows into word-frequency bands, one cluster each: "
                             "1000,3000 = the 1,000 most frequent words of --train, the next 2,000, the rest")
    parser.add_argument("--train", help="training text (admm, bp, gq)")
    parser.add_argument("--valid", help="validation text (admm, bp, gq; also reported for ptq)")
    parser.add_argument("--init-from", metavar="PROTOTYPES_DIR",
                        help="start from the prototypes: each cluster inherits the weights of the prototype at "
                             "its bit-width in the plan (fine-tuning a mixed plan)")
    parser.add_argument("--out", required=True, help="packed output directory")
    parser.add_argument("--max-iters", type=positive_int, default=_D_ADMM["max_iters"].default,
                        help="outer iterations (admm, bp); the best one on --valid is kept")
    parser.add_argument("--steps-per-iter", type=positive_int, default=_D_ADMM["steps_per_iter"].default,
                        help="SGD mini-batch steps per outer iteration")
    parser.add_argument("--patience", type=positive_int, default=_D_ADMM["patience"].default,
                        help="stop after this many iterations without a better validation perplexity")
    parser.add_argument("--gamma", type=positive_float, default=_D_ADMM["gamma"].default, help="ADMM penalty (the paper's value; it needs eta2 * gamma * "
                        "steps-per-iter of order 1 to move the weights: see docs/quantization.md)")
    parser.add_argument("--eta1", type=positive_float, default=_D_ADMM["eta1"].default, help="ADMM extra-gradient step 1")
    parser.add_argument("--eta2", type=positive_float, default=_D_ADMM["eta2"].default, help="ADMM extra-gradient step 2")
    parser.add_argument("--lr", type=positive_float, default=_D_BP["lr"].default, help="BP / GQ learning rate (SGD)")
    parser.add_argument("--mu", type=positive_float, default=_D_GQ["mu"].default,
                        help="GQ mu-law parameter of the centroids (refit per cluster around it)")
    parser.add_argument("--no-refit-mu", action="store_true", help="GQ: keep --mu fixed (the scale is still fitted)")
    parser.add_argument("--alpha-start", type=positive_float, default=_D_GQ["alpha_start"].default,
                        help="GQ softmax temperature at the first step")
    parser.add_argument("--alpha-end", type=positive_float, default=_D_GQ["alpha_end"].default,
                        help="GQ softmax temperature at the last step (linear annealing)")
    parser.add_argument("--callback-every", type=positive_int, default=_D_GQ["callback_every"].default,
                        help="GQ: SGD steps between soft-quantization callbacks")
    parser.add_argument("--batching", choices=("stream", "sentence"),
                        help="training batches (default: the model's training config's, e.g. stream = BPTT "
                             "with the LSTM state carried over)")
    parser.add_argument("--batch-size", type=positive_int, help="rows (stream) or sentences per batch (default: the model's)")
    parser.add_argument("--bptt", type=positive_int, help="stream steps per batch (default: the model's)")
    parser.add_argument("--loss-reduction", choices=("mean", "sum_over_time"),
                        help="loss the step sizes apply to (default: the model's)")
    parser.add_argument("--clip", type=non_negative_float, help="gradient-norm clipping, 0 = none (default: the model's)")


def main(args: argparse.Namespace) -> int:
    from kaldi_mpq.errors import ConfigError
    from kaldi_mpq.quant.pipeline import quantize_files

    plan = args.bits if args.bits is not None else args.plan
    common = dict(plan=plan, granularity=args.granularity, bias=args.bias)
    if args.method == "ptq":
        config = PTQConfig(**common)
    else:
        if not (args.train and args.valid):
            raise ConfigError(f"--method {args.method} needs --train and --valid")
        loop = dict(max_iters=args.max_iters, steps_per_iter=args.steps_per_iter, patience=args.patience)
        if args.method == "admm":
            config = ADMMConfig(**common, **loop, gamma=args.gamma, eta1=args.eta1, eta2=args.eta2)
        elif args.method == "gq":
            config = GQConfig(**common, **loop, lr=args.lr, mu=args.mu, refit_mu=not args.no_refit_mu,
                              alpha_start=args.alpha_start, alpha_end=args.alpha_end,
                              callback_every=args.callback_every)
        else:
            config = BPConfig(**common, **loop, lr=args.lr)
    result = quantize_files(args.lm, args.out, config, train=args.train, valid=args.valid,
                            batching=args.batching, batch_size=args.batch_size, bptt=args.bptt,
                            loss_reduction=args.loss_reduction, clip=args.clip, init_from=args.init_from,
                            word_band_edges=args.word_bands)
    best = result.best_valid_ppl
    print(f"{args.out}: {result.method}, {result.layout.average_bits():.2f} bits/weight"
          + (f", valid ppl {best:.2f}" if best is not None else ""))
    return 0
