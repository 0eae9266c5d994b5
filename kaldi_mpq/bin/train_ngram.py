"""Train a back-off Kneser-Ney n-gram LM (ARPA) on text, e.g. a recipe's first-pass LM.

Usage:
    kaldi-mpq train-ngram --text data/local/lm/train.txt --order 3 --out lm_3gram.arpa
    kaldi-mpq train-ngram --text train.txt --words data/lang/words.txt --unk '<UNK>' --out data/lang/lm_3gram.arpa.gz
    kaldi-mpq train-ngram --text a.txt --text b.txt --format raw --normalize ami --order 2 --out lm.arpa

With --words, words outside words.txt count as --unk, so the LM predicts exactly the lang dir's words.
The same text gives the same file byte for byte (a .gz output carries no time stamp), written atomically.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from kaldi_mpq.bin.argtypes import positive_int
    from kaldi_mpq.bin.train_lm import add_text_arguments

    parser.add_argument("--text", required=True, action="append", help="training text (repeatable)")
    parser.add_argument("--order", type=positive_int, default=3, help="n-gram order")
    parser.add_argument("--words", help="Kaldi words.txt to restrict the LM to (other words become --unk)")
    parser.add_argument("--out", required=True, help="ARPA file to write (gzip'd if it ends in .gz)")
    add_text_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from kaldi_mpq.ngram.train import train_arpa
    from kaldi_mpq.text.corpus import read_sentences
    from kaldi_mpq.text.symbols import SymbolTable

    symbols = SymbolTable.read(args.words, unk=args.unk) if args.words else None
    sentences = (" ".join(s) for path in args.text for s in read_sentences(path, args.format, args.normalize))
    train_arpa(sentences, args.out, order=args.order, symbols=symbols, unk=args.unk)
    return 0
