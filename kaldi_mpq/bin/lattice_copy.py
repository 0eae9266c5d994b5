"""Copy lattices between archive forms, like Kaldi's ``lattice-copy``.

Usage:
    kaldi-mpq lattice-copy "ark:gunzip -c lat.1.gz|" ark,t:lat.1.txt          # binary -> text
    kaldi-mpq lattice-copy ark,t:lat.1.txt "ark:|gzip -c > lat.1.gz"           # text -> gzip'd binary
    kaldi-mpq lattice-copy --write-compact=false ark:lat.1.gz ark:lat.1.tid.ark
    kaldi-mpq lattice-copy --skip-bad ark:lat.1.gz ark,scp:out.ark,out.scp
"""

from __future__ import annotations

import argparse
import logging

from kaldi_mpq.lattice.io import ReadStats, add_skip_bad_arguments, read_lattices_for_command, write_lattices

logger = logging.getLogger(__name__)


def _bool(s: str) -> bool:
    if s.lower() in ("true", "1", "yes"):
        return True
    if s.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--write-compact", type=_bool, default=True,
                        help="write CompactLattice (true) or Lattice with transition ids on arcs (false)")
    add_skip_bad_arguments(parser)
    parser.add_argument("lattice_rspecifier")
    parser.add_argument("lattice_wspecifier")


def main(args: argparse.Namespace) -> int:
    stats = ReadStats()

    def counted():
        for lat in read_lattices_for_command(args.lattice_rspecifier, args.skip_bad, stats):
            stats.done += 1
            yield lat

    write_lattices(args.lattice_wspecifier, counted(), compact=args.write_compact)
    logger.info(stats.line())
    return stats.exit_status(args.allow_failures)
