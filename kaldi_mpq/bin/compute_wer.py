"""WER of a hypothesis text against a reference, exactly as Kaldi's ``compute-wer``.

Usage:
    kaldi-mpq compute-wer --text --mode=present ark:data/test/text ark:exp/decode/scoring_kaldi/penalty_0.0/10.txt
    kaldi-mpq compute-wer --mode=all --words-txt data/lang/words.txt ark:ref.txt ark:exp/decode/scoring/10.tra
    kaldi-mpq compute-wer --text --hyp-filter swbd ark:ref.txt ark,p:-
"""

from __future__ import annotations

import sys

from kaldi_mpq.scoring.filters import filter_transcripts, make_filter
from kaldi_mpq.scoring.kaldi_wer import MODES, compute_wer
from kaldi_mpq.scoring.transcripts import read_transcripts


def add_arguments(parser) -> None:
    parser.add_argument("ref", help="reference rspecifier (ark:file, file, or -)")
    parser.add_argument("hyp", help="hypothesis rspecifier")
    parser.add_argument("--mode", choices=MODES, default="strict", help="as Kaldi: present | all | strict")
    parser.add_argument("--text", action="store_true", help="words as strings (else integer ids)")
    parser.add_argument("--words-txt", default=None, help="words.txt to map integer ids to words")
    parser.add_argument("--ref-filter", default="none", help="comma-separated word filters for the reference")
    parser.add_argument("--hyp-filter", default="none", help="comma-separated word filters for the hypothesis")


def main(args) -> int:
    symbols = None
    if not args.text and args.words_txt:
        from kaldi_mpq.text.symbols import SymbolTable

        symbols = SymbolTable.read(args.words_txt, unk=None)
    ref = read_transcripts(args.ref, symbols=symbols)
    hyp = read_transcripts(args.hyp, symbols=symbols)
    ref.words = filter_transcripts(ref.words, make_filter(args.ref_filter))
    hyp.words = filter_transcripts(hyp.words, make_filter(args.hyp_filter))
    sys.stdout.write(compute_wer(ref, hyp, args.mode).format())
    return 0
