"""CTM from lattice best paths, as Kaldi's ``nbest-to-ctm`` + ``utils/convert_ctm.pl``.

Per utterance (``nbest-to-ctm`` output, times in seconds from the utterance start)::

    sw02001-A_000098-001056 1 0.27 0.33 HELLO 1.00

With ``data/segments`` (``<utt> <reco> <start> <end>``) and ``reco2file_and_channel``
(``<reco> <file> <channel>``) times become recording times and names the NIST file/channel::

    sw02001 A 1.25 0.33 HELLO 1.00

Word times come from the lattice's word alignment (:meth:`Lattice.word_alignment`): frame index times
``frame_shift * frame_subsampling_factor`` (chain models decode at 3x the 10 ms input frame rate).
Boundaries are exact for word-aligned lattices (``lattice-align-words`` output); for raw decoder
lattices each word also takes the frames of the silence/transition arcs around it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.fileio import Pathlike
from kaldi_mpq.scoring.nist_files import CtmWord


def path_ctm(lat, path, symbols, frame_shift: float = 0.01, frame_subsampling_factor: int = 1) -> list[CtmWord]:
    """The CTM words of one best path (file = utterance id, channel ``1``, confidence 1)."""
    if path is None:
        return []
    step = frame_shift * frame_subsampling_factor
    return [CtmWord(lat.key, "1", round(start * step, 6), round(n * step, 6), symbols.word(w), 1.0)
            for w, start, n in lat.word_alignment(path)]


def read_segments(path: Pathlike) -> dict[str, tuple[str, float]]:
    """``data/segments`` -> ``{utt: (recording, start seconds)}``.

    Raises:
        ScoringError: a malformed line (file and line named).
    """
    out = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            p = line.split()
            if not p:
                continue
            try:
                out[p[0]] = (p[1], float(p[2]))
            except (IndexError, ValueError):
                raise ScoringError(f"{path}:{lineno}: expected '<utt> <reco> <start> <end>', got {line.strip()!r}") from None
    return out


def read_reco2file_and_channel(path: Pathlike) -> dict[str, tuple[str, str]]:
    """``reco2file_and_channel`` -> ``{recording: (file, channel)}``."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            p = line.split()
            if p and len(p) != 3:
                raise ScoringError(f"{path}:{lineno}: expected '<reco> <file> <channel>', got {line.strip()!r}")
            if p:
                out[p[0]] = (p[1], p[2])
    return out


def to_recording_times(words: Sequence[CtmWord], segments: dict[str, tuple[str, float]],
                       reco2fc: Optional[dict[str, tuple[str, str]]] = None) -> list[CtmWord]:
    """``convert_ctm.pl``: utterance times -> recording times, recording -> (file, channel).

    Raises:
        ScoringError: an utterance missing from segments, or a recording from reco2file_and_channel.
    """
    out = []
    for w in words:
        if w.file not in segments:
            raise ScoringError(f"utterance {w.file!r} of the CTM is not in data/segments")
        reco, t0 = segments[w.file]
        if reco2fc is None:
            file, chan = reco, "1"
        elif reco in reco2fc:
            file, chan = reco2fc[reco]
        else:
            raise ScoringError(f"recording {reco!r} (utterance {w.file!r}) is not in reco2file_and_channel")
        out.append(CtmWord(file, chan, round(t0 + w.start, 6), w.duration, w.word, w.confidence))
    return out


def data_dir_ctm_mapper(data_dir: Pathlike):
    """A function mapping utterance CTM words to recording CTM words for a data dir: uses
    ``segments`` (and ``reco2file_and_channel``) when present, else the identity."""
    d = Path(data_dir)
    if not (d / "segments").exists():
        return lambda words: list(words)
    segs = read_segments(d / "segments")
    r2fc = read_reco2file_and_channel(d / "reco2file_and_channel") if (d / "reco2file_and_channel").exists() else None
    return lambda words: to_recording_times(words, segs, r2fc)
