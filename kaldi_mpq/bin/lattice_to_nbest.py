"""N-best paths of lattices as linear lattices keyed ``utt-1 .. utt-N``, as Kaldi's ``lattice-to-nbest`` writes them.

Usage:
    kaldi-mpq lattice-to-nbest --n=10 --acoustic-scale=0.1 "ark:gunzip -c lat.1.gz|" ark:nbest.1.ark
    kaldi-mpq lattice-to-nbest --n=20 --lm-scale=1 --acoustic-scale=0.0833 ark:lat.1.gz ark,t:-

Output weights are Kaldi's: not the original weights but the scaled ones scaled back
(``float32(float32(w * scale) * (1 / scale))``, 1/scale in double), with no scale and no penalty
left in; each output arc is a word arc plus the epsilon arcs that follow it (alignments
concatenated, weights summed in float32); with ``--n`` > 1 the path starts with an epsilon arc of
weight 0 when its first arc has a word, and its final weight is moved onto the last arc (the final
state gets 0,0). See :mod:`kaldi_mpq.lattice.nbest_lattices` for the details.

``--word-ins-penalty`` (not an option of Kaldi's ``lattice-to-nbest``) acts as
``lattice-add-penalty`` before it: the penalty stays in the output graph costs. The n entries are
the n best distinct word sequences: Kaldi's n best paths on determinized lattices.
"""

from __future__ import annotations

import argparse
import logging

from kaldi_mpq.lattice.io import ReadStats, add_skip_bad_arguments, read_lattices_for_command, write_lattices
from kaldi_mpq.lattice.nbest_lattices import kaldi_nbest_lattices

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=1, help="number of distinct paths")
    parser.add_argument("--acoustic-scale", type=float, default=1.0, help="scale of acoustic costs")
    parser.add_argument("--lm-scale", type=float, default=1.0, help="scale of graph (LM) costs")
    parser.add_argument("--word-ins-penalty", type=float, default=0.0,
                        help="added to the graph cost of each word first, as lattice-add-penalty does")
    add_skip_bad_arguments(parser)
    parser.add_argument("lattice_rspecifier")
    parser.add_argument("nbest_wspecifier")


def main(args: argparse.Namespace) -> int:
    stats = ReadStats()
    paths = 0

    def nbest_lattices():
        nonlocal paths
        for lat in read_lattices_for_command(args.lattice_rspecifier, args.skip_bad, stats):
            out = kaldi_nbest_lattices(lat, args.n, args.acoustic_scale, args.lm_scale, args.word_ins_penalty)
            if not out:
                logger.warning("Possibly empty lattice for utterance-id %s (no N-best entries)", lat.key)
                stats.failed += 1
                continue
            stats.done += 1
            paths += len(out)
            yield from out

    write_lattices(args.nbest_wspecifier, nbest_lattices())
    logger.info("%s; done applying N-best algorithm with n = %d, average actual #paths is %g",
                stats.line(), args.n, paths / (stats.done + 1e-20))
    return stats.exit_status(args.allow_failures)
