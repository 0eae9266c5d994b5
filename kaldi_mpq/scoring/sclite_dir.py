"""NIST scoring of a decode dir: CTM per LMWT/WIP, then hubscr.pl / sclite / asclite, or the Python scorer.

What Kaldi's swbd ``local/score_sclite.sh`` and AMI ``local/score_asclite.sh`` do, from lattices read once::

    <decode>/score_<LMWT>_<WIP>/<name>.ctm            best-path words, recording times (segments)
    <decode>/score_<LMWT>_<WIP>/<name>.ctm.filt.sys    hubscr.pl report (data/glm present, SCTK installed)
    <decode>/score_<LMWT>_<WIP>/<name>.ctm.sys         sclite/asclite report (no GLM)
    <decode>/score_<LMWT>_<WIP>/<name>.ctm.py.sys      the Python scorer's Sum/Avg (SCTK absent, or asked for)
    <decode>/score_<LMWT>_<WIP>/<name>.ctm.<subset>    eval2000 swbd/callhm, rt03 swbd/fsh subsets, with stm.<subset>

``<name>`` is the data dir's base name. The hypothesis filter (``--hyp-filter swbd``/``ami``) drops CTM
words as the recipes' ``grep -v`` lines do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.fileio import Pathlike, atomic_write
from kaldi_mpq.rescoring.decode_dir import read_decode_lattices
from kaldi_mpq.scoring.ctm import data_dir_ctm_mapper, path_ctm
from kaldi_mpq.scoring.decode_dir import ScoreOptions, words_txt
from kaldi_mpq.scoring.filters import make_filter
from kaldi_mpq.scoring.glm import read_glm
from kaldi_mpq.scoring.nist_files import read_stm, subsets_for, write_ctm
from kaldi_mpq.scoring.nist_scorer import score_stm_ctm
from kaldi_mpq.scoring.sclite_io import SysSummary, find_sctk_tool, run_asclite, run_hubscr, run_sclite
from kaldi_mpq.text.symbols import SymbolTable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScliteOptions:
    """Options of the NIST path.

    Attributes:
        frame_shift: seconds per input frame.
        frame_subsampling_factor: 3 for chain models.
        stm, glm: paths (default ``data_dir/stm`` and ``data_dir/glm`` when present).
        hubscr: ``auto`` (when a GLM is given), ``yes`` or ``no``.
        asclite: overlap-aware scoring (AMI sdm/mdm), with ``overlap_limit`` speakers.
        python_scorer: never call SCTK.
    """

    frame_shift: float = 0.01
    frame_subsampling_factor: int = 1
    stm: Optional[str] = None
    glm: Optional[str] = None
    hubscr: str = "auto"
    asclite: bool = False
    overlap_limit: int = 4
    python_scorer: bool = False


SCLITE_DEFAULTS = ScliteOptions()


def _python_sys(stm: Path, ctm: Path, glm: Optional[Path]) -> SysSummary:
    from kaldi_mpq.scoring.nist_files import read_ctm

    tot, _ = score_stm_ctm(read_stm(stm), read_ctm(ctm), glm=read_glm(glm) if glm else None, fragments=glm is not None)
    with atomic_write(f"{ctm}.py.sys") as f:
        f.write(f"| Sum/Avg| {tot.segments} {tot.words} | {tot.pct(tot.corr):.1f} {tot.pct(tot.sub):.1f} "
                f"{tot.pct(tot.dele):.1f} {tot.pct(tot.ins):.1f} {tot.wer:.1f} "
                f"{100.0 * tot.seg_errors / max(tot.segments, 1):.1f} |\n")
    return SysSummary(tot.segments, tot.words, *(round(tot.pct(x), 1) for x in (tot.corr, tot.sub, tot.dele, tot.ins)),
                      round(tot.wer, 1), round(100.0 * tot.seg_errors / max(tot.segments, 1), 1))


def score_one(stm: Path, ctm: Path, glm: Optional[Path], sopts: ScliteOptions) -> tuple[SysSummary, str]:
    """Score one CTM with the best available tool; returns (summary, tool name)."""
    use_hub = glm is not None and sopts.hubscr != "no"
    tool = "hubscr.pl" if use_hub else "asclite" if sopts.asclite else "sclite"
    if sopts.python_scorer or find_sctk_tool(tool) is None:
        if not sopts.python_scorer:
            log.warning("%s not found (SCTK not installed): scoring %s with the built-in Python scorer", tool, ctm)
        return _python_sys(stm, ctm, glm), "python"
    if use_hub:
        return run_hubscr(stm, ctm, glm, asclite_overlap=sopts.overlap_limit if sopts.asclite else None), tool
    if sopts.asclite:
        return run_asclite(stm, ctm, sopts.overlap_limit), tool
    summary, _ = run_sclite(stm, ctm, ctm.parent, ctm.name, extra=("-F", "-D"))
    return summary, tool


def score_decode_dir_sclite(data_dir: Pathlike, lang: Pathlike, decode_dir: Pathlike,
                            opts: ScoreOptions = ScoreOptions(), sopts: ScliteOptions = SCLITE_DEFAULTS
                            ) -> dict[tuple[int, str], dict[str, SysSummary]]:
    """CTMs for every LMWT x WIP and their NIST scores, for the whole set and its subsets.

    Returns:
        ``{(lmwt, wip): {"all" | subset: summary}}``.

    Raises:
        ScoringError: no STM, or a failing SCTK tool.
    """
    from kaldi_mpq.lattice.paths import PathSearch

    data_dir, decode_dir = Path(data_dir), Path(decode_dir)
    name = data_dir.name
    stm = Path(sopts.stm) if sopts.stm else data_dir / "stm"
    if not stm.exists():
        raise ScoringError(f"{stm}: no STM reference (give --stm)")
    glm = Path(sopts.glm) if sopts.glm else (data_dir / "glm" if (data_dir / "glm").exists() else None)
    if sopts.hubscr == "yes" and glm is None:
        raise ScoringError("--hubscr yes needs a GLM (data_dir/glm or --glm)")
    symbols = SymbolTable.read(words_txt(lang), unk=None)
    search = PathSearch(read_decode_lattices(decode_dir, symbols))
    to_reco = data_dir_ctm_mapper(data_dir)
    keep = make_filter(opts.hyp_filter)
    subsets = subsets_for(name)
    results: dict[tuple[int, str], dict[str, SysSummary]] = {}
    for wip in opts.word_ins_penalties:
        for lmwt in opts.lmwts():
            paths = search.best_paths(acoustic_scale=1.0 / lmwt, word_ins_penalty=float(wip))
            words = [w for lat, p in zip(search.lattices, paths)
                     for w in path_ctm(lat, p, symbols, sopts.frame_shift, sopts.frame_subsampling_factor)]
            words = [w for w in to_reco(words) if keep([w.word])]
            out = decode_dir / f"score_{lmwt}_{wip}"
            ctm = out / f"{name}.ctm"
            write_ctm(ctm, words)
            res = {}
            res["all"], tool = score_one(stm, ctm, glm, sopts)
            for sub, prefix in subsets.items():
                sub_stm, sub_ctm = out / f"stm.{sub}", out / f"{name}.ctm.{sub}"
                grep_v(stm, sub_stm, prefix)
                grep_v(ctm, sub_ctm, prefix)
                res[sub], _ = score_one(sub_stm, sub_ctm, glm, sopts)
            results[(lmwt, wip)] = res
            log.info("LMWT %d WIP %s (%s): %s", lmwt, wip, tool,
                     "  ".join(f"{k} %WER {v.err:.1f}" for k, v in res.items()))
    for part in ["all", *subsets]:
        best = min(results, key=lambda k: results[k][part].err)
        log.info("best %s: %%WER %.1f at LMWT %d WIP %s", part, results[best][part].err, *best)
    return results


def grep_v(src: Path, dst: Path, prefix: str) -> None:
    """Copy the lines of ``src`` not starting with ``prefix`` (Kaldi's ``grep -v '^en_'``): STM
    comment lines, label definitions included, are kept."""
    with open(src, encoding="utf-8") as f, atomic_write(dst) as out:
        out.writelines(line for line in f if not line.startswith(prefix))
