"""Copy lattices between archive forms, like Kaldi's ``lattice-copy``.

Usage:
    kaldi-mpq lattice-copy "ark:gunzip -c lat.1.gz|" ark,t:lat.1.txt          # binary -> text
    kaldi-mpq lattice-copy ark,t:lat.1.txt "ark:|gzip -c > lat.1.gz"           # text -> gzip'd binary
    kaldi-mpq lattice-copy --write-compact=false ark:lat.1.gz ark:lat.1.tid.ark
    kaldi-mpq lattice-copy --skip-bad ark:lat.1.gz ark,scp:out.ark,out.scp
    kaldi-mpq lattice-copy --include data/eval2000_swbd/text ark:lat.1.gz "ark:|gzip -c > swbd/lat.1.gz"
"""

from __future__ import annotations

import argparse
import logging
from typing import Optional

from kaldi_mpq.errors import ConfigError
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
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--include", help="only the utterances named by the first field of this file's lines "
                   "(as Kaldi's lattice-copy --include, e.g. a subset's text)")
    g.add_argument("--exclude", help="all but the utterances named by the first field of this file's lines")
    add_skip_bad_arguments(parser)
    parser.add_argument("lattice_rspecifier")
    parser.add_argument("lattice_wspecifier")


def _utterance_ids(path: Optional[str]) -> Optional[set[str]]:
    """The first fields of the file's non-empty lines (Kaldi's --include/--exclude lists)."""
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return {line.split()[0] for line in f if line.strip()}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the utterance list ({e.strerror})") from None


def main(args: argparse.Namespace) -> int:
    stats = ReadStats()
    include, exclude = _utterance_ids(args.include), _utterance_ids(args.exclude)

    def counted():
        for lat in read_lattices_for_command(args.lattice_rspecifier, args.skip_bad, stats):
            if (include is not None and lat.key not in include) or (exclude is not None and lat.key in exclude):
                continue
            stats.done += 1
            yield lat

    write_lattices(args.lattice_wspecifier, counted(), compact=args.write_compact)
    logger.info(stats.line())
    return stats.exit_status(args.allow_failures)
