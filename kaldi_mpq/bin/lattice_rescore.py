"""Rescore the lattices of a Kaldi decode dir with a neural LM (pruned, n-gram history approximation).

Usage:
    kaldi-mpq lattice-rescore --lm exp/lstm --words data/lang/words.txt --old-lm lm.arpa.gz \\
        exp/tri3a/decode exp/tri3a/decode_lstm_lat
    kaldi-mpq lattice-rescore --lm exp/transformer --words data/lang/words.txt --old-lm lm.arpa \\
        --max-ngram-order 4 --lattice-prune-beam 8 --max-arcs 20000 --job 2 exp/tri3a/decode out_dir

Histories sharing their last --max-ngram-order - 1 words are merged; expansion is best-first within
--lattice-prune-beam of the best path and stops at --max-arcs arcs (as Kaldi's
lattice-lmrescore-kaldi-rnnlm-pruned). Acoustic costs and alignments are kept; graph costs get the old
n-gram removed and the --weight mix of neural and n-gram LM added.
"""

from __future__ import annotations

import argparse

from kaldi_mpq.bin.argtypes import positive_beam, positive_int
from kaldi_mpq.bin.nbest_rescore import add_common_arguments
from kaldi_mpq.rescoring.lattice_rescore import LatticeRescoreConfig

_DEFAULTS = LatticeRescoreConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--max-ngram-order", type=positive_int, default=_DEFAULTS.max_ngram_order,
                        help="n-gram history approximation order")
    parser.add_argument("--lattice-prune-beam", type=positive_beam, default=_DEFAULTS.beam, help="pruning beam")
    parser.add_argument("--max-arcs", type=positive_int, default=_DEFAULTS.max_arcs,
                        help="arcs per output lattice, at most (or the input's best path, if longer)")
    parser.add_argument("--batch-lattices", type=positive_int, default=_DEFAULTS.batch_lattices,
                        help="lattices expanded together (bounds memory)")


def main(args: argparse.Namespace) -> int:
    from kaldi_mpq.rescoring.core import check_settings, load_rescoring_lms
    from kaldi_mpq.rescoring.lattice_rescore import rescore_lattices
    from kaldi_mpq.rescoring.rescore_dir import rescore_decode_dir

    check_settings(args.old_lm is not None, args.weight, args.interpolation, args.ngram is not None)
    cfg = LatticeRescoreConfig(
        acwt=args.acwt, weight=args.weight, interpolation=args.interpolation,
        max_ngram_order=args.max_ngram_order, beam=args.lattice_prune_beam, max_arcs=args.max_arcs,
        batch_lattices=args.batch_lattices,
    )
    lms = load_rescoring_lms(args.lm, args.words, args.old_lm, args.device, args.ngram)
    rescore_decode_dir(args.in_dir, args.out_dir,
                       lambda lats: rescore_lattices(lats, lms.lm, lms.old, cfg, lms.ngram), args.job)
    return 0
