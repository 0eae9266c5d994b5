"""File-level quantization tasks behind ``kaldi-mpq quantize`` and ``quant-report``."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
from torch import nn

from kaldi_mpq.errors import CheckpointError, ConfigError
from kaldi_mpq.fileio import Pathlike
from kaldi_mpq.quant.api import QuantConfig, QuantResult, TrainingData, quantize_
from kaldi_mpq.quant.packed import PACKED_FILE, file_sizes, save_packed
from kaldi_mpq.quant.plan import Plan
from kaldi_mpq.quant.training import TrainedConfig

logger = logging.getLogger(__name__)


def train_config_of(ckpt: dict, batching: Optional[str] = None, batch_size: Optional[int] = None,
                    bptt: Optional[int] = None):
    """The checkpoint's :class:`~kaldi_mpq.lm.train.TrainConfig` with the given overrides."""
    from kaldi_mpq.lm.train import TrainConfig

    d = dict(ckpt.get("train") or {})
    for key, value in (("batching", batching), ("batch_size", batch_size), ("bptt", bptt)):
        if value is not None:
            d[key] = value
    if d.get("batching") == "sentence" and batch_size is not None:
        d["max_tokens"] = None  # the batch size asked for, not the training token cap
    return TrainConfig.from_dict(d)


def word_bands_of_text(train: Optional[Pathlike], symbols, edges: Sequence[int], sentences=None):
    """:class:`~kaldi_mpq.quant.clusters.WordBands` with ``edges`` from the word counts of the training
    text ``train`` (or of its id ``sentences``, already read)."""
    from kaldi_mpq.lm.pipeline import read_ids
    from kaldi_mpq.quant.clusters import WordBands

    if train is None:
        raise ConfigError("word bands need --train (the word counts)")
    if sentences is None:
        sentences = read_ids(train, symbols)[0]
    bands = WordBands.from_sentences(sentences, symbols, edges)
    logger.info("word bands %s of %s: %s words", list(edges), train, bands.sizes())
    return bands


def load_for_training(lm_dir: Pathlike, train: Optional[Pathlike] = None, valid: Optional[Pathlike] = None,
                      batching: Optional[str] = None, batch_size: Optional[int] = None, bptt: Optional[int] = None):
    """``(checkpoint config, symbols, module, TrainConfig, TrainingData or None, train id sentences or
    None)`` of a float checkpoint, with batches made the way the model was trained
    (:func:`train_config_of`); no data (and the training text is not read) without ``valid``."""
    from kaldi_mpq.lm.checkpoint import load_module, read_config, read_words
    from kaldi_mpq.lm.pipeline import read_ids
    from kaldi_mpq.lm.train import make_batches

    ckpt = read_config(lm_dir)
    if ckpt.get("format", "float") != "float":
        raise CheckpointError(f"{lm_dir}: expected a float checkpoint, found format {ckpt.get('format')!r}")
    symbols = read_words(lm_dir)
    module = load_module(lm_dir, ckpt, symbols)
    tcfg = train_config_of(ckpt, batching, batch_size, bptt)
    data = train_ids = None
    if valid is not None:
        valid_b = make_batches(read_ids(valid, symbols)[0], symbols, tcfg, train=False)
        train_ids = read_ids(train, symbols)[0] if train else None
        train_b = make_batches(train_ids, symbols, tcfg, train=True) if train else []
        data = TrainingData(train_b, valid_b)
        logger.info("%s batches (%s): %d train, %d valid", tcfg.batching,
                    f"{tcfg.batch_size} rows x {tcfg.bptt} steps" if tcfg.batching == "stream"
                    else f"{tcfg.batch_size} sentences", len(train_b), len(valid_b))
    return ckpt, symbols, module, tcfg, data, train_ids


def quantize_files(
    lm_dir: Pathlike, out_dir: Pathlike, config: QuantConfig, train: Optional[Pathlike] = None,
    valid: Optional[Pathlike] = None, batching: Optional[str] = None, batch_size: Optional[int] = None,
    bptt: Optional[int] = None, loss_reduction: Optional[str] = None, clip: Optional[float] = None,
    init: Optional[Callable[[nn.Module, Plan], object]] = None, init_from: Optional[Pathlike] = None,
    word_band_edges: Optional[Sequence[int]] = None,
) -> QuantResult:
    """Quantize a float checkpoint with ``config`` and write the packed directory ``out_dir``.

    ADMM / BP / GQ train on ``train`` and select on ``valid`` the way the model was trained: batching,
    batch size, BPTT length, loss reduction and gradient clipping come from its ``config.yaml``
    ``train:`` section (:func:`train_config_of`; e.g. stream batches with the LSTM state carried over),
    each overridden by the argument of the same name when given. PTQ reports the validation perplexity
    when ``valid`` is given. ``init(module, plan)`` sets the starting weights before quantization, e.g.
    ``load_prototypes(dir).apply`` (each cluster inherits the prototype of its bit-width), which is
    what ``init_from`` (a prototypes directory, recorded in the packed model's metadata) does; a
    uniform plan then takes the prototypes' cluster layout (granularity, bias mode, word bands) unless
    ``config`` sets a granularity or bias. ``word_band_edges`` splits the embedding / output rows into
    frequency bands of the words of ``train`` (:meth:`~kaldi_mpq.quant.clusters.WordBands.from_sentences`).
    """
    if init is None and init_from is not None:
        from kaldi_mpq.quant.prototypes import load_prototypes

        protos = load_prototypes(init_from)
        init = protos.apply
        if set(config.plan.bits) <= {"_default"} and config.granularity is None and config.bias is None \
                and config.plan.word_bands is None:
            config.plan = protos.plan_base.with_bits(config.plan.bits, config.plan.source)
    ckpt, symbols, module, tcfg, data, train_ids = load_for_training(lm_dir, train, valid, batching, batch_size,
                                                                     bptt)
    if word_band_edges:
        config.plan = dataclasses.replace(
            config.plan, word_bands=word_bands_of_text(train, symbols, word_band_edges, train_ids))
    if isinstance(config, TrainedConfig):
        config = dataclasses.replace(
            config, loss_reduction=loss_reduction or tcfg.loss_reduction,
            clip=tcfg.clip if clip is None else clip)
        logger.info("loss %s, clip %g", config.loss_reduction, config.clip)
    if init is not None:
        init(module, config.plan)
    start = time.perf_counter()
    torch.manual_seed(tcfg.seed)  # dropout during ADMM / BP steps: the same run gives the same model
    result = quantize_(module, config, data)
    seconds = round(time.perf_counter() - start, 1)
    logger.info("%s: %s in %.1f s", out_dir, result.method, seconds)
    info = {"method": result.method, "source": str(lm_dir), "history": result.history}
    if init_from is not None:
        info["init_from"] = str(init_from)
    if isinstance(config, TrainedConfig):
        info.update(steps_per_iter=config.steps_per_iter, iterations=len(result.history) - 1,
                    batching=tcfg.batching, batch_size=tcfg.batch_size, loss_reduction=config.loss_reduction)
        if tcfg.batching == "stream":
            info["bptt"] = tcfg.bptt
    save_packed(out_dir, result.layout, result.alpha, result.codes, ckpt["model"], symbols, info,
                result.centroids, timing={"seconds": seconds})
    return result


def nas_files(lm_dir: Pathlike, prototypes, out_plan: Pathlike, config, train: Pathlike, valid: Pathlike,
              batching: Optional[str] = None, batch_size: Optional[int] = None, bptt: Optional[int] = None,
              bits=None):
    """Search a plan with MP-NAS (:func:`kaldi_mpq.quant.nas.search_plan`) from a float checkpoint and
    its prototypes; writes ``out_plan`` and, beside it, ``<name>.nas.yaml`` (average bits, history,
    per-cluster probabilities). The weights' loss reduction and clipping follow the model's training
    config unless ``config`` sets them."""
    from kaldi_mpq.quant.nas import search_plan, write_nas_report

    _, _, module, tcfg, data, _ = load_for_training(lm_dir, train, valid, batching, batch_size, bptt)
    config = dataclasses.replace(config, loss_reduction=config.loss_reduction or tcfg.loss_reduction,
                                 clip=tcfg.clip if config.clip is None else config.clip)
    torch.manual_seed(tcfg.seed)
    result = search_plan(module, prototypes, data, config, bits)
    out_plan = Path(out_plan)
    result.plan.write(out_plan)
    write_nas_report(result, out_plan.with_name(out_plan.stem + ".nas.yaml"))
    return result


@dataclass
class ReportRow:
    """One model of the report. ``size_ratio`` = file / ideal size; ``ms_per_word`` of sentence scoring;
    ``method``, ``budget`` (training iterations x steps), ``valid_ppl`` (the selected iteration's) and
    ``seconds`` (wall time of the quantization) of packed models as ``kaldi-mpq quantize`` recorded them."""

    name: str
    bits: str
    ppl: float
    size_mb: float
    compression: float
    size_ratio: float
    ms_per_word: float
    method: str = "fp32"
    budget: str = "-"
    valid_ppl: Optional[float] = None
    seconds: Optional[float] = None
    family: str = ""  # the float LM a packed model was made from (its directory name), or its own name


def _float_parameters(model_config: dict, symbols) -> int:
    """Parameters of the float model a packed one was made from (each tied tensor once, as in its fp32
    checkpoint); counted on a freshly built model, since int8 runtime modules hide their weights."""
    from kaldi_mpq.lm.checkpoint import build_model

    return sum(p.numel() for p in build_model(model_config, symbols).parameters())


def report_rows(lm_dirs: Sequence[Pathlike], text: Pathlike, runtime: str = "auto",
                batch_size: int = 64, timing_passes: int = 2) -> list[ReportRow]:
    """Evaluate each LM directory (float or packed) on ``text``. The compression ratio is each model's
    own fp32 size (4 bytes per parameter) over its file size, so the order of the list does not
    matter and models of different architectures can share one report. ``ms_per_word`` is the fastest
    of ``timing_passes`` passes over the text: a single pass made whichever model came first look
    up to 25% slower (process warm-up)."""
    import math

    from kaldi_mpq.lm.checkpoint import WEIGHTS_FILE, load_float_lm, read_config
    from kaldi_mpq.lm.evaluate import total_log_prob
    from kaldi_mpq.lm.pipeline import read_ids
    from kaldi_mpq.quant.runtime import load_packed

    rows: list[ReportRow] = []
    for d in map(Path, lm_dirs):
        cfg = read_config(d)
        packed = cfg.get("format") == "packed"
        lm = load_packed(d, runtime) if packed else load_float_lm(d, device="cpu")
        ids, _ = read_ids(text, lm.symbols)
        times = []
        for _ in range(max(1, timing_passes)):
            start = time.perf_counter()
            total, n = total_log_prob(lm, ids, batch_size)
            times.append(time.perf_counter() - start)
        secs = min(times)
        if packed:
            size, ideal = file_sizes(d)
            bits = f"{cfg['quant']['average_bits']:g}"
            fp32_bytes = 4 * _float_parameters(cfg["model"], lm.symbols)
        else:
            size = ideal = (d / WEIGHTS_FILE).stat().st_size
            bits = "32"
            fp32_bytes = size
        row = ReportRow(d.name, bits, math.exp(-total / max(n, 1)), size / 1e6, fp32_bytes / size, size / ideal,
                        1000 * secs / max(n, 1))
        row.family = d.name
        if packed:
            q = cfg["quant"]
            row.family = Path(str(q.get("source") or d.name)).name
            row.method = str(q.get("method", "?"))
            metric = _plan_metric(d)
            if metric:  # a mixed plan chosen by kaldi-mpq allocate: the method series is e.g. bp+kl
                row.method = f"{row.method}+{metric}"
            if "steps_per_iter" in q:
                row.budget = f"{q['iterations']}x{q['steps_per_iter']}"
            row.valid_ppl = min((h["valid_ppl"] for h in q.get("history") or []), default=None)
            row.seconds = _timing(d).get("seconds", q.get("seconds"))  # older dirs: in config.yaml
        rows.append(row)
    return rows


def _timing(packed_dir: Path) -> dict:
    """The packed directory's ``timing.yaml`` (wall-clock figures), or ``{}``."""
    import yaml

    from kaldi_mpq.quant.packed import TIMING_FILE

    try:
        return yaml.safe_load((packed_dir / TIMING_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}


def _plan_metric(packed_dir: Path) -> Optional[str]:
    """The sensitivity metric a packed model's plan was chosen by (``kaldi-mpq allocate``), if any."""
    import yaml

    from kaldi_mpq.quant.packed import PLAN_FILE

    try:
        meta = (yaml.safe_load((packed_dir / PLAN_FILE).read_text(encoding="utf-8")) or {}).get("metadata") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    return meta.get("metric")


def write_report_json(rows: Sequence[ReportRow], lm_dirs: Sequence[Pathlike], path: Pathlike) -> None:
    """Write ``rows`` (from :func:`report_rows` on ``lm_dirs``, in order) as a JSON list, atomically: each
    row's fields plus ``path``, the directory as given, so a later step can match rows to its models."""
    import json

    from kaldi_mpq.fileio import atomic_write

    if len(rows) != len(lm_dirs):
        raise ValueError(f"write_report_json: {len(rows)} rows for {len(lm_dirs)} directories")
    data = [{"path": str(d), **dataclasses.asdict(r)} for r, d in zip(rows, lm_dirs)]
    with atomic_write(path) as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def format_paper_table(rows: Sequence[ReportRow]) -> str:
    """The rows as paper 2's Table 2 (markdown): ID, precision / method, #bit, PPL, model size (MB),
    compression ratio, and the evaluation time per word."""
    lines = ["| ID | precision / method | #bit | PPL | model size (MB) | comp. ratio | ms/word |",
             "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        what = "full precision" if r.method == "fp32" else f"{r.method} ({r.name})"
        ratio = "-" if r.method == "fp32" else f"{r.compression:.1f}"
        lines.append(f"| {i} | {what} | {r.bits} | {r.ppl:.2f} | {r.size_mb:.3f} | {ratio} | {r.ms_per_word:.4f} |")
    return "\n".join(lines)


def format_report(rows: Sequence[ReportRow], markdown: bool = False) -> str:
    """The table as aligned text or a markdown table."""
    head = ["model", "method", "#bit", "iters x steps", "time (s)", "valid PPL", "PPL", "size (MB)",
            "comp. ratio", "size/ideal", "eval (ms/word)"]
    body = [[r.name, r.method, r.bits, r.budget, "-" if r.seconds is None else f"{r.seconds:.0f}",
             "-" if r.valid_ppl is None else f"{r.valid_ppl:.2f}",
             f"{r.ppl:.2f}", f"{r.size_mb:.3f}", f"{r.compression:.1f}", f"{r.size_ratio:.4f}",
             f"{r.ms_per_word:.4f}"] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in [head] + body)


def plot_bits_of(lm_dirs: Sequence[Pathlike], out_dir: Pathlike) -> list[Path]:
    """A bits-per-cluster plot (:func:`~kaldi_mpq.quant.plots.plot_plan_bits`) of every packed model in
    ``lm_dirs`` (float checkpoints are skipped), as ``out_dir/<name>.png``."""
    from kaldi_mpq.lm.checkpoint import build_model, read_config, read_words
    from kaldi_mpq.quant.layout import QuantLayout
    from kaldi_mpq.quant.packed import PLAN_FILE
    from kaldi_mpq.quant.plan import Plan
    from kaldi_mpq.quant.plots import plot_plan_bits

    written = []
    for d in map(Path, lm_dirs):
        cfg = read_config(d)
        if cfg.get("format") != "packed":
            continue
        layout = QuantLayout(build_model(cfg["model"], read_words(d)), Plan.read(d / PLAN_FILE))
        path = Path(out_dir) / f"{d.name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        plot_plan_bits(layout.cmap.names, layout.bits.tolist(), layout.cmap.cluster_sizes().tolist(), path,
                       title=f"{d.name}: bits per cluster")
        written.append(path)
    return written
