"""LMWT x word-insertion-penalty sweeps written in Kaldi's scoring layouts.

Modern layout (``steps/scoring/score_kaldi_wer.sh``)::

    <dir>/scoring_kaldi/test_filt.txt
    <dir>/scoring_kaldi/penalty_<P>/<LMWT>.txt
    <dir>/wer_<LMWT>_<P>
    <dir>/scoring_kaldi/best_wer
    <dir>/scoring_kaldi/wer_details/{lmwt,wip,per_utt,per_spk,ops,wer_bootci}

Old layout (``local/score.sh`` of older recipes): ``<dir>/scoring/<LMWT>.tra`` (integer ids),
``<dir>/scoring/test_filt.txt`` and ``<dir>/wer_<LMWT>``.

Lattices are read once; each (LMWT, WIP) best path is a pass of
:class:`kaldi_mpq.lattice.paths.PathSearch` over all of them (acoustic scale 1/LMWT, as
``lattice-scale --inv-acoustic-scale=LMWT``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from kaldi_mpq.fileio import atomic_dir, atomic_write
from kaldi_mpq.scoring.filters import WordFilter, keep_all
from kaldi_mpq.scoring.kaldi_wer import WerStats, best_wer_line, compute_wer, compute_wer_command, wer_file_text
from kaldi_mpq.scoring.transcripts import Transcripts, format_transcript_line, write_transcripts
from kaldi_mpq.scoring.wer_details import (
    align_all, bootstrap_wer_ci, format_bootci, format_ops, format_per_spk, format_per_utt,
)

log = logging.getLogger(__name__)

# {(lmwt, wip): {utt: words}}
Hypotheses = dict[tuple[int, str], dict[str, list[str]]]


def lattice_hypotheses(lattices, symbols, lmwts: Sequence[int], wips: Sequence[str], scale: str = "acoustic") -> Hypotheses:
    """Best-path words of every lattice for every (LMWT, WIP), reading nothing twice.

    Args:
        lattices: :class:`kaldi_mpq.lattice.lattice.Lattice` objects (each with ``key``).
        symbols: the words.txt :class:`SymbolTable` of the lattices.
        lmwts: LM weights; acoustic scale is 1/LMWT.
        wips: penalties as written in directory names (``"0.0"``, ``"0.5"``).
        scale: ``acoustic`` (``lattice-scale --inv-acoustic-scale=LMWT``, score_kaldi.sh) or ``lm``
            (``lattice-best-path --lm-scale=LMWT``, the older local/score.sh).
    """
    from kaldi_mpq.lattice.paths import PathSearch

    search = PathSearch(lattices)
    out: Hypotheses = {}
    for wip in wips:
        for lmwt in lmwts:
            scales = (1.0 / lmwt, 1.0) if scale == "acoustic" else (1.0, float(lmwt))
            paths = search.best_paths(*scales, word_ins_penalty=float(wip))
            out[(lmwt, wip)] = {
                lat.key: ([] if p is None else [symbols.word(w) for w in p.words])
                for lat, p in zip(lattices, paths)
            }
    return out


@dataclass(frozen=True)
class SweepResult:
    """Stats of every setting and the best one (Kaldi's best_wer choice)."""

    stats: dict[tuple[int, str], WerStats]
    best: tuple[int, str]
    best_wer_line: str


def write_kaldi_scoring(
    decode_dir: Path,
    ref: Transcripts,
    hyps: Hypotheses,
    utt2spk: Optional[dict[str, str]] = None,
    hyp_filter: WordFilter = keep_all,
    dir_name: Optional[str] = None,
    mode: str = "present",
) -> SweepResult:
    """Score every setting and write the modern ``scoring_kaldi/`` layout.

    Args:
        decode_dir: where to write.
        ref: the (already filtered) reference, written as ``test_filt.txt``.
        hyps: ``{(lmwt, wip): {utt: words}}`` in the order the sweep ran (WIP outer, LMWT inner).
        utt2spk: for ``wer_details/per_spk`` (if None every utterance is speaker ``global``).
        hyp_filter: applied to hypotheses before writing/scoring (``local/wer_hyp_filter``).
        dir_name: how the decode dir is named inside ``wer_*`` and ``best_wer`` (default: as given).
    """
    name = dir_name if dir_name is not None else str(decode_dir)
    # everything is computed before anything is written, and scoring_kaldi/ appears whole or not at all
    filtered_hyps = {setting: {k: hyp_filter(v) for k, v in h.items()} for setting, h in hyps.items()}
    stats = {(lmwt, wip): compute_wer(ref, Transcripts(h, source=f"penalty_{wip}/{lmwt}.txt"), mode)
             for (lmwt, wip), h in filtered_hyps.items()}
    command = compute_wer_command(f"{name}/scoring_kaldi/test_filt.txt", mode)
    files, names = [], []
    for (lmwt, wip), s in stats.items():
        path = decode_dir / f"wer_{lmwt}_{wip}"
        with atomic_write(path) as f:
            f.write(wer_file_text(s, command))
        files.append(path)
        names.append(f"{name}/wer_{lmwt}_{wip}")
    line = best_wer_line(files, names)
    best_lmwt, best_wip = (lambda p: (int(p[-2]), p[-1]))(line.split()[-1].rsplit("/", 1)[-1].split("_"))
    al = align_all(ref.words, filtered_hyps[(best_lmwt, best_wip)])
    s = stats[(best_lmwt, best_wip)]
    details = {
        "lmwt": f"{best_lmwt}\n",
        "wip": f"{best_wip}\n",
        "per_utt": format_per_utt(al),
        "per_spk": format_per_spk(al, utt2spk or {k: "global" for k in ref.keys()}),
        "ops": format_ops(al),
        "wer_bootci": format_bootci(*bootstrap_wer_ci([u.errors for u in s.per_utt], [u.ref_words for u in s.per_utt])),
    }
    with atomic_dir(decode_dir / "scoring_kaldi", keep_other_entries=True) as sk:
        write_transcripts(sk / "test_filt.txt", ref.words, trailing_space=False)
        for (lmwt, wip), h in filtered_hyps.items():
            write_transcripts(sk / f"penalty_{wip}" / f"{lmwt}.txt", h)
        (sk / "best_wer").write_text(line, encoding="utf-8")
        (sk / "wer_details").mkdir()
        for fname, text in details.items():
            (sk / "wer_details" / fname).write_text(text, encoding="utf-8")
    return SweepResult(stats, (best_lmwt, best_wip), line)


def write_old_scoring(decode_dir: Path, ref: Transcripts, hyps: Hypotheses, symbols, dir_name: Optional[str] = None,
                      mode: str = "present", hyp_filter: WordFilter = keep_all) -> dict[int, WerStats]:
    """The older layout: ``scoring/<LMWT>.tra`` (ids), ``scoring/test_filt.txt``, ``wer_<LMWT>`` (WIP 0).

    ``hyp_filter`` applies to the words scored (the ``sed 's:<UNK>::g'`` of old recipes), not to the ``.tra``.
    """
    name = dir_name if dir_name is not None else str(decode_dir)
    write_transcripts(decode_dir / "scoring" / "test_filt.txt", ref.words, trailing_space=False)
    out = {}
    for (lmwt, _wip), h in hyps.items():
        with atomic_write(decode_dir / "scoring" / f"{lmwt}.tra") as f:
            for k, words in h.items():
                f.write(format_transcript_line(k, (str(symbols[w]) for w in words)))
        s = compute_wer(ref, Transcripts({k: hyp_filter(v) for k, v in h.items()}, source=f"scoring/{lmwt}.tra"), mode)
        with atomic_write(decode_dir / f"wer_{lmwt}") as f:
            f.write(wer_file_text(s, compute_wer_command(f"{name}/scoring/test_filt.txt", mode)))
        out[lmwt] = s
    return out


def tune_on_dev(dev: dict[tuple, WerStats], evl: dict[tuple, WerStats]) -> dict[str, object]:
    """Honest tuning: the setting with the lowest dev WER (first on ties, Kaldi's order) applied to eval.

    Args:
        dev, evl: ``{setting: stats}`` over the same settings (LMWT, WIP, interpolation weight...).

    Returns:
        ``{"setting", "dev_wer", "eval_wer" (honest), "eval_oracle_setting", "eval_oracle_wer"}``:
        the tuned-on-test figure is what ``best_wer`` on eval would report.
    """
    order = list(dev)
    best = min(order, key=lambda k: (dev[k].wer, order.index(k)))
    oracle = min(order, key=lambda k: (evl[k].wer, order.index(k)))
    return {"setting": best, "dev_wer": dev[best].wer, "eval_wer": evl[best].wer,
            "eval_oracle_setting": oracle, "eval_oracle_wer": evl[oracle].wer}
