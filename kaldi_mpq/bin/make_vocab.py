"""Build a Kaldi words.txt from training text (when there is no lang dir).

Usage:
    kaldi-mpq make-vocab --text ptb.train.txt --out data/lm/words.txt
    kaldi-mpq make-vocab --text data/train/text --min-count 2 --top-k 30000 --unk '<UNK>' --out words.txt
    kaldi-mpq make-vocab --text ami.txt --normalize ami --format raw --out words.txt --write-text train.txt

Layout as Kaldi's prepare_lang.sh: <eps> 0, the unk symbol, words by decreasing count, #0, <s>, </s>.
"""

from __future__ import annotations

import argparse

from kaldi_mpq.bin.argtypes import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from kaldi_mpq.bin.train_lm import add_text_arguments

    parser.add_argument("--text", required=True, action="append", help="training text (repeatable)")
    parser.add_argument("--out", required=True, help="words.txt to write")
    parser.add_argument("--min-count", type=positive_int, default=1, help="keep words seen at least this often")
    parser.add_argument("--top-k", type=positive_int, help="keep at most this many words (most frequent)")
    parser.add_argument("--write-text", help="also write the (normalised) sentences, one per line")
    add_text_arguments(parser)


def main(args: argparse.Namespace) -> int:
    import logging

    from kaldi_mpq.text.corpus import read_sentences, write_sentences
    from kaldi_mpq.text.vocab import build_vocab, count_words

    sentences = [s for path in args.text for s in read_sentences(path, args.format, args.normalize)]
    symbols = build_vocab(count_words(sentences), min_count=args.min_count, top_k=args.top_k,
                          unk=args.unk, source=",".join(args.text))
    if args.write_text:
        write_sentences(args.write_text, sentences)
    symbols.write(args.out)
    logging.getLogger(__name__).info("%s: %d symbols from %d sentences", args.out, len(symbols), len(sentences))
    return 0
