"""MAPSSWE significance test between two systems on the same references (as ``sc_stats -t mapsswe``).

Usage:
    kaldi-mpq significance --stm data/eval2000/stm sys1.ctm sys2.ctm
    kaldi-mpq significance --ref data/test/text baseline/7.txt quantized/7.txt
    kaldi-mpq significance --ref data/test/text --lmwt 12 --wip 0.0 exp/tri3a/decode exp/tri3a/decode_lstm_4bit

Prints the segment count, each system's errors, Z, the two-sided p-value and the papers' mark:
``~`` no significant difference at 0.05 ("lossless"), ``*``/``**``/``***`` for p <= .05/.01/.001.
With ``--sc-stats`` the two systems are also run through SCTK's sclite + sc_stats (CTM inputs).
"""

from __future__ import annotations

from kaldi_mpq.bin.argtypes import positive_int

import sys
import tempfile

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.scoring.significance import compare_ctms, compare_texts, decode_dir_hyp, format_result


def add_arguments(parser) -> None:
    parser.add_argument("sys1", help="CTM, hypothesis text, or decode dir of system 1")
    parser.add_argument("sys2", help="the same for system 2")
    g = parser.add_mutually_exclusive_group(required=True)
    g.add_argument("--stm", help="reference STM (systems are CTMs)")
    g.add_argument("--ref", help="reference Kaldi text (systems are texts or decode dirs)")
    parser.add_argument("--lmwt", type=positive_int, default=None, help="with decode dirs: the LM weight")
    parser.add_argument("--wip", default="0.0", help="with decode dirs: the word insertion penalty")
    parser.add_argument("--sc-stats", action="store_true", help="also print SCTK sc_stats' Z and p (CTM inputs)")


def main(args) -> int:
    if args.stm:
        res = compare_ctms(args.stm, args.sys1, args.sys2)
    else:
        h1, h2 = args.sys1, args.sys2
        if args.lmwt is not None:
            h1, h2 = decode_dir_hyp(h1, args.lmwt, args.wip), decode_dir_hyp(h2, args.lmwt, args.wip)
        res = compare_texts(args.ref, h1, h2)
    sys.stdout.write(format_result(res, args.sys1, args.sys2))
    if args.sc_stats:
        if not args.stm:
            raise ScoringError("--sc-stats needs --stm and CTM inputs")
        from kaldi_mpq.scoring.sclite_io import run_sc_stats_mapsswe, run_sclite

        with tempfile.TemporaryDirectory() as tmp:
            run_sclite(args.stm, args.sys1, tmp, "sys1")
            run_sclite(args.stm, args.sys2, tmp, "sys2")
            z, p = run_sc_stats_mapsswe([f"{tmp}/sys1.sgml", f"{tmp}/sys2.sgml"], tmp)
        sys.stdout.write(f"sc_stats: Z {z:.3f}, p {p:.3f}\n")
    return 0
