"""Scoring a whole Kaldi decode dir from its lattices, as ``steps/score_kaldi.sh`` does.

Inputs (Kaldi's layout)::

    data/test/text                 reference, one utterance per line
    data/test/utt2spk              for wer_details/per_spk (optional)
    data/lang/words.txt            the lattices' word ids (or give words.txt itself)
    exp/tri3a/decode/num_jobs      16
    exp/tri3a/decode/lat.{1..16}.gz

Lattices are read once, in the order of the shell glob ``lat.*.gz`` Kaldi's scripts use
(:func:`kaldi_mpq.rescoring.decode_dir.lattice_files`), so hypothesis files list utterances as Kaldi's do.
The ``kaldi`` layout follows ``steps/scoring/score_kaldi_wer.sh`` (acoustic scale 1/LMWT plus a word
insertion penalty); the ``old`` layout follows the older ``local/score.sh`` (``lattice-best-path
--lm-scale=LMWT``, penalty 0, ``scoring/LMWT.tra`` and ``wer_LMWT``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.fileio import Pathlike
from kaldi_mpq.rescoring.decode_dir import read_decode_lattices
from kaldi_mpq.scoring.filters import filter_transcripts, make_filter
from kaldi_mpq.scoring.kaldi_wer import WerStats
from kaldi_mpq.scoring.sweep import SweepResult, lattice_hypotheses, write_kaldi_scoring, write_old_scoring
from kaldi_mpq.scoring.transcripts import Transcripts, read_transcripts, read_utt2spk
from kaldi_mpq.text.symbols import SymbolTable

log = logging.getLogger(__name__)

LAYOUTS = ("kaldi", "old")


@dataclass(frozen=True)
class ScoreOptions:
    """Options of a decode-dir scoring run (defaults are ``steps/score_kaldi.sh``'s).

    Attributes:
        min_lmwt, max_lmwt: LM weights swept (inclusive).
        word_ins_penalties: penalties as written in ``penalty_P`` names; the old layout uses only 0.
        layout: ``kaldi`` (scoring_kaldi/) or ``old`` (scoring/ + wer_LMWT).
        hyp_filter, ref_filter: word filter names (:mod:`kaldi_mpq.scoring.filters`).
        mode: ``compute-wer`` mode.
        dir_name: how the decode dir is named inside wer files (default: as given).
    """

    min_lmwt: int = 7
    max_lmwt: int = 17
    word_ins_penalties: tuple[str, ...] = ("0.0", "0.5", "1.0")
    layout: str = "kaldi"
    hyp_filter: str = "none"
    ref_filter: str = "none"
    mode: str = "present"
    dir_name: Optional[str] = None

    def lmwts(self) -> list[int]:
        if self.min_lmwt < 1 or self.max_lmwt < self.min_lmwt:
            raise ScoringError(f"bad LM weight range {self.min_lmwt}..{self.max_lmwt}")
        return list(range(self.min_lmwt, self.max_lmwt + 1))


def words_txt(lang: Pathlike) -> Path:
    """``lang/words.txt`` for a lang dir, or the file itself."""
    p = Path(lang)
    return p / "words.txt" if p.is_dir() else p


def read_reference(data_dir: Pathlike, ref_filter: str, symbols: Optional[SymbolTable] = None) -> Transcripts:
    """``data_dir/text`` through the reference filter; reports words missing from words.txt."""
    ref = read_transcripts(Path(data_dir) / "text")
    ref.words = filter_transcripts(ref.words, make_filter(ref_filter))
    if symbols is not None:
        oov = sorted({w for ws in ref.words.values() for w in ws if w not in symbols})
        if oov:
            log.info("%d reference word types are not in words.txt (always errors): %s",
                     len(oov), " ".join(oov[:10]))
    return ref


def score_decode_dir(data_dir: Pathlike, lang: Pathlike, decode_dir: Pathlike,
                     options: ScoreOptions = ScoreOptions()) -> dict[tuple[int, str], WerStats]:
    """Sweep LMWT x WIP over a decode dir's lattices and write Kaldi's scoring files.

    Returns:
        ``{(lmwt, wip): stats}``; the best setting is in ``best_wer`` (kaldi layout) and logged.
    """
    if options.layout not in LAYOUTS:
        raise ScoringError(f"unknown scoring layout {options.layout!r}; known: {', '.join(LAYOUTS)}")
    decode_dir = Path(decode_dir)
    symbols = SymbolTable.read(words_txt(lang), unk=None)
    ref = read_reference(data_dir, options.ref_filter, symbols)
    lats = read_decode_lattices(decode_dir, symbols)
    missing = [k for k in ref.keys() if k not in {lat.key for lat in lats}]
    if missing:
        log.warning("%d reference utterances have no lattice (e.g. %s); mode=%s", len(missing), missing[0], options.mode)
    hyp_filter = make_filter(options.hyp_filter)
    if options.layout == "old":
        hyps = lattice_hypotheses(lats, symbols, options.lmwts(), ["0.0"], scale="lm")
        stats = write_old_scoring(decode_dir, ref, hyps, symbols, options.dir_name, options.mode, hyp_filter)
        out = {(k, "0.0"): s for k, s in stats.items()}
    else:
        hyps = lattice_hypotheses(lats, symbols, options.lmwts(), list(options.word_ins_penalties))
        utt2spk_path = Path(data_dir) / "utt2spk"
        utt2spk = read_utt2spk(utt2spk_path) if utt2spk_path.exists() else None
        res: SweepResult = write_kaldi_scoring(decode_dir, ref, hyps, utt2spk, hyp_filter, options.dir_name, options.mode)
        out = res.stats
    best = min(out, key=lambda k: out[k].wer)
    log.info("best: LMWT %d WIP %s %%WER %.2f [ %d / %d ]", best[0], best[1], out[best].wer,
             out[best].errors, out[best].num_words)
    return out
