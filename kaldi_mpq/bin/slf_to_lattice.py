"""Convert HTK SLF lattices (pocketsphinx's, HTK's) to a Kaldi lattice archive.

Usage:
    kaldi-mpq slf-to-lattice --words data/lang/words.txt --case upper slf/ "ark:|gzip -c > lat.1.gz"
    kaldi-mpq slf-to-lattice --words words.txt --unk '<UNK>' utt1.slf utt2.slf.gz ark,t:-
    kaldi-mpq slf-to-lattice --words words.txt --case upper --unk '<UNK>' --graph-lm lm_3gram.arpa.gz \\
        --acoustic-scale 0.1 --lattice-beam 8 scp:slf.scp ark:decode/lat.1.gz

Inputs are SLF files (plain or gzip'd), directories (their *.slf, *.lat, *.slf.gz, *.lat.gz files, sorted)
or ``scp:FILE`` with ``key path`` lines (the key names the lattice; else the SLF's UTTERANCE=, else the
file name). Scores: ``a=`` becomes the acoustic cost, ``l=`` the graph cost (negated, natural log).
``--graph-lm`` replaces the graph costs by an n-gram's costs, exactly per path (composition), as a
first pass decoded with that n-gram would have left them; ``--lattice-beam`` then prunes like Kaldi's
lattice-prune at ``--acoustic-scale``. Null words (``!NULL``, ``!SENT_START``, ``<sil>``, ``[NOISE]``...)
become epsilon; see kaldi_mpq.lattice.slf.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from kaldi_mpq.errors import LatticeFormatError

logger = logging.getLogger(__name__)
SLF_SUFFIXES = (".slf", ".lat", ".slf.gz", ".lat.gz")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from kaldi_mpq.bin.argtypes import positive_beam, positive_float, positive_int
    from kaldi_mpq.lattice.slf import CASES

    parser.add_argument("--words", required=True, help="Kaldi words.txt the lattices' word ids come from")
    parser.add_argument("--case", choices=CASES, default="keep", help="case change of SLF words before lookup")
    parser.add_argument("--unk", help="words.txt symbol for words it lacks (default: such a word is an error)")
    parser.add_argument("--null-words", help="comma-separated words that become epsilon (default: !NULL, "
                        "!ENTER, !EXIT, <s>, </s>, !SENT_START, !SENT_END, <sil>, [FILLER], ++FILLER++)")
    parser.add_argument("--frame-shift", type=positive_float, default=0.01, help="seconds per frame of node times")
    parser.add_argument("--graph-lm", help="n-gram LM (ARPA, .gz, G.fst, G.carpa) whose costs become the graph costs")
    parser.add_argument("--graph-lm-order", type=positive_int,
                        help="history length + 1 kept apart in the composition (default: the LM's order)")
    parser.add_argument("--acoustic-scale", type=positive_float, default=0.1,
                        help="acoustic scale of the pruning beams")
    parser.add_argument("--lattice-beam", type=positive_beam, default=float("inf"),
                        help="keep arcs on paths within this cost of the best (inf: no pruning)")
    parser.add_argument("inputs", nargs="+", metavar="SLF",
                        help="SLF files, directories or scp:FILE, then the lattice wspecifier (ark:..., ark,t:...)")


def slf_sources(inputs: list[str]) -> list[tuple[Path, str | None]]:
    """(SLF path, key or None) for each file named by ``inputs`` (files, directories, ``scp:`` lists)."""
    out: list[tuple[Path, str | None]] = []
    for item in inputs:
        if item.startswith("scp:"):
            scp = Path(item[4:])
            if not scp.is_file():
                raise LatticeFormatError(f"{scp}: no such scp file")
            for lineno, line in enumerate(scp.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                parts = line.split(maxsplit=1)
                if len(parts) != 2:
                    raise LatticeFormatError(f"{scp}:{lineno}: expected 'key path', got {line!r}")
                out.append((Path(parts[1].strip()), parts[0]))
        elif Path(item).is_dir():
            files = sorted(p for p in Path(item).iterdir() if p.name.endswith(SLF_SUFFIXES))
            if not files:
                raise LatticeFormatError(f"{item}: no SLF files ({', '.join(SLF_SUFFIXES)}) in the directory")
            out.extend((p, None) for p in files)
        else:
            out.append((Path(item), None))
    for path, _ in out:
        if not path.is_file():
            raise LatticeFormatError(f"{path}: no such SLF file")
    return out


def main(args: argparse.Namespace) -> int:
    import math

    from kaldi_mpq.lattice.io import write_lattices
    from kaldi_mpq.lattice.slf import read_slf
    from kaldi_mpq.text.symbols import SymbolTable

    if len(args.inputs) < 2:
        raise LatticeFormatError("give SLF inputs and then the lattice wspecifier")
    *inputs, wspecifier = args.inputs
    symbols = SymbolTable.read(args.words, unk=None)
    null_words = frozenset(w for w in args.null_words.split(",") if w) if args.null_words is not None else None
    sources = slf_sources(inputs)
    lattices = [read_slf(path, symbols, key=key, frame_shift=args.frame_shift, null_words=null_words,
                         case=args.case, unk=args.unk) for path, key in sources]
    keys = [lat.key for lat in lattices]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise LatticeFormatError(f"key {dup!r} is given by more than one SLF file")
    if args.graph_lm:
        from kaldi_mpq.ngram.load import load_ngram_lm
        from kaldi_mpq.rescoring.lattice_rescore import replace_graph_costs

        lm = load_ngram_lm(args.graph_lm, symbols if args.unk is None else SymbolTable.read(args.words, unk=args.unk))
        order = args.graph_lm_order or lm.order
        composed = replace_graph_costs(lattices, lm, order, args.acoustic_scale, args.lattice_beam)
        for (path, _), lat, new in zip(sources, lattices, composed):
            if new is None:
                raise LatticeFormatError(f"{path}: key {lat.key!r}: no complete path after composition with "
                                         f"{args.graph_lm} (within --lattice-beam)")
        lattices = composed
    if math.isfinite(args.lattice_beam):
        lattices = [lat.prune(args.lattice_beam, acoustic_scale=args.acoustic_scale) for lat in lattices]
    n = write_lattices(wspecifier, lattices)
    logger.info("Done %d lattices (%d arcs)", n, sum(lat.num_arcs for lat in lattices))
    return 0
