"""A Python scorer compatible with NIST sclite for STM references and CTM hypotheses.

What it does as ``sclite -r ref.stm stm -h hyp.ctm ctm`` does:
    * words are compared case-insensitively (sclite's default; ``-s`` makes it case-sensitive);
    * each CTM word goes to the first STM segment of its file and channel that ends at or after the
      word's midpoint (a word between segments goes to the next one, after the last to the last one,
      as sclite does); words of a file/channel the STM lacks are insertions;
    * alignment with sclite's weights (insertion 3, deletion 3, substitution 4), whose error split
      agrees with sclite on every segment tested (``tests/scoring/test_nist_scorer.py``);
    * optionally deletable reference words in parentheses, ``(UH)``, cost nothing when deleted (``-D``);
    * alternations ``{ A / B / @ }`` in the reference (and, after a GLM, in the hypothesis), fragments
      (``-F``) and GLM mapping as ``hubscr.pl`` (:mod:`kaldi_mpq.scoring.network_align`, :mod:`.glm`);
    * reference ``IGNORE_TIME_SEGMENT_IN_SCORING`` segments are skipped, with the hypothesis words in them.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import kaldialign

from kaldi_mpq.scoring.glm import Glm, GlmMapper, Token, filter_text, parse_alternations
from kaldi_mpq.scoring.network_align import align_tokens
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


def _is_plain(tokens: Sequence[Token], fragments: bool) -> bool:
    return all(isinstance(t, str) and not t.startswith("(") and not (fragments and len(t) > 1 and (t.endswith("-") or t.startswith("-")))
               for t in tokens)


def align_segment(ref: Sequence[Token], hyp: Sequence[Token], case_sensitive: bool, opt_del: bool,
                   fragments: bool) -> tuple[AlignedWord, ...]:
    if not (_is_plain(ref, fragments) and all(isinstance(t, str) for t in hyp)):
        return align_tokens(ref, hyp, case_sensitive, opt_del, fragments)
    norm = (lambda w: w) if case_sensitive else str.lower
    r = [norm(w) for w in ref]
    h = [norm(w) for w in hyp]
    pairs = kaldialign.align(r, h, _EPS, sclite_mode=True) if (r and h) else (
        [(w, _EPS) for w in r] + [(_EPS, w) for w in h]
    )
    out = []
    for a, b in pairs:
        op = "I" if a == _EPS else "D" if b == _EPS else "C" if a == b else "S"
        out.append(AlignedWord(op, None if a == _EPS else a, None if b == _EPS else b))
    return tuple(out)


def _ref_tokens(seg: StmSegment, mapper: Optional[GlmMapper]) -> list[Token]:
    text = " ".join(seg.words)
    if mapper is not None:
        text = filter_text(mapper, text, split_hyphens=True)
    return parse_alternations(text, f"STM segment {seg.file} {seg.channel} {seg.start:.2f}")


def _hyp_tokens(words: Sequence[CtmWord], mapper: Optional[GlmMapper]) -> list[Token]:
    if mapper is None:
        return [w.word for w in words]
    out: list[Token] = []
    for w in words:
        out += parse_alternations(filter_text(mapper, w.word, split_hyphens=True), f"CTM {w.file} {w.channel} {w.start}")
    return out


def score_stm_ctm(
    stm: Iterable[StmSegment],
    ctm: Iterable[CtmWord],
    case_sensitive: bool = False,
    opt_del: bool = True,
    glm: Optional[Glm] = None,
    fragments: bool = False,
) -> tuple[NistTotals, list[SegmentAlignment]]:
    """Score CTM words against STM segments as sclite does (``hubscr.pl`` with ``glm``).

    Args:
        stm: reference segments.
        ctm: hypothesis words.
        case_sensitive: sclite ``-s``.
        opt_del: sclite ``-D``: ``(w)`` reference words may be deleted for free.
        glm: apply it as hubscr.pl does (``csrfilt.sh -dh``, STM as ``ref``, each CTM word as ``ctm``/``hyp``).
        fragments: sclite ``-F``: ``TH-`` matches a hypothesis word starting with ``TH``.

    Returns:
        (totals, one alignment per scored reference segment, sorted by file, channel, start).
    """
    ref_map = glm.mapper("stm", "ref") if glm is not None else None
    hyp_map = glm.mapper("ctm", "hyp") if glm is not None else None
    by_chan: dict[tuple[str, str], list[StmSegment]] = defaultdict(list)
    for s in stm:
        by_chan[(s.file.lower(), s.channel.lower())].append(s)
    for chan in by_chan.values():
        chan.sort(key=lambda s: s.start)
    ends = {k: [s.end for s in v] for k, v in by_chan.items()}
    hyp_words: dict[tuple[str, str, int], list[CtmWord]] = defaultdict(list)
    for w in ctm:
        key = (w.file.lower(), w.channel.lower())
        if key not in by_chan:
            hyp_words[(key[0], key[1], -1)].append(w)
            continue
        # sclite: the first segment ending at or after the word's midpoint, else the last one
        i = min(bisect.bisect_left(ends[key], w.start + w.duration / 2), len(ends[key]) - 1)
        hyp_words[(key[0], key[1], i)].append(w)
    alignments = []
    c = s_ = d = ins = seg_err = nseg = 0
    for key in sorted(set(by_chan) | {(f, ch) for f, ch, i in hyp_words if i < 0}):
        for i, seg in enumerate(by_chan.get(key, [])):
            if seg.words and seg.words[0] == IGNORE:
                continue
            hyp = _hyp_tokens(sorted(hyp_words.get((key[0], key[1], i), []), key=lambda w: w.start), hyp_map)
            al = align_segment(_ref_tokens(seg, ref_map), hyp, case_sensitive, opt_del, fragments)
            cc, ss, dd, ii = SegmentAlignment("", "", al).counts()
            c, s_, d, ins = c + cc, s_ + ss, d + dd, ins + ii
            seg_err += (ss + dd + ii) > 0
            nseg += 1
            alignments.append(SegmentAlignment(f"{seg.speaker}-{seg.start:.2f}", seg.speaker.lower(), al))
        stray = [w.word for w in hyp_words.get((key[0], key[1], -1), [])]
        if stray:  # a file/channel the reference lacks: all insertions
            ins += len(stray)
            alignments.append(SegmentAlignment(f"{key[0]}-{key[1]}-unsegmented", "", tuple(
                AlignedWord("I", None, w) for w in stray)))
    words = c + s_ + d
    return NistTotals(nseg, words, c, s_, d, ins, seg_err), alignments
