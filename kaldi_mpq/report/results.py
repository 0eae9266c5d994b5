"""Results table of a rescoring experiment, one row per system, as paper 1's Tables III-VI: ID, LM,
method, #bit, PPL, the WER of every test set with significance marks, size, compression ratio, ms/word.

Nothing is computed twice: perplexity, size, compression and speed come from ``kaldi-mpq quant-report
--json``; the WERs from the ``wer_LMWT_WIP`` files ``kaldi-mpq score`` wrote into each decode dir; the
MAPSSWE tests run :func:`kaldi_mpq.scoring.significance.compare_texts` (``kaldi-mpq significance``) on
the hypothesis files of the same scoring (``scoring_kaldi/penalty_WIP/LMWT.txt`` against
``scoring_kaldi/test_filt.txt``). Command: ``kaldi-mpq results-table`` (:mod:`kaldi_mpq.bin.results_table`).

**Systems file** (TSV; blank lines and lines starting with ``#`` are skipped; the first other line is the
header)::

    id      lm           method  bits  model                 parent  nbest_w0.5                 lattice_w0.5
    3gram   3-gram       -       -     -                     -       exp/first_pass/decode_{set} exp/first_pass/decode_{set}
    lstm    LSTM         fp32    32    exp/lm/lstm           -       exp/nbest/lstm_w0.5/decode_{set}  ...
    lstm_kl2 LSTM        bp+kl   -     exp/quant/lstm_kl2    lstm    exp/nbest/lstm_kl2_w0.5/decode_{set} ...

- ``id``: unique; ``lm``, ``method``: labels printed as given; ``bits``: printed as given, or ``-`` for
  the model's average bits from the report;
- ``model``: the LM directory exactly as it was given to ``quant-report`` (rows are matched by that
  ``path``); an n-gram LM file exactly as given to ``kaldi-mpq eval-lm --json`` (its PPL only: rows
  matched by ``lm``); or ``-`` (no PPL, size or speed columns);
- ``parent``: the id of the system a quantized LM is tested against (its fp32 LM), or ``-``;
- one column per *condition* (the header names it, e.g. ``nbest_w0.5``): the system's decode dirs in that
  condition with ``{set}`` standing for the test-set name. Several comma-separated dirs are alternatives
  (e.g. one per interpolation weight) tuned together with LMWT and WIP; ``-``: not run in it.

**Tuning** (Kaldi practice, never on the test set itself): for each system and condition, the
(alternative, LMWT, WIP) with the lowest WER on the tuning set (``--tune-set``, default the first of
``--sets``; ties go to the first in Kaldi's order, :func:`kaldi_mpq.scoring.sweep.tune_on_dev`) is
applied to every other set. The tuning set's own WER is its best WER, as Kaldi's ``best_wer``.

**Significance** (MAPSSWE, two-sided, at ``alpha``): in every condition and set, each system against
the baseline (``--baseline``, default the first row) and each system with a parent against its parent,
both at their tuned settings. Marks after a WER: ``+`` / ``-`` significantly lower / higher than the
baseline; ``*`` no significant difference from the parent (the papers' "lossless" mark), ``>`` / ``<``
significantly higher / lower than the parent.

Test-set names are options (``--sets dev,eval``; ``--sets eval2000_swbd,eval2000_callhm,rt03`` with
``--tune-set rt02`` for Switchboard), so the same table serves any recipe.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

from kaldi_mpq.errors import ConfigError, ScoringError
from kaldi_mpq.fileio import Pathlike, atomic_write
from kaldi_mpq.scoring.mapsswe import ALPHA, MapssweResult
from kaldi_mpq.scoring.significance import compare_texts, decode_dir_hyp
from kaldi_mpq.scoring.sweep import tune_on_dev

logger = logging.getLogger(__name__)

FIXED_COLUMNS = ("id", "lm", "method", "bits", "model", "parent")
_WER_FILE = re.compile(r"^wer_(\d+)_(\S+)$")
_WER_LINE = re.compile(r"%WER (\S+) \[ (\d+) / (\d+)")


@dataclass
class System:
    """One row of the systems file (module docstring); ``decode[condition]`` lists the alternative dir
    patterns (with ``{set}``), empty when the system was not run in that condition."""

    id: str
    lm: str
    method: str
    bits: str
    model: str
    parent: str
    decode: dict[str, list[str]]


@dataclass(frozen=True)
class WerPoint:
    """One ``wer_LMWT_WIP`` file: its %WER as printed, errors and reference words."""

    wer: float
    errors: int
    words: int


@dataclass(frozen=True)
class Choice:
    """A system's tuned setting on one set: the decode dir, LMWT, WIP and the WER there."""

    decode_dir: str
    lmwt: int
    wip: str
    point: WerPoint

    def hyp(self) -> Path:
        return decode_dir_hyp(self.decode_dir, self.lmwt, self.wip)

    def ref(self) -> Path:
        return Path(self.decode_dir) / "scoring_kaldi" / "test_filt.txt"


@dataclass
class Cell:
    """A system's result on one set in one condition."""

    choice: Choice
    vs_baseline: Optional[MapssweResult] = None  # this system as system 1
    vs_parent: Optional[MapssweResult] = None

    def marks(self, alpha: float = ALPHA) -> str:
        m = ""
        if self.vs_baseline is not None and self.vs_baseline.significant(alpha):
            m += "+" if self.vs_baseline.mean < 0 else "-"
        if self.vs_parent is not None:
            if not self.vs_parent.significant(alpha):
                m += "*"
            else:
                m += "<" if self.vs_parent.mean < 0 else ">"
        return m


@dataclass
class Row:
    """A system with its report figures (None for an n-gram) and ``cells[condition][set]``."""

    system: System
    ppl: Optional[float] = None
    bits: str = "-"
    size_mb: Optional[float] = None
    compression: Optional[float] = None
    ms_per_word: Optional[float] = None
    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)


@dataclass
class ResultsTable:
    conditions: list[str]
    sets: list[str]
    tune_set: str
    baseline: str
    alpha: float
    rows: list[Row]


def read_systems(path: Pathlike) -> tuple[list[str], list[System]]:
    """The conditions (header columns after the fixed ones) and the systems of a systems file.

    Raises:
        ConfigError: a bad header, a line with the wrong number of fields, a repeated id, a parent that
            is not an earlier id, or a condition pattern without ``{set}``.
    """
    header: Optional[list[str]] = None
    systems: list[System] = []
    seen: set[str] = set()
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the systems file ({e.strerror})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        if header is None:
            if tuple(fields[:len(FIXED_COLUMNS)]) != FIXED_COLUMNS or len(fields) == len(FIXED_COLUMNS):
                raise ConfigError(f"{path}:{n}: the header must be {' '.join(FIXED_COLUMNS)} then one column per "
                                  f"condition, got: {line.strip()}")
            header = fields
            continue
        if len(fields) != len(header):
            raise ConfigError(f"{path}:{n}: {len(fields)} fields, the header has {len(header)}")
        sid = fields[0]
        if sid in seen:
            raise ConfigError(f"{path}:{n}: system id {sid!r} repeated")
        parent = fields[5]
        if parent != "-" and parent not in seen:
            raise ConfigError(f"{path}:{n}: parent {parent!r} of {sid!r} is not an earlier system id")
        decode = {}
        for cond, cell in zip(header[len(FIXED_COLUMNS):], fields[len(FIXED_COLUMNS):]):
            pats = [] if cell == "-" else [p for p in cell.split(",") if p]
            for p in pats:
                if "{set}" not in p:
                    raise ConfigError(f"{path}:{n}: decode dir {p!r} of {sid!r} ({cond}) lacks '{{set}}'")
            decode[cond] = pats
        seen.add(sid)
        systems.append(System(sid, fields[1], fields[2], fields[3], fields[4], parent, decode))
    if header is None or not systems:
        raise ConfigError(f"{path}: no systems (a header line and at least one system are needed)")
    return header[len(FIXED_COLUMNS):], systems


def read_sweep(decode_dir: Pathlike) -> dict[tuple[int, str], WerPoint]:
    """Every ``wer_LMWT_WIP`` of a scored decode dir, in Kaldi's order (LMWT, then WIP, ascending).

    Raises:
        ScoringError: the dir has no such file, or one without a %WER line.
    """
    d = Path(decode_dir)
    found = []
    for p in d.glob("wer_*") if d.is_dir() else []:
        m = _WER_FILE.match(p.name)
        if not m:
            continue
        line = _WER_LINE.search(p.read_text(encoding="utf-8"))
        if line is None:
            raise ScoringError(f"{p}: no '%WER x [ errors / words' line")
        found.append(((int(m.group(1)), float(m.group(2))), (int(m.group(1)), m.group(2)),
                      WerPoint(float(line.group(1)), int(line.group(2)), int(line.group(3)))))
    if not found:
        raise ScoringError(f"{d}: no wer_LMWT_WIP files; score it first (kaldi-mpq score or local/score_kaldi.sh)")
    found.sort(key=lambda x: x[0])
    return {key: point for _, key, point in found}


def tune(patterns: Sequence[str], sets: Sequence[str], tune_set: str) -> dict[str, Choice]:
    """The (alternative, LMWT, WIP) with the lowest WER on ``tune_set``, applied to every set.

    Raises:
        ScoringError: a set's dir lacks a setting the tuning set has.
    """
    sweeps = {s: [read_sweep(p.format(set=s)) for p in patterns] for s in sets}
    flat = {s: {(i, k): v for i, sw in enumerate(sweeps[s]) for k, v in sw.items()} for s in sets}
    out = {}
    for s in sets:
        missing = set(flat[tune_set]) - set(flat[s])
        if missing:
            i, (lmwt, wip) = sorted(missing)[0]
            raise ScoringError(f"{patterns[i].format(set=s)}: no wer_{lmwt}_{wip}, which "
                               f"{patterns[i].format(set=tune_set)} has; score both the same way")
        best = tune_on_dev(flat[tune_set], {k: flat[s][k] for k in flat[tune_set]})["setting"]
        i, (lmwt, wip) = best
        out[s] = Choice(patterns[i].format(set=s), lmwt, wip, flat[s][best])
    return out


def _compare(a: Choice, b: Choice) -> MapssweResult:
    ref_a, ref_b = a.ref(), b.ref()
    if ref_a.read_bytes() != ref_b.read_bytes():
        raise ScoringError(f"{ref_a} and {ref_b} differ: the systems were not scored on the same references")
    return compare_texts(ref_a, a.hyp(), b.hyp())


def _report_rows(reports: Sequence[Pathlike]) -> dict[str, dict]:
    """Rows by model path of ``quant-report --json`` files (a JSON list, key ``path``) and ``eval-lm
    --json`` outputs (JSON lines, key ``lm``: perplexity only)."""
    rows: dict[str, dict] = {}
    for report in reports:
        try:
            content = Path(report).read_text(encoding="utf-8")
            data = json.loads(content) if content.lstrip().startswith("[") else \
                [json.loads(line) for line in content.splitlines() if line.strip()]
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"{report}: not a quant-report --json or eval-lm --json file ({e})") from None
        for r in data:
            key = r.get("path", r.get("lm")) if isinstance(r, dict) else None
            if key is None or "ppl" not in r:
                raise ConfigError(f"{report}: not a quant-report --json file (a list of rows with 'path') "
                                  "or eval-lm --json output (lines with 'lm' and 'ppl')")
            rows[str(Path(key))] = r
    return rows


def build_table(systems_file: Pathlike, sets: Sequence[str], tune_set: Optional[str] = None,
                report: Union[None, Pathlike, Sequence[Pathlike]] = None, baseline: Optional[str] = None,
                alpha: float = ALPHA) -> ResultsTable:
    """Read, tune and test everything (module docstring).

    Raises:
        ConfigError: bad systems file, unknown baseline or tuning set, a model directory missing from
            the report.
        ScoringError: a decode dir not scored, systems scored on different references.
    """
    conditions, systems = read_systems(systems_file)
    sets = list(sets)
    tune_set = tune_set or sets[0]
    if tune_set not in sets:
        sets = [tune_set] + sets
    ids = [s.id for s in systems]
    baseline = baseline or ids[0]
    if baseline not in ids:
        raise ConfigError(f"{systems_file}: baseline {baseline!r} is not a system id ({', '.join(ids)})")
    reports = [] if report is None else [report] if isinstance(report, (str, Path)) else list(report)
    rep = _report_rows(reports)
    rows: dict[str, Row] = {}
    for s in systems:
        row = Row(s, bits=s.bits)
        if s.model != "-":
            r = rep.get(str(Path(s.model)))
            if r is None and reports and Path(s.model).is_dir():
                raise ConfigError(f"{systems_file}: model {s.model} of {s.id} is not in the report(s) "
                                  f"{', '.join(map(str, reports))}; give quant-report the same path")
            if r is not None:
                row.ppl = float(r["ppl"])
                if "size_mb" in r:  # quant-report; eval-lm rows (n-grams) have the perplexity only
                    row.size_mb = float(r["size_mb"])
                    row.compression, row.ms_per_word = float(r["compression"]), float(r["ms_per_word"])
                if s.bits == "-" and "bits" in r:
                    row.bits = str(r["bits"])
        for cond in conditions:
            if s.decode[cond]:
                row.cells[cond] = {k: Cell(c) for k, c in tune(s.decode[cond], sets, tune_set).items()}
        rows[s.id] = row
    for cond in conditions:
        base = rows[baseline].cells.get(cond)
        for row in rows.values():
            cells = row.cells.get(cond)
            if not cells:
                continue
            parent = rows[row.system.parent].cells.get(cond) if row.system.parent != "-" else None
            for st, cell in cells.items():
                if base is not None and row.system.id != baseline:
                    cell.vs_baseline = _compare(cell.choice, base[st].choice)
                if parent is not None:
                    cell.vs_parent = _compare(cell.choice, parent[st].choice)
    return ResultsTable(conditions, sets, tune_set, baseline, alpha, list(rows.values()))


def _num(x: Optional[float], fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _wer(row: Row, cond: str, st: str, alpha: float) -> str:
    cell = row.cells.get(cond, {}).get(st)
    return "-" if cell is None else f"{cell.choice.point.wer:.2f}{cell.marks(alpha)}"


def table_cells(t: ResultsTable, condition: Optional[str] = None) -> tuple[list[str], list[list[str]]]:
    """Header and body of the main table (one condition, default the first): ID, LM, method, #bit, PPL,
    WER per set, size, compression, ms/word."""
    cond = condition or t.conditions[0]
    head = ["ID", "LM", "method", "#bit", "PPL"] + [f"{s} WER" for s in t.sets] + \
        ["size (MB)", "comp. ratio", "ms/word"]
    body = []
    for i, r in enumerate(t.rows):
        body.append([str(i), r.system.lm, r.system.method, r.bits, _num(r.ppl, ".2f")]
                    + [_wer(r, cond, s, t.alpha) for s in t.sets]
                    + [_num(r.size_mb, ".3f"), _num(r.compression, ".1f"), _num(r.ms_per_word, ".4f")])
    return head, body


def condition_cells(t: ResultsTable) -> tuple[list[str], list[list[str]]]:
    """Header and body of the WER of every condition on every set that is not the tuning set."""
    sets = [s for s in t.sets if s != t.tune_set] or t.sets
    head = ["ID", "system"] + [f"{c} {s}" for c in t.conditions for s in sets]
    body = [[str(i), r.system.id] + [_wer(r, c, s, t.alpha) for c in t.conditions for s in sets]
            for i, r in enumerate(t.rows)]
    return head, body


def footnote(t: ResultsTable) -> str:
    return (f"WER (%): LMWT and WIP{' and the decode alternative' if any(len(p) > 1 for r in t.rows for p in r.system.decode.values()) else ''} "
            f"tuned on {t.tune_set}, applied to the other sets. Significance: MAPSSWE, two-sided, "
            f"alpha = {t.alpha:g}. '+' / '-': significantly lower / higher WER than {t.baseline}; "
            f"'*': no significant difference from the system's fp32 parent; '>' / '<': significantly higher / "
            f"lower than the parent.")


def markdown(head: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body]) + "\n"


def aligned(head: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *body]) + "\n"


def to_json(t: ResultsTable) -> dict:
    """Everything the tables show, with the tuned settings and p-values."""
    def test(res: Optional[MapssweResult]):
        return None if res is None else {"p_value": res.p_value, "z": res.z, "mean": res.mean,
                                         "errors": [res.errors1, res.errors2], "segments": res.num_segments}

    return {
        "sets": t.sets, "tune_set": t.tune_set, "baseline": t.baseline, "alpha": t.alpha,
        "conditions": t.conditions,
        "rows": [{
            "id": r.system.id, "lm": r.system.lm, "method": r.system.method, "bits": r.bits,
            "model": r.system.model, "parent": r.system.parent, "ppl": r.ppl, "size_mb": r.size_mb,
            "compression": r.compression, "ms_per_word": r.ms_per_word,
            "results": {c: {s: {"wer": cell.choice.point.wer, "errors": cell.choice.point.errors,
                                "words": cell.choice.point.words, "decode_dir": cell.choice.decode_dir,
                                "lmwt": cell.choice.lmwt, "wip": cell.choice.wip,
                                "marks": cell.marks(t.alpha), "vs_baseline": test(cell.vs_baseline),
                                "vs_parent": test(cell.vs_parent)}
                            for s, cell in cells.items()} for c, cells in r.cells.items()},
        } for r in t.rows],
    }


def write_outputs(t: ResultsTable, markdown_path: Optional[Pathlike] = None, text_path: Optional[Pathlike] = None,
                  json_path: Optional[Pathlike] = None, title: str = "Results") -> str:
    """Write the markdown (main table, the per-condition table, footnote), the aligned text table and the
    JSON, each atomically; returns the text table."""
    head, body = table_cells(t)
    chead, cbody = condition_cells(t)
    note = footnote(t)
    text = (f"{title} ({t.conditions[0]})\n" + aligned(head, body) + "\n"
            + "WER of every condition\n" + aligned(chead, cbody) + "\n" + note + "\n")
    if markdown_path:
        md = (f"# {title}\n\n## Main table ({t.conditions[0]})\n\n" + markdown(head, body) + "\n"
              + "## Every condition\n\n" + markdown(chead, cbody) + "\n" + note + "\n")
        with atomic_write(markdown_path) as f:
            f.write(md)
    if text_path:
        with atomic_write(text_path) as f:
            f.write(text)
    if json_path:
        with atomic_write(json_path) as f:
            json.dump(to_json(t), f, indent=1)
            f.write("\n")
    return text


def plot_wer_vs_size(t: ResultsTable, st: str, path: Pathlike, condition: Optional[str] = None) -> None:
    """``st``'s WER against model size (log scale), one series per LM and method, the baseline as a
    horizontal line: where each method trades size for WER."""
    from kaldi_mpq.quant.plots import pyplot, save_figure

    plt = pyplot()
    cond = condition or t.conditions[0]
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    series: dict[tuple[str, str], list[tuple[float, float, str]]] = {}
    for r in t.rows:
        cell = r.cells.get(cond, {}).get(st)
        if cell is None:
            continue
        if r.size_mb is None:
            ax.axhline(cell.choice.point.wer, color="k", linestyle=":", linewidth=1, label=r.system.lm)
            continue
        series.setdefault((r.system.lm, r.system.method), []).append((r.size_mb, cell.choice.point.wer, r.bits))
    lms = list(dict.fromkeys(k[0] for k in series))
    methods = list(dict.fromkeys(k[1] for k in series))
    for (lm, method), pts in series.items():
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="os^Dv<>p*h"[methods.index(method) % 10],
                color=f"C{methods.index(method) % 10}", linestyle=("-", "--", ":", "-.")[lms.index(lm) % 4],
                label=f"{lm}: {method}")
        for x, y, b in pts:
            ax.annotate(b, (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("model size (MB, log scale)")
    ax.set_ylabel(f"{st} WER (%)")
    ax.set_title(f"{st} WER vs size ({cond}; labels: bits)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_figure(fig, path)
