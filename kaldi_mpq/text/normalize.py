"""Corpus text normalisers, selected by name (``--normalize ami``), as lhotse's ``normalize_text_ami``.

A normaliser turns raw running text (a transcript file, a paragraph) into sentences of words.
"""

from __future__ import annotations

import re
from typing import Callable

_SENTENCE_END = re.compile(r"(?<=[.?!])\s+|(?<=[.?!])$")
_ACRONYM = re.compile(r"(?<=[A-Za-z])_(?=[A-Za-z]|\s|$)")
_NOT_WORD = re.compile(r"[^A-Z0-9'\- ]+")
_LONE_DASH = re.compile(r"(?<!\S)[-']+(?!\S)")


def normalize_ami(text: str) -> list[list[str]]:
    """Normalise AMI manual transcripts the way Kaldi's AMI recipe (``ami_split_segments.pl``) does.

    * sentences end at sentence-final punctuation (``.``, ``?``, ``!``);
    * upper case;
    * punctuation removed (commas, stray quotes, brackets...), keeping apostrophes and word-internal
      hyphens (``I'M``, ``MM-HMM``); a hyphen standing alone is dropped;
    * spelled letters ``T_V_`` become separate letters ``T V``.

    Example::

        >>> normalize_ami("Um I'm Craig. Is it a T_V_, right? Mm-hmm.")
        [['UM', "I'M", 'CRAIG'], ['IS', 'IT', 'A', 'T', 'V', 'RIGHT'], ['MM-HMM']]

    Returns:
        Sentences (lists of words); empty sentences are dropped.
    """
    out = []
    for chunk in _SENTENCE_END.split(text):
        chunk = _ACRONYM.sub(" ", chunk).replace("_", " ").upper()
        chunk = _LONE_DASH.sub(" ", _NOT_WORD.sub(" ", chunk))
        words = [w.strip("-") for w in chunk.split()]
        words = [w for w in words if w and w != "'"]
        if words:
            out.append(words)
    return out


def normalize_none(text: str) -> list[list[str]]:
    """Whitespace tokenisation, the text as one sentence (no change to the words)."""
    words = text.split()
    return [words] if words else []


def normalize_upper(text: str) -> list[list[str]]:
    """Upper-case the words; one sentence."""
    return normalize_none(text.upper())


NORMALIZERS: dict[str, Callable[[str], list[list[str]]]] = {
    "none": normalize_none,
    "upper": normalize_upper,
    "ami": normalize_ami,
}
