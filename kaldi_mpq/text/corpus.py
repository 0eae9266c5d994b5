"""Readers of LM training / evaluation text.

Formats (``format=`` of :func:`read_sentences`):

* ``plain`` -- one sentence per line, words separated by white space, optionally gzip'd::

      the cat sat on the mat
      a dog barked

* ``kaldi`` -- a Kaldi data dir ``text`` file, utterance id then words (an empty transcript is allowed)::

      AMI_ES2011a_H00_FEE041_0003466_0003493 SUPPOSE I CAN DRAW AN ANIMAL
      utt2

* ``lhotse`` -- a lhotse SupervisionSet manifest (``.jsonl``, ``.jsonl.gz`` or ``.json``); the ``text``
  field of each supervision.
* ``raw`` -- running text to be split into sentences by the normaliser (e.g. AMI meeting transcripts).

``auto`` picks ``lhotse`` for ``*.jsonl[.gz]``/``*.json``; ``kaldi`` for a file named ``text``, a file in a
Kaldi data dir (beside ``utt2spk``, ``segments``, ...) or one whose first fields are unique utterance ids;
else ``plain``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator, Optional

from kaldi_mpq.errors import TextFormatError
from kaldi_mpq.fileio import Pathlike, open_text
from kaldi_mpq.text.normalize import NORMALIZERS

logger = logging.getLogger(__name__)

FORMATS = ("auto", "plain", "kaldi", "lhotse", "raw")


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise TextFormatError(f"{path}: no such text file")


def read_kaldi_text(path: Pathlike) -> Iterator[tuple[str, list[str]]]:
    """``(utterance id, words)`` of each line of a Kaldi ``text`` file (gzip'd or not)."""
    path = Path(path)
    _check_file(path)
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            yield fields[0], fields[1:]


def read_plain_text(path: Pathlike) -> Iterator[list[str]]:
    """Words of each non-empty line of a one-sentence-per-line file (gzip'd or not)."""
    path = Path(path)
    _check_file(path)
    try:
        with open_text(path) as f:
            for line in f:
                words = line.split()
                if words:
                    yield words
    except UnicodeDecodeError as e:
        raise TextFormatError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None


def read_supervisions(path: Pathlike) -> Iterator[tuple[str, str]]:
    """``(supervision id, text)`` of a lhotse SupervisionSet manifest."""
    path = Path(path)
    _check_file(path)
    from lhotse import SupervisionSet

    try:
        sups = SupervisionSet.from_file(path)
    except Exception as e:  # lhotse raises many types for bad manifests
        raise TextFormatError(f"{path}: not a lhotse SupervisionSet manifest ({e})") from None
    for s in sups:
        yield s.id, s.text or ""


KALDI_DATA_DIR_FILES = ("utt2spk", "spk2utt", "segments", "wav.scp")
_SNIFF_LINES = 200


def _looks_like_utterance_ids(path: Path) -> bool:
    """True when the first field of every (sampled) line is an utterance id: unique, containing a digit,
    and never used as a word anywhere in the sample. Plain text fails this at once (its first words
    repeat, or occur later as words)."""
    firsts, words = [], set()
    with open_text(path) as f:
        for i, line in enumerate(f):
            if i >= _SNIFF_LINES:
                break
            fields = line.split()
            if not fields:
                continue
            firsts.append(fields[0])
            words.update(fields[1:])
    return (len(firsts) >= 2 and len(set(firsts)) == len(firsts)
            and all(any(c.isdigit() for c in t) for t in firsts) and not words.intersection(firsts))


def detect_format(path: Pathlike) -> str:
    """``format="auto"``: lhotse by extension; Kaldi text when the file is named ``text``, sits in a
    Kaldi data dir, or its first fields are utterance ids (then said in the log); else plain."""
    path = Path(path)
    name = path.name
    if name.endswith((".jsonl", ".jsonl.gz", ".json")):
        return "lhotse"
    if name in ("text", "text.gz"):
        return "kaldi"
    if path.is_file():
        if any((path.parent / f).exists() for f in KALDI_DATA_DIR_FILES):
            logger.info("%s: read as a Kaldi text file (it sits in a Kaldi data dir); --format plain "
                        "reads it as plain text", path)
            return "kaldi"
        if _looks_like_utterance_ids(path):
            logger.warning("%s: read as a Kaldi text file (the first field of each line is a unique "
                           "utterance id); --format plain reads it as plain text", path)
            return "kaldi"
    return "plain"


def read_sentences(path: Pathlike, format: str = "auto", normalize: str = "none") -> list[list[str]]:
    """All sentences of a text file as lists of words.

    Args:
        path: the file.
        format: one of :data:`FORMATS` (module docstring).
        normalize: a normaliser name of :data:`~kaldi_mpq.text.normalize.NORMALIZERS` applied to each
            line / transcript (``ami`` splits at sentence-final punctuation, so one line may give several
            sentences). ``none`` keeps the words as they are.

    Raises:
        TextFormatError: missing file, unknown format, or no words at all.
    """
    path = Path(path)
    if format not in FORMATS:
        raise TextFormatError(f"{path}: unknown text format {format!r} (choose from {', '.join(FORMATS)})")
    if normalize not in NORMALIZERS:
        raise TextFormatError(f"unknown normaliser {normalize!r} (choose from {', '.join(NORMALIZERS)})")
    norm = NORMALIZERS[normalize]
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "kaldi":
        lines: Iterator[str] = (" ".join(words) for _, words in read_kaldi_text(path))
    elif fmt == "lhotse":
        lines = (text for _, text in read_supervisions(path))
    elif fmt == "raw":
        _check_file(path)
        with open_text(path) as f:
            lines = iter([f.read()])
    else:
        lines = (" ".join(words) for words in read_plain_text(path))
    sentences = [s for line in lines for s in norm(line)]
    if not sentences:
        raise TextFormatError(f"{path}: no sentences (empty text)")
    logger.info("%s: %d sentences, %d words", path, len(sentences), sum(map(len, sentences)))
    return sentences


def write_sentences(path: Pathlike, sentences: list[list[str]]) -> None:
    """Write one sentence per line (gzip'd if the name ends in ``.gz``), atomically."""
    import gzip

    from kaldi_mpq.fileio import atomic_write

    data = "".join(" ".join(s) + "\n" for s in sentences)
    if str(path).endswith(".gz"):
        with atomic_write(path, "wb") as f:
            f.write(gzip.compress(data.encode("utf-8"), mtime=0))
    else:
        with atomic_write(path) as f:
            f.write(data)
