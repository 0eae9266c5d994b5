"""The matched-pairs sentence-segment word error (MAPSSWE) test, as NIST ``sc_stats -t mapsswe``.

Two systems aligned to the same references are cut into segments: a segment ends where both systems
have ``min_good`` (default 2) consecutive reference words correct, and segments where neither system
errs are dropped. The per-segment difference of error counts d_i = e1_i - e2_i gives
Z = mean(d) / (std(d, ddof=1) / sqrt(n)); the two-sided p-value is 2 (1 - Phi(|Z|)).
A negative mean means system 1 makes fewer errors. The papers call a change "not significant" when
p > 0.05; results tables mark such rows with ``~`` as ``sc_stats`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.scoring.sclite_io import SegmentAlignment

DEFAULT_MIN_GOOD = 2
ALPHA = 0.05


@dataclass(frozen=True)
class MapssweResult:
    """Outcome of the test.

    Attributes:
        num_segments: segments with an error in either system.
        ref_words: reference words in those segments.
        errors1, errors2: errors of each system in those segments.
        mean, std_dev: of the per-segment error difference (system 1 - system 2).
        z: the Z statistic.
        p_value: two-sided.
    """

    num_segments: int
    ref_words: int
    errors1: int
    errors2: int
    mean: float
    std_dev: float
    z: float
    p_value: float

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.p_value <= alpha

    @property
    def better(self) -> int:
        """1 or 2 for the system with fewer errors when significant at 0.05, else 0."""
        if not self.significant():
            return 0
        return 1 if self.mean < 0 else 2

    def mark(self, alpha: float = ALPHA) -> str:
        """``~`` when no significant difference, else ``*``, ``**`` or ``***`` (p <= .05, .01, .001)."""
        if self.p_value > alpha:
            return "~"
        return "***" if self.p_value <= 0.001 else "**" if self.p_value <= 0.01 else "*"


def _segments(a: SegmentAlignment, b: SegmentAlignment, min_good: int) -> list[tuple[int, int, int]]:
    """(ref words, errors a, errors b) of each error segment of one utterance pair."""
    x, y = a.words, b.words
    i = j = 0
    state = "b"
    good = 0
    start_i = start_j = 0  # last good word before the current segment
    out = []

    def close(end_i: int, end_j: int) -> None:
        bi, bj = max(start_i - (min_good - 1), 0), max(start_j - (min_good - 1), 0)
        e1 = sum(w.op != "C" for w in x[bi : end_i + 1])
        e2 = sum(w.op != "C" for w in y[bj : end_j + 1])
        r1 = sum(w.op != "I" for w in x[bi : end_i + 1])
        r2 = sum(w.op != "I" for w in y[bj : end_j + 1])
        if e1 or e2:
            out.append(((r1 + r2) // 2, e1, e2))

    while i < len(x) or j < len(y):  # sc_stats also consumes trailing insertions of either system
        while i < len(x) and x[i].op == "I":
            i, state = i + 1, "e"
        while j < len(y) and y[j].op == "I":
            j, state = j + 1, "e"
        both = i < len(x) and j < len(y) and x[i].op == "C" and y[j].op == "C"
        if state == "b":
            if both:
                start_i, start_j = i, j
            else:
                state = "e"
        elif both:
            good = 1 if state == "e" else good + 1
            if good == min_good:
                close(i, j)
                start_i, start_j, state = i, j, "b"
            else:
                state = "g"
        else:
            state = "e"
        if i < len(x):
            i += 1
        if j < len(y):
            j += 1
    if state != "b":
        close(i - 1, j - 1)
    return out


def mapsswe(
    sys1: Sequence[SegmentAlignment], sys2: Sequence[SegmentAlignment], min_good: int = DEFAULT_MIN_GOOD
) -> MapssweResult:
    """Run the test on two systems' alignments of the same reference segments (matched by id).

    Raises:
        ScoringError: the systems share no segment ids, or segment reference words differ.
    """
    by_id = {a.id: a for a in sys2}
    diffs: list[int] = []
    ref = e1 = e2 = 0
    shared = 0
    for a in sys1:
        b = by_id.get(a.id)
        if b is None:
            continue
        shared += 1
        ra = [w.ref for w in a.words if w.ref is not None]
        rb = [w.ref for w in b.words if w.ref is not None]
        if ra != rb:
            raise ScoringError(f"segment {a.id}: the two systems were scored against different references")
        for r, x, y in _segments(a, b, min_good):
            diffs.append(x - y)
            ref, e1, e2 = ref + r, e1 + x, e2 + y
    if not shared:
        raise ScoringError("the two systems have no segment in common (different references?)")
    n = len(diffs)
    mean = sum(diffs) / n if n else 0.0
    ss = sum((d - mean) ** 2 for d in diffs)
    if ss == 0.0 or n < 2:
        std, z = 0.0, 0.0
    else:
        std = math.sqrt(ss / (n - 1))
        z = mean / (std / math.sqrt(n))
    p = math.erfc(abs(z) / math.sqrt(2.0))
    return MapssweResult(n, ref, e1, e2, mean, std, z, p)
