"""Normalise corpus text into LM text: one sentence per line (gzip'd if the name ends in .gz).

Usage:
    kaldi-mpq prepare-text --format raw --normalize ami data/ami/transcripts/ES2002a.transcript.txt --out lm/train.txt
    kaldi-mpq prepare-text data/train/text --out lm/train.txt.gz                     # Kaldi text: drops utt ids
    kaldi-mpq prepare-text supervisions_dev.jsonl.gz --normalize upper --out lm/dev.txt   # lhotse manifest
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from kaldi_mpq.bin.train_lm import add_text_arguments

    parser.add_argument("inputs", nargs="+", help="text files (one format)")
    parser.add_argument("--out", required=True, help="output text, one sentence per line")
    add_text_arguments(parser, unk=False)


def main(args: argparse.Namespace) -> int:
    import logging

    from kaldi_mpq.text.corpus import read_sentences, write_sentences

    sentences = [s for path in args.inputs for s in read_sentences(path, args.format, args.normalize)]
    write_sentences(args.out, sentences)
    logging.getLogger(__name__).info("%s: %d sentences, %d words", args.out, len(sentences),
                                     sum(map(len, sentences)))
    return 0
