"""A Python scorer compatible with NIST sclite for STM references and CTM hypotheses.

What it does as ``sclite -r ref.stm stm -h hyp.ctm ctm`` does:
    * words are compared case-insensitively (sclite's default; ``-s`` makes it case-sensitive);
    * each CTM word goes to the STM segment of the same file and channel that contains its midpoint;
      a word in no segment is an insertion in an empty segment of its own channel;
    * alignment with sclite's weights (insertion 3, deletion 3, substitution 4), whose error split
      agrees with sclite on every segment tested (``tests/scoring/test_nist_scorer.py``);
    * optionally deletable reference words in parentheses, ``(UH)``, cost nothing when deleted (``-D``);
    * reference ``IGNORE_TIME_SEGMENT_IN_SCORING`` segments are skipped, with the hypothesis words in them.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

import kaldialign

from kaldi_mpq.scoring.nist_files import CtmWord, StmSegment
from kaldi_mpq.scoring.sclite_io import AlignedWord, SegmentAlignment

IGNORE = "IGNORE_TIME_SEGMENT_IN_SCORING"
_EPS = "\x00"


@dataclass(frozen=True)
class NistTotals:
    """Totals over segments; percentages as sclite's ``Sum/Avg`` row (of reference words)."""

    segments: int
    words: int
    corr: int
    sub: int
    dele: int
    ins: int
    seg_errors: int

    @property
    def errors(self) -> int:
        return self.sub + self.dele + self.ins

    def pct(self, n: int) -> float:
        return 100.0 * n / self.words if self.words else 0.0

    @property
    def wer(self) -> float:
        return self.pct(self.errors)

    def format(self) -> str:
        """``%WER 14.5 | 348 2473 | 90.9 4.8 4.3 5.3 14.5 50.3``, sclite's ``Sum/Avg`` figures."""
        return (
            f"%WER {self.wer:.1f} | {self.segments} {self.words} | {self.pct(self.corr):.1f} "
            f"{self.pct(self.sub):.1f} {self.pct(self.dele):.1f} {self.pct(self.ins):.1f} "
            f"{self.wer:.1f} {100.0 * self.seg_errors / max(self.segments, 1):.1f}"
        )


def _align_segment(ref: Sequence[str], hyp: Sequence[str], case_sensitive: bool, opt_del: bool) -> tuple[AlignedWord, ...]:
    norm = (lambda w: w) if case_sensitive else str.lower
    r = [norm(w) for w in ref]
    h = [norm(w) for w in hyp]
    optional = [w.startswith("(") and w.endswith(")") for w in r]
    if opt_del and any(optional):
        return _align_optional(r, h, optional)
    pairs = kaldialign.align(r, h, _EPS, sclite_mode=True) if (r and h) else (
        [(w, _EPS) for w in r] + [(_EPS, w) for w in h]
    )
    out = []
    for a, b in pairs:
        op = "I" if a == _EPS else "D" if b == _EPS else "C" if a == b else "S"
        out.append(AlignedWord(op, None if a == _EPS else a, None if b == _EPS else b))
    return tuple(out)


def _align_optional(r: list[str], h: list[str], optional: list[bool]) -> tuple[AlignedWord, ...]:
    """Weighted DP where an optionally deletable ref word ``(w)`` matches ``w`` and deletes for free."""
    INS, DEL, SUB = 3, 3, 4
    M, N = len(r), len(h)
    word = [w[1:-1] if o else w for w, o in zip(r, optional)]
    cost = [[0] * (N + 1) for _ in range(M + 1)]
    for j in range(1, N + 1):
        cost[0][j] = cost[0][j - 1] + INS
    for i in range(1, M + 1):
        d = 0 if optional[i - 1] else DEL
        cost[i][0] = cost[i - 1][0] + d
        for j in range(1, N + 1):
            cost[i][j] = min(
                cost[i - 1][j - 1] + (0 if word[i - 1] == h[j - 1] else SUB),
                cost[i - 1][j] + d,
                cost[i][j - 1] + INS,
            )
    out = []
    i, j = M, N
    while i or j:
        d = 0 if i and optional[i - 1] else DEL
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (0 if word[i - 1] == h[j - 1] else SUB):
            out.append(AlignedWord("C" if word[i - 1] == h[j - 1] else "S", r[i - 1], h[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + d:
            out.append(AlignedWord("C" if optional[i - 1] else "D", r[i - 1], None))
            i -= 1
        else:
            out.append(AlignedWord("I", None, h[j - 1]))
            j -= 1
    out.reverse()
    return tuple(out)


def score_stm_ctm(
    stm: Iterable[StmSegment],
    ctm: Iterable[CtmWord],
    case_sensitive: bool = False,
    opt_del: bool = True,
) -> tuple[NistTotals, list[SegmentAlignment]]:
    """Score CTM words against STM segments as sclite does.

    Args:
        stm: reference segments.
        ctm: hypothesis words.
        case_sensitive: sclite ``-s``.
        opt_del: sclite ``-D`` (hubscr passes it): ``(w)`` reference words may be deleted for free.

    Returns:
        (totals, one alignment per scored reference segment, sorted by file, channel, start).
    """
    by_chan: dict[tuple[str, str], list[StmSegment]] = defaultdict(list)
    for s in stm:
        by_chan[(s.file.lower(), s.channel.lower())].append(s)
    hyp_words: dict[tuple[str, str, int], list[CtmWord]] = defaultdict(list)
    for chan in by_chan.values():
        chan.sort(key=lambda s: s.start)
    starts = {k: [s.start for s in v] for k, v in by_chan.items()}
    for w in ctm:
        key = (w.file.lower(), w.channel.lower())
        mid = w.start + w.duration / 2
        segs = by_chan.get(key, [])
        i = bisect.bisect_right(starts.get(key, []), mid) - 1
        if i >= 0 and mid > segs[i].end:
            i = -1  # between segments
        hyp_words[(key[0], key[1], i)].append(w)
    alignments = []
    c = s_ = d = ins = seg_err = nseg = 0
    for key in sorted(by_chan):
        for i, seg in enumerate(by_chan[key]):
            if seg.words and seg.words[0] == IGNORE:
                continue
            hyp = [w.word for w in sorted(hyp_words.get((key[0], key[1], i), []), key=lambda w: w.start)]
            al = _align_segment(seg.words, hyp, case_sensitive, opt_del)
            cc, ss, dd, ii = SegmentAlignment("", "", al).counts()
            c, s_, d, ins = c + cc, s_ + ss, d + dd, ins + ii
            seg_err += (ss + dd + ii) > 0
            nseg += 1
            alignments.append(SegmentAlignment(f"{seg.speaker}-{seg.start:.2f}", seg.speaker.lower(), al))
        stray = [w.word for w in hyp_words.get((key[0], key[1], -1), [])]
        if stray:
            ins += len(stray)
            alignments.append(SegmentAlignment(f"{key[0]}-{key[1]}-unsegmented", "", tuple(
                AlignedWord("I", None, w) for w in stray)))
    words = c + s_ + d
    return NistTotals(nseg, words, c, s_, d, ins, seg_err), alignments
