"""A Python scorer compatible with NIST sclite for STM references and CTM hypotheses.

What it does as ``sclite -r ref.stm stm -h hyp.ctm ctm`` does:
    * words are compared case-insensitively (sclite's default; ``-s`` makes it case-sensitive);
    * each CTM word goes to the first STM segment of its file and channel that ends *after* the
      word's midpoint (a word whose midpoint is a segment's end goes to the next segment, a word between
      segments to the next one, after the last to the last one, as sclite does); as in sclite the
      midpoint is computed in double precision and the STM end time is held in single precision
      (``1.15 + 0.10 / 2`` is before an end written ``1.20``, ``3.90 + 0.20 / 2`` is not before
      ``4.00``: 300 of 300 boundary cases agree); words of a file/channel the STM lacks are insertions;
    * sclite's alignment (:mod:`kaldi_mpq.scoring.network_align`): its weights (insertion 3, deletion 3,
      substitution 4) and its tie-breaking (substitution before deletion before insertion, cell by cell);
    * optionally deletable reference words in parentheses, ``(UH)``, are correct when deleted (``-D``);
    * ``WORD;tag`` is compared as ``WORD``;
    * alternations ``{ A / B / @ }`` in the reference, CTM ``<ALT_BEGIN>`` groups (and GLM alternations)
      in the hypothesis, fragments (``-F``) and GLM mapping as ``hubscr.pl`` (:mod:`.glm`); with a GLM,
      CTM alternations are undone as ``hubscr.pl`` undoes them (:func:`hubscr_sorted_words`);
    * reference segments whose text holds ``IGNORE_TIME_SEGMENT_IN_SCORING`` or
      ``IGNORETIMESEGMENTINSCORING`` (any case, anywhere in the text, as sclite finds it) are skipped,
      with the hypothesis words in them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np

from kaldi_mpq.scoring.glm import Alternation, Glm, GlmMapper, Token, filter_text, parse_alternations
from kaldi_mpq.scoring.network_align import align_many, align_tokens
from kaldi_mpq.scoring.nist_files import CtmWord, StmSegment
from kaldi_mpq.scoring.sclite_io import AlignedWord, SegmentAlignment

IGNORE = "IGNORE_TIME_SEGMENT_IN_SCORING"
IGNORE_SPELLINGS = (IGNORE, "IGNORETIMESEGMENTINSCORING")


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


def align_segment(ref: Sequence[Token], hyp: Sequence[Token], case_sensitive: bool, opt_del: bool,
                  fragments: bool) -> tuple[AlignedWord, ...]:
    """One segment's alignment, as sclite gives it."""
    return align_tokens(ref, hyp, case_sensitive, opt_del, fragments)


_IGNORED = re.compile("|".join(IGNORE_SPELLINGS), re.IGNORECASE)


def is_ignored(seg: StmSegment) -> bool:
    """A segment sclite leaves out of scoring (see the module docstring)."""
    return _IGNORED.search(" ".join(seg.words)) is not None


def _ref_tokens(seg: StmSegment, mapper: Optional[GlmMapper]) -> list[Token]:
    text = " ".join(seg.words)
    if mapper is None and "{" not in text and "/" not in text and "}" not in text:
        return list(seg.words)
    if mapper is not None:
        text = filter_text(mapper, text, split_hyphens=True)
    return parse_alternations(text, f"STM segment {seg.file} {seg.channel} {seg.start:.2f}")


def _hyp_words(word: str, where: CtmWord, mapper: Optional[GlmMapper]) -> list[Token]:
    if mapper is None:
        return [word]
    return parse_alternations(filter_text(mapper, word, split_hyphens=True), f"CTM {where.file} {where.channel} {where.start}")


def _hyp_tokens(words: Sequence[CtmWord], mapper: Optional[GlmMapper]) -> list[Token]:
    out: list[Token] = []
    for w in words:
        if w.alternatives is None:
            out += _hyp_words(w.word, w, mapper)
            continue
        # a CTM alternation; a GLM alternation inside one of its words keeps that word's first reading
        options = []
        for alt in w.alternative_words():
            toks = [t for word in alt for t in _hyp_words(word, w, mapper)]
            options.append(tuple(x for t in toks for x in (t.options[0] if isinstance(t, Alternation) else (t,))))
        out.append(Alternation(tuple(options)))
    return out


def hubscr_sorted_words(ctm: Iterable[CtmWord]) -> list[CtmWord]:
    """The CTM as ``hubscr.pl`` passes it on: it sorts the lines by time before filtering, and the untimed
    (``*``) marker lines of an ``<ALT_BEGIN>`` group sort to the front of their channel, so the group's
    words are scored as plain words, all alternatives one after another in time order."""
    out: list[CtmWord] = []
    for w in ctm:
        if w.alternatives is None:
            out.append(w)
        else:
            out.extend(x for alt in w.alternatives for x in alt)
    return out


def segment_index(ends: np.ndarray, words: Sequence[CtmWord]) -> np.ndarray:
    """Per word, the index of its segment among segments ending at ``ends`` (float32, sorted by start):
    the first that ends after the word's midpoint, else the last."""
    mid = np.array([w.start + w.duration / 2 for w in words], dtype=np.float64)
    return np.minimum(np.searchsorted(ends.astype(np.float64), mid, side="right"), ends.size - 1)


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
    if glm is not None:
        ctm = hubscr_sorted_words(ctm)
    by_chan: dict[tuple[str, str], list[StmSegment]] = defaultdict(list)
    for s in stm:
        by_chan[(s.file.lower(), s.channel.lower())].append(s)
    for chan in by_chan.values():
        chan.sort(key=lambda s: s.start)
    by_key: dict[tuple[str, str], list[CtmWord]] = defaultdict(list)
    for w in ctm:
        by_key[(w.file.lower(), w.channel.lower())].append(w)
    hyp_words: dict[tuple[str, str, int], list[CtmWord]] = defaultdict(list)
    for key, words in by_key.items():
        if key not in by_chan:
            hyp_words[(key[0], key[1], -1)] = words
            continue
        ends = np.array([s.end for s in by_chan[key]], dtype=np.float32)
        for w, i in zip(words, segment_index(ends, words).tolist()):
            hyp_words[(key[0], key[1], i)].append(w)
    names, pairs = [], []  # (id, speaker, is a reference segment), (reference tokens, hypothesis tokens)
    for key in sorted(set(by_chan) | {(f, ch) for f, ch, i in hyp_words if i < 0}):
        for i, seg in enumerate(by_chan.get(key, [])):
            if is_ignored(seg):
                continue
            hyp = _hyp_tokens(sorted(hyp_words.get((key[0], key[1], i), []), key=lambda w: w.start), hyp_map)
            names.append((f"{seg.speaker}-{seg.start:.2f}", seg.speaker.lower(), True))
            pairs.append((_ref_tokens(seg, ref_map), hyp))
        stray = hyp_words.get((key[0], key[1], -1), [])
        if stray:  # a file/channel the reference lacks: all insertions
            names.append((f"{key[0]}-{key[1]}-unsegmented", "", False))
            pairs.append(([], _hyp_tokens(sorted(stray, key=lambda w: w.start), hyp_map)))
    alignments = []
    c = s_ = d = ins = seg_err = nseg = 0
    for (name, speaker, is_segment), al in zip(names, align_many(pairs, case_sensitive, opt_del, fragments)):
        cc, ss, dd, ii = SegmentAlignment("", "", al).counts()
        c, s_, d, ins = c + cc, s_ + ss, d + dd, ins + ii
        if is_segment:
            seg_err += (ss + dd + ii) > 0
            nseg += 1
        alignments.append(SegmentAlignment(name, speaker, al))
    words = c + s_ + d
    return NistTotals(nseg, words, c, s_, d, ins, seg_err), alignments
