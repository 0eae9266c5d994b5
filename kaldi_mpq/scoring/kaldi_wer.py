"""Kaldi ``compute-wer`` semantics and output, and ``utils/best_wer.sh`` selection.

Output of ``compute-wer --text --mode=present ark:ref ark:hyp`` (what a ``wer_K`` file holds after the
echoed command line)::

    %WER 4.65 [ 235 / 5056, 51 ins, 41 del, 143 sub ]
    %SER 57.75 [ 82 / 142 ]
    Scored 142 sentences, 0 not present in hyp.

Modes (what happens to a reference utterance without a hypothesis):
    ``present``: not scored; counted in "not present" and ``[PARTIAL]`` is appended to the %WER line.
    ``all``: scored against an empty hypothesis (all its words are deletions); also counted.
    ``strict``: an error.
Percentages are computed in single precision as Kaldi does (``BaseFloat``), then printed with 2 decimals.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.scoring.edit_distance import error_counts
from kaldi_mpq.scoring.transcripts import Transcripts

log = logging.getLogger(__name__)

MODES = ("present", "all", "strict")


@dataclass(frozen=True)
class UttErrors:
    """Counts of one scored utterance."""

    key: str
    ref_words: int
    ins: int
    dels: int
    subs: int

    @property
    def errors(self) -> int:
        return self.ins + self.dels + self.subs


@dataclass(frozen=True)
class WerStats:
    """Totals as ``compute-wer`` prints them.

    Attributes:
        num_words: reference words scored.
        ins, dels, subs: error counts.
        num_sent: utterances scored.
        sent_errs: scored utterances whose hypothesis differs from the reference.
        num_absent: reference utterances with no hypothesis.
        per_utt: the per-utterance counts, in reference order.
    """

    num_words: int
    ins: int
    dels: int
    subs: int
    num_sent: int
    sent_errs: int
    num_absent: int
    per_utt: tuple[UttErrors, ...] = ()

    @property
    def errors(self) -> int:
        return self.ins + self.dels + self.subs

    @property
    def wer(self) -> float:
        """%WER as Kaldi computes it (float32; inf/nan when there are no reference words)."""
        return _percent(self.errors, self.num_words)

    @property
    def ser(self) -> float:
        return _percent(self.sent_errs, self.num_sent)

    def format(self) -> str:
        """The three lines ``compute-wer`` writes to stdout."""
        partial = " [PARTIAL]" if self.num_absent else ""
        return (
            f"%WER {_fmt(self.wer)} [ {self.errors} / {self.num_words}, {self.ins} ins, "
            f"{self.dels} del, {self.subs} sub ]{partial}\n"
            f"%SER {_fmt(self.ser)} [ {self.sent_errs} / {self.num_sent} ]\n"
            f"Scored {self.num_sent} sentences, {self.num_absent} not present in hyp.\n"
        )


def _percent(num: int, den: int) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float32(100.0) * np.float32(num) / np.float32(den))


def _fmt(x: float) -> str:
    if np.isnan(x):
        return "-nan"
    return f"{x:.2f}"


def compute_wer(ref: Transcripts, hyp: Transcripts, mode: str = "present") -> WerStats:
    """Score ``hyp`` against ``ref`` as ``compute-wer --mode=<mode>`` does.

    Args:
        ref: reference transcripts (their order is the scoring order).
        hyp: hypothesis transcripts.
        mode: ``present`` | ``all`` | ``strict`` (see module docstring).

    Raises:
        ScoringError: an unknown mode; in strict mode a reference utterance without hypothesis; a
            hypothesis utterance that is not in the reference (Kaldi ignores those silently, which
            hides mismatched utterance ids); an empty reference.
    """
    if mode not in MODES:
        raise ScoringError(f"--mode invalid: expected present|all|strict, got {mode!r}")
    if not len(ref):
        raise ScoringError(f"{ref.source}: the reference has no utterances")
    unknown = [k for k in hyp.keys() if k not in ref]
    if unknown:
        raise ScoringError(
            f"{hyp.where(unknown[0])}: utterance {unknown[0]!r} is not in the reference {ref.source} "
            f"({len(unknown)} unknown utterance ids in all)"
        )
    keys, absent = [], []
    for k in ref.keys():
        if k in hyp:
            keys.append(k)
        elif mode == "strict":
            raise ScoringError(f"{hyp.source}: no hypothesis for {k!r} ({ref.where(k)}) in strict mode")
        else:
            absent.append(k)
            if mode == "all":
                keys.append(k)
    if absent:
        log.warning(
            "%d of %d reference utterances have no hypothesis in %s (%s); e.g. %s",
            len(absent), len(ref), hyp.source,
            "scored as all deletions" if mode == "all" else "not scored, WER is PARTIAL", absent[0],
        )
    refs = [ref.words[k] for k in keys]
    hyps = [hyp.words.get(k, []) for k in keys]
    counts = error_counts(refs, hyps)
    per_utt = tuple(
        UttErrors(k, len(r), int(c[0]), int(c[1]), int(c[2])) for k, r, c in zip(keys, refs, counts)
    )
    tot = counts.sum(axis=0) if len(keys) else np.zeros(3, dtype=np.int64)
    return WerStats(
        num_words=sum(len(r) for r in refs),
        ins=int(tot[0]), dels=int(tot[1]), subs=int(tot[2]),
        num_sent=len(keys),
        sent_errs=sum(r != h for r, h in zip(refs, hyps)),
        num_absent=len(absent),
        per_utt=per_utt,
    )


def wer_file_text(stats: WerStats, command_line: str) -> str:
    """A ``wer_K`` file: the echoed command line (Kaldi binaries log it with a trailing space), then
    the ``compute-wer`` output."""
    return command_line + " \n" + stats.format()


def compute_wer_command(ref_path: str, mode: str = "present") -> str:
    """The command line Kaldi's scoring scripts run, as echoed into every ``wer_*`` file."""
    return f"compute-wer --text --mode={mode} ark:{ref_path} ark,p:-"


_WER_RE = re.compile(r"[WS]ER (\S+)")


def best_wer_line(wer_files: Sequence[Path | str], names: Optional[Sequence[str]] = None) -> str:
    """Pick the best result as ``grep WER <files> | utils/best_wer.sh`` does.

    The first line matching ``%WER <x>`` (in the order given) with the strictly lowest number wins;
    the output is that line with the file name appended, whitespace squeezed::

        %WER 0.00 [ 0 / 232, 0 ins, 0 del, 0 sub ] exp/mono0a/decode_test_yesno/wer_7_0.0

    Args:
        wer_files: the ``wer_*`` files, in the order the scoring script greps them.
        names: how each file is named in the output (default: the path as given).

    Raises:
        ScoringError: no file holds a %WER line.
    """
    best: Optional[tuple[float, str, str]] = None
    for i, path in enumerate(wer_files):
        name = str(names[i] if names is not None else path)
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if "WER" not in line:
                continue
            m = _WER_RE.search(line)
            if m is None:
                continue
            try:
                value = float(m.group(1))
            except ValueError:
                continue
            if best is None or best[0] > value:
                best = (value, line, name)
    if best is None:
        raise ScoringError(f"no %WER line in {len(wer_files)} wer files (first: {wer_files[:1]})")
    _, line, name = best
    head, tail = line.split("%WER", 1)
    return re.sub(r"\s+", " ", f"%WER{tail} {name}").strip() + "\n"
