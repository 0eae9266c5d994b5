"""N-best paths of lattices as linear lattices keyed ``utt-1 .. utt-N``, like Kaldi's ``lattice-to-nbest``.

Usage:
    kaldi-mpq lattice-to-nbest --n=10 --acoustic-scale=0.1 "ark:gunzip -c lat.1.gz|" ark:nbest.1.ark
    kaldi-mpq lattice-to-nbest --n=20 --lm-scale=1 --acoustic-scale=0.0833 ark:lat.1.gz ark,t:-

The n entries are the n best distinct word sequences (see ``kaldi_mpq.lattice.paths.nbest``); each
output lattice keeps the original, unscaled weights and alignments of its path.
"""

from __future__ import annotations

import argparse
import logging

from kaldi_mpq.lattice.io import ReadStats, path_lattice, read_lattices_for_command, write_lattices

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=1, help="number of distinct paths")
    parser.add_argument("--acoustic-scale", type=float, default=1.0, help="scale of acoustic costs")
    parser.add_argument("--lm-scale", type=float, default=1.0, help="scale of graph (LM) costs")
    parser.add_argument("--word-ins-penalty", type=float, default=0.0, help="added to the cost of each word")
    parser.add_argument("--skip-bad", action="store_true", help="skip malformed lattices instead of stopping")
    parser.add_argument("lattice_rspecifier")
    parser.add_argument("nbest_wspecifier")


def main(args: argparse.Namespace) -> int:
    stats = ReadStats()

    def nbest_lattices():
        for lat in read_lattices_for_command(args.lattice_rspecifier, args.skip_bad, stats):
            paths = lat.nbest(args.n, args.acoustic_scale, args.lm_scale, args.word_ins_penalty)
            if not paths:
                logger.warning("Possibly empty lattice for utterance-id %s (no N-best entries)", lat.key)
                stats.failed += 1
                continue
            stats.done += 1
            for k, path in enumerate(paths, 1):
                yield path_lattice(lat, path, f"{lat.key}-{k}")

    n = write_lattices(args.nbest_wspecifier, nbest_lattices())
    logger.info("%s; wrote %d n-best paths", stats.line(), n)
    return 0 if stats.done > 0 else 1
