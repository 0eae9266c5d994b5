"""Best paths of lattices, like Kaldi's ``lattice-best-path``: writes ``key id id id`` lines.

Usage:
    kaldi-mpq lattice-best-path --acoustic-scale=0.1 "ark:gunzip -c exp/tri3a/decode/lat.1.gz|" ark,t:-
    kaldi-mpq lattice-best-path --lm-scale=1 --acoustic-scale=0.0833 --word-symbol-table=data/lang/words.txt \\
        ark:lat.1.gz ark,t:1best.tra ark,t:1best.ali
    kaldi-mpq lattice-best-path --skip-bad --word-ins-penalty=0.5 scp:lat.scp ark:1best.ark
"""

from __future__ import annotations

import argparse

from kaldi_mpq.bin.argtypes import finite_float
import logging

from kaldi_mpq.errors import LatticeFormatError
from kaldi_mpq.kaldi_io import write_table
from kaldi_mpq.lattice.io import ReadStats, add_skip_bad_arguments, read_lattices_for_command
from kaldi_mpq.lattice.lattice import Lattice
from kaldi_mpq.lattice.paths import PathSearch

logger = logging.getLogger(__name__)
BATCH = 256  # lattices searched together


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--acoustic-scale", type=finite_float, default=1.0, help="scale of acoustic costs")
    parser.add_argument("--lm-scale", type=finite_float, default=1.0, help="scale of graph (LM) costs")
    parser.add_argument("--word-ins-penalty", type=finite_float, default=0.0,
                        help="added to the graph cost of each word (applied if > 0, as in Kaldi)")
    parser.add_argument("--word-symbol-table", default=None, help="words.txt: log the words of each best path")
    add_skip_bad_arguments(parser)
    parser.add_argument("lattice_rspecifier")
    parser.add_argument("transcriptions_wspecifier", help="int transcriptions, e.g. ark,t:1best.tra")
    parser.add_argument("alignments_wspecifier", nargs="?", default=None,
                        help="transition-id alignments of the best paths")


def _batches(lattices, n):
    batch: list[Lattice] = []
    for lat in lattices:
        batch.append(lat)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def main(args: argparse.Namespace) -> int:
    symbols = None
    if args.word_symbol_table:
        from kaldi_mpq.text.symbols import SymbolTable

        symbols = SymbolTable.read(args.word_symbol_table, unk=None)
    stats = ReadStats()
    penalty = args.word_ins_penalty if args.word_ins_penalty > 0 else 0.0
    alignments: list[tuple[str, list[int]]] = []

    def transcripts():
        for batch in _batches(read_lattices_for_command(args.lattice_rspecifier, args.skip_bad, stats), BATCH):
            for lat, path in zip(batch, PathSearch(batch).best_paths(args.acoustic_scale, args.lm_scale, penalty)):
                if path is None:
                    logger.warning("Best-path failed for key %s", lat.key)
                    stats.failed += 1
                    continue
                stats.done += 1
                if symbols is not None:
                    logger.info("%s %s", lat.key, " ".join(symbols.words(path.words)))
                if args.alignments_wspecifier:
                    ali = [t for a in path.arcs.tolist() for t in lat.ali(a).tolist()]
                    alignments.append((lat.key, ali + lat.final_ali(path.final_state).tolist()))
                yield lat.key, list(path.words)

    write_table(args.transcriptions_wspecifier, transcripts(), write_int_vector, LatticeFormatError)
    if args.alignments_wspecifier:
        write_table(args.alignments_wspecifier, alignments, write_int_vector, LatticeFormatError)
    logger.info(stats.line())
    return stats.exit_status(args.allow_failures)


def write_int_vector(out, ids: list[int], text: bool) -> None:
    """Kaldi int32 vector: text ``1 2 3 \\n``; binary ``\\0B`` + size (int32 token) + values."""
    if text:
        out.write(("".join(f"{i} " for i in ids) + "\n").encode())
    else:
        import struct

        out.write(b"\0B\x04" + struct.pack("<i", len(ids)) + b"".join(b"\x04" + struct.pack("<i", i) for i in ids))
