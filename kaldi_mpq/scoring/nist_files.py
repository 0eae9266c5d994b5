"""NIST STM (references) and CTM (time-marked hypotheses) files, and eval-set subsets.

STM, one segment per line (``;;`` comments)::

    ES2011a A FEE041 93.94 95.68 <O,F0,F> I'M KRISTA AND I'M THE INDUSTRIAL DESIGNER

CTM, one word per line (confidence optional)::

    ES2011a A 93.940 0.250 I'M 1.00

and sclite's alternations, one hypothesis word or another at one place (times ``*`` on the marker lines;
an alternative may be empty or ``@``)::

    2347 B *     *    <ALT_BEGIN>
    2347 B 76.24 0.14 IT
    2347 B *     *    <ALT>
    2347 B 76.38 0.20 AT
    2347 B *     *    <ALT_END>

An alternation is read as one :class:`CtmWord` whose ``alternatives`` hold the timed words of each
alternative and whose time span covers them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.fileio import Pathlike, atomic_write


@dataclass(frozen=True)
class StmSegment:
    """One reference segment; times in seconds."""

    file: str
    channel: str
    speaker: str
    start: float
    end: float
    label: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class CtmWord:
    """One hypothesis word; ``start`` and ``duration`` in seconds."""

    file: str
    channel: str
    start: float
    duration: float
    word: str
    confidence: Optional[float] = None
    alternatives: Optional[tuple[tuple["CtmWord", ...], ...]] = None

    def alternative_words(self) -> tuple[tuple[str, ...], ...]:
        """The word sequences of an alternation (``@`` dropped)."""
        return tuple(tuple(w.word for w in alt if w.word != "@") for alt in self.alternatives or ())


def _lines(path: Pathlike):
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ScoringError(f"{path}:{lineno}: bytes not valid utf-8 at column {e.start + 1}") from None
            if line.strip() and not line.startswith(";;"):
                yield lineno, line


def read_stm(path: Pathlike) -> list[StmSegment]:
    """Read an STM file.

    Raises:
        ScoringError: fewer than 5 fields, or non-numeric / reversed times (file and line named).
    """
    out = []
    for lineno, line in _lines(path):
        f = line.split()
        if len(f) < 5:
            raise ScoringError(f"{path}:{lineno}: expected '<file> <chan> <spk> <start> <end> [<label>] words', got {line.strip()!r}")
        try:
            start, end = float(f[3]), float(f[4])
        except ValueError:
            raise ScoringError(f"{path}:{lineno}: times {f[3]!r} {f[4]!r} are not numbers") from None
        if end < start:
            raise ScoringError(f"{path}:{lineno}: segment ends ({end}) before it starts ({start})")
        rest = f[5:]
        label = rest.pop(0) if rest and rest[0].startswith("<") else ""
        out.append(StmSegment(f[0], f[1], f[2], start, end, label, tuple(rest)))
    return out


def read_ctm(path: Pathlike) -> list[CtmWord]:
    """Read a CTM file (5 or 6 fields per line), alternations included.

    Raises:
        ScoringError: a malformed line or an unbalanced ``<ALT_BEGIN>`` group (file and line named).
    """
    out: list[CtmWord] = []
    group: Optional[list] = None  # inside <ALT_BEGIN>: [line, file, channel, [alternatives], [CtmWord]]
    for lineno, line in _lines(path):
        f = line.split()
        if len(f) not in (5, 6):
            raise ScoringError(f"{path}:{lineno}: expected '<file> <chan> <start> <dur> <word> [<conf>]', got {line.strip()!r}")
        tag = f[4].upper()
        if tag in _ALT_TAGS:
            group = _alternation_line(path, lineno, f, tag, group, out)
            continue
        if group is not None and f[4] == "@" and f[2] == "*":  # an empty alternative, untimed
            continue
        try:
            conf = float(f[5]) if len(f) == 6 else None
            word = CtmWord(f[0], f[1], float(f[2]), float(f[3]), f[4], conf)
        except ValueError:
            raise ScoringError(f"{path}:{lineno}: non-numeric time or confidence in {line.strip()!r}") from None
        if group is None:
            out.append(word)
        elif (word.file, word.channel) != (group[1], group[2]):
            raise ScoringError(f"{path}:{lineno}: {word.file} {word.channel} inside the <ALT_BEGIN> group of line {group[0]} "
                               f"({group[1]} {group[2]})")
        else:
            group[3][-1].append(word)
            group[4].append(word)
    if group is not None:
        raise ScoringError(f"{path}: <ALT_BEGIN> of line {group[0]} has no <ALT_END>")
    return out


_ALT_TAGS = ("<ALT_BEGIN>", "<ALT>", "<ALT_END>")


def _alternation_line(path, lineno: int, f: list[str], tag: str, group: Optional[list], out: list) -> Optional[list]:
    """Track an ``<ALT_BEGIN>`` ... ``<ALT_END>`` group; at its end append it to ``out`` as one CtmWord."""
    if tag == "<ALT_BEGIN>":
        if group is not None:
            raise ScoringError(f"{path}:{lineno}: <ALT_BEGIN> inside the group opened on line {group[0]}")
        return [lineno, f[0], f[1], [[]], []]
    if group is None:
        raise ScoringError(f"{path}:{lineno}: {f[4]} without <ALT_BEGIN>")
    if tag == "<ALT>":
        group[3].append([])
        return group
    words: list[CtmWord] = group[4]
    if not words:
        raise ScoringError(f"{path}:{lineno}: the alternation opened on line {group[0]} has no timed word")
    start = min(w.start for w in words)
    end = max(w.start + w.duration for w in words)
    alts = tuple(tuple(w for w in alt if w.word != "@") for alt in group[3])
    out.append(CtmWord(group[1], group[2], start, round(end - start, 6), "", None, alts))
    return None


def write_stm(path: Pathlike, segments: Iterable[StmSegment]) -> None:
    """Write an STM sorted by file, channel and start time, as sclite requires."""
    with atomic_write(path) as f:
        for s in sorted(segments, key=lambda s: (s.file, s.channel, s.start)):
            label = f" {s.label}" if s.label else ""
            f.write(f"{s.file} {s.channel} {s.speaker} {s.start:.2f} {s.end:.2f}{label} {' '.join(s.words)}\n")


def write_ctm(path: Pathlike, words: Iterable[CtmWord]) -> None:
    """Write a CTM sorted by file, channel and start time, as sclite expects."""
    with atomic_write(path) as f:
        for w in sorted(words, key=lambda w: (w.file, w.channel, w.start)):
            conf = f" {w.confidence:.2f}" if w.confidence is not None else ""
            if w.alternatives is None:
                f.write(f"{w.file} {w.channel} {w.start:.3f} {w.duration:.3f} {w.word}{conf}\n")
                continue
            for i, alt in enumerate(w.alternatives):
                f.write(f"{w.file} {w.channel} * * {'<ALT>' if i else '<ALT_BEGIN>'}\n")
                for x in alt or (CtmWord(w.file, w.channel, w.start, w.duration, "@"),):
                    conf = f" {x.confidence:.2f}" if x.confidence is not None else ""
                    f.write(f"{w.file} {w.channel} {x.start:.3f} {x.duration:.3f} {x.word}{conf}\n")
            f.write(f"{w.file} {w.channel} * * <ALT_END>\n")


# Subsets scored besides the whole set, as Kaldi's swbd/fisher local/score_sclite.sh does with
# ``grep -v '^<prefix>'`` on both STM and CTM: name -> file-name prefix that is removed.
SUBSETS: dict[str, dict[str, str]] = {
    "eval2000": {"swbd": "en_", "callhm": "sw_"},
    "rt03": {"swbd": "fsh_", "fsh": "sw_"},
    "rt02": {},
}


def subsets_for(set_name: str) -> dict[str, str]:
    """The subsets of a test set named like ``eval2000``, ``eval2000_hires``, ``rt03``; {} if none."""
    for prefix, subs in SUBSETS.items():
        if set_name.startswith(prefix):
            return subs
    return {}


def exclude_prefix(items: Sequence, prefix: str) -> list:
    """Drop STM segments / CTM words whose file name starts with ``prefix`` (``grep -v '^prefix'``)."""
    return [x for x in items if not x.file.startswith(prefix)]
