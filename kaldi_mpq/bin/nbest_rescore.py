"""Rescore the n-best lists of a Kaldi decode dir with a neural LM; write a new decode dir.

Usage:
    kaldi-mpq nbest-rescore --lm exp/lstm --words data/lang/words.txt --old-lm data/local/lm/3gram.arpa.gz \\
        exp/tri3a/decode exp/tri3a/decode_lstm_nbest
    kaldi-mpq nbest-rescore --lm exp/transformer --words data/lang/words.txt --old-lm lm.arpa \\
        --n 20 --acwt 0.1 --weight 0.5 --interpolation linear --job 3 exp/tri3a/decode exp/tri3a/decode_tf
    kaldi-mpq nbest-rescore --lm exp/lstm --words data/lang/words.txt --interpolation log-linear \\
        --weight 0.3 exp/tri3a/decode exp/tri3a/decode_lstm_noremoval      # no old LM: graph cost mixed
    kaldi-mpq nbest-rescore --lm exp/lstm --words data/lang/words.txt --old-lm small.arpa --ngram big.arpa \
        exp/tri3a/decode exp/tri3a/decode_lstm_big      # remove small.arpa, mix the LSTM with big.arpa

For each utterance the N best distinct word sequences at --acwt are taken, the old n-gram's log-prob
is removed from each graph cost and the new LM's (the --weight mix of neural and n-gram) is added;
each list is written back as a lattice (lat.JOB.gz, num_jobs) so Kaldi's scoring runs unchanged.
"""

from __future__ import annotations

import argparse
import functools

from kaldi_mpq.bin.argtypes import non_negative_float, positive_int, unit_float
from kaldi_mpq.nbest.lattice_roundtrip import DEFAULT_N
from kaldi_mpq.nbest.prefix import DEFAULT_MAX_BATCH
from kaldi_mpq.ngram.interpolate import DEFAULT_WEIGHT, INTERPOLATIONS


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``lattice-rescore``."""
    parser.add_argument("in_dir", help="input decode dir (lat.JOB.gz, num_jobs)")
    parser.add_argument("out_dir", help="output decode dir (jobs already written there are not redone)")
    parser.add_argument("--lm", required=True,
                        help="LM checkpoint dir (float or packed quantized), or an n-gram LM file (ARPA, .gz, G.fst, G.carpa)")
    parser.add_argument("--words", required=True, help="the lang dir's words.txt (must equal the LM's)")
    parser.add_argument("--old-lm", help="ARPA of the first-pass n-gram LM to remove and interpolate with")
    parser.add_argument("--ngram", help="ARPA of another n-gram LM to interpolate with instead of --old-lm "
                        "(which is then only removed)")
    parser.add_argument("--acwt", type=non_negative_float, default=0.1, help="acoustic scale")
    parser.add_argument("--weight", type=unit_float, default=DEFAULT_WEIGHT, help="weight of the neural LM")
    parser.add_argument("--interpolation", choices=INTERPOLATIONS,
                        help="per-word linear mix of probabilities, or log-linear (Kaldi's --weight); "
                        "default: linear with --old-lm, else log-linear with the graph cost")
    parser.add_argument("--job", type=positive_int, help="only this job (1-based), as in $cmd JOB=1:$nj")
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when present)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--n", type=positive_int, default=DEFAULT_N, help="hypotheses per utterance")
    parser.add_argument("--max-batch", type=positive_int, default=DEFAULT_MAX_BATCH,
                        help="hypotheses per prefix tree (bounds memory)")


def main(args: argparse.Namespace) -> int:
    from kaldi_mpq.nbest.rescore import rescore_lattice_nbest
    from kaldi_mpq.rescoring.core import check_settings, load_rescoring_lms
    from kaldi_mpq.rescoring.rescore_dir import rescore_decode_dir

    check_settings(args.old_lm is not None, args.weight, args.interpolation, args.ngram is not None)
    lms = load_rescoring_lms(args.lm, args.words, args.old_lm, args.device, args.ngram)
    rescore = functools.partial(rescore_lattice_nbest, lms=lms, n=args.n, acwt=args.acwt, weight=args.weight,
                                interpolation=args.interpolation, max_batch=args.max_batch)
    rescore_decode_dir(args.in_dir, args.out_dir, rescore, args.job)
    return 0
