"""Inputs of the MAPSSWE test from the files users have: STM + CTMs, Kaldi texts, or decode dirs.

Every route ends in per-segment alignments (sclite's weights) for :func:`kaldi_mpq.scoring.mapsswe.mapsswe`:

* ``ref.stm`` with two CTMs: the Python sclite-compatible scorer, segments as sclite cuts them;
* a Kaldi reference text with two hypothesis texts: one segment per utterance (a missing hypothesis
  is an empty one, all deletions);
* two decode dirs: their ``scoring_kaldi/penalty_<WIP>/<LMWT>.txt`` at a chosen LMWT and WIP.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.fileio import Pathlike
from kaldi_mpq.scoring.mapsswe import MapssweResult, mapsswe
from kaldi_mpq.scoring.nist_files import read_ctm, read_stm
from kaldi_mpq.scoring.nist_scorer import align_segment, score_stm_ctm
from kaldi_mpq.scoring.sclite_io import SegmentAlignment
from kaldi_mpq.scoring.transcripts import Transcripts, read_transcripts

log = logging.getLogger(__name__)


def text_alignments(ref: Transcripts, hyp: Transcripts) -> list[SegmentAlignment]:
    """One sclite-weighted alignment per reference utterance (missing hypotheses count as empty)."""
    missing = [k for k in ref.keys() if k not in hyp]
    if missing:
        log.warning("%s: %d reference utterances have no hypothesis (e.g. %s): scored as all deletions",
                    hyp.source, len(missing), missing[0])
    extra = [k for k in hyp.keys() if k not in ref]
    if extra:
        raise ScoringError(f"{hyp.where(extra[0])}: utterance {extra[0]!r} is not in the reference {ref.source}")
    return [SegmentAlignment(k, k, align_segment(w, hyp.words.get(k, []), False, True, False))
            for k, w in ref.words.items()]


def compare_ctms(stm: Pathlike, ctm1: Pathlike, ctm2: Pathlike) -> MapssweResult:
    segs = read_stm(stm)
    return mapsswe(score_stm_ctm(segs, read_ctm(ctm1))[1], score_stm_ctm(segs, read_ctm(ctm2))[1])


def compare_texts(ref: Pathlike, hyp1: Pathlike, hyp2: Pathlike) -> MapssweResult:
    r = read_transcripts(ref)
    return mapsswe(text_alignments(r, read_transcripts(hyp1)), text_alignments(r, read_transcripts(hyp2)))


def decode_dir_hyp(decode_dir: Pathlike, lmwt: int, wip: str) -> Path:
    """``scoring_kaldi/penalty_<wip>/<lmwt>.txt`` of a scored decode dir.

    Raises:
        ScoringError: the dir was not scored at that setting.
    """
    p = Path(decode_dir) / "scoring_kaldi" / f"penalty_{wip}" / f"{lmwt}.txt"
    if not p.exists():
        raise ScoringError(f"{p}: missing; run 'kaldi-mpq score' on {decode_dir} first (LMWT {lmwt}, WIP {wip})")
    return p


def format_result(res: MapssweResult, name1: str, name2: str) -> str:
    """The report printed by ``kaldi-mpq significance``."""
    verdict = {0: "no significant difference", 1: f"{name1} is better", 2: f"{name2} is better"}[res.better]
    return (f"MAPSSWE {name1} vs {name2}: {res.num_segments} segments, {res.ref_words} ref words, "
            f"errors {res.errors1} vs {res.errors2}\n"
            f"mean diff {res.mean:+.3f} (sys1 - sys2), Z {res.z:.3f}, p {res.p_value:.3f} {res.mark()} ({verdict} at 0.05)\n")
