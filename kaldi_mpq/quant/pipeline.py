"""File-level quantization tasks behind ``kaldi-mpq quantize`` and ``quant-report``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from kaldi_mpq.errors import CheckpointError
from kaldi_mpq.fileio import Pathlike
from kaldi_mpq.quant.api import QuantConfig, QuantResult, TrainingData, quantize_
from kaldi_mpq.quant.packed import PACKED_FILE, save_packed

logger = logging.getLogger(__name__)


def quantize_files(
    lm_dir: Pathlike, out_dir: Pathlike, config: QuantConfig, train: Optional[Pathlike] = None,
    valid: Optional[Pathlike] = None, batch_size: int = 32, max_tokens: Optional[int] = 4096,
) -> QuantResult:
    """Quantize a float checkpoint with ``config`` (training on ``train``, selecting on ``valid``
    for ADMM / BP) and write the packed directory ``out_dir``."""
    from kaldi_mpq.lm.checkpoint import load_module, read_config, read_words
    from kaldi_mpq.lm.pipeline import read_ids
    from kaldi_mpq.text.batching import SentenceBatches

    ckpt = read_config(lm_dir)
    if ckpt.get("format", "float") != "float":
        raise CheckpointError(f"{lm_dir}: expected a float checkpoint, found format {ckpt.get('format')!r}")
    symbols = read_words(lm_dir)
    module = load_module(lm_dir, ckpt, symbols)
    data = None
    if train is not None and valid is not None:
        train_ids, _ = read_ids(train, symbols)
        valid_ids, _ = read_ids(valid, symbols)
        bos, eos = symbols.bos_id, symbols.eos_id
        data = TrainingData(
            SentenceBatches(train_ids, bos, eos, batch_size=batch_size, max_tokens=max_tokens, shuffle=True),
            SentenceBatches(valid_ids, bos, eos, batch_size=batch_size, max_tokens=max_tokens),
        )
    start = time.perf_counter()
    result = quantize_(module, config, data)
    info = {"method": result.method, "seconds": round(time.perf_counter() - start, 1),
            "source": str(lm_dir), "history": result.history}
    save_packed(out_dir, result.layout, result.alpha, result.codes, ckpt["model"], symbols, info)
    return result


@dataclass
class ReportRow:
    """One model of the report. ``size_ratio`` = file / ideal size; ``ms_per_word`` of sentence scoring."""

    name: str
    bits: str
    ppl: float
    size_mb: float
    compression: float
    size_ratio: float
    ms_per_word: float


def report_rows(lm_dirs: Sequence[Pathlike], text: Pathlike, runtime: str = "auto",
                batch_size: int = 64) -> list[ReportRow]:
    """Evaluate each LM directory (float or packed) on ``text``; compression is against the first
    float checkpoint in the list (else 32 bits x parameters)."""
    import math

    from kaldi_mpq.lm.checkpoint import WEIGHTS_FILE, load_lm, read_config
    from kaldi_mpq.lm.pipeline import read_ids
    from kaldi_mpq.quant.runtime import load_packed

    rows: list[ReportRow] = []
    fp32_bytes: Optional[int] = None
    for d in map(Path, lm_dirs):
        cfg = read_config(d)
        packed = cfg.get("format") == "packed"
        lm = load_packed(d, runtime) if packed else load_lm(d, device="cpu")
        ids, _ = read_ids(text, lm.symbols)
        start = time.perf_counter()
        total, n = 0.0, 0
        for i in range(0, len(ids), batch_size):
            for s in lm.score_sentences(ids[i:i + batch_size]):
                total += float(s.sum())
                n += len(s)
        secs = time.perf_counter() - start
        if packed:
            size = (d / PACKED_FILE).stat().st_size
            ideal = int(cfg["quant"]["ideal_bytes"])
            bits = f"{cfg['quant']['average_bits']:g}"
            nparams = sum(p.numel() for p in lm.module.parameters())
        else:
            size = ideal = (d / WEIGHTS_FILE).stat().st_size
            bits = "32"
            fp32_bytes = fp32_bytes or size
        ref = fp32_bytes or 4 * nparams
        rows.append(ReportRow(d.name, bits, math.exp(-total / max(n, 1)), size / 1e6, ref / size, size / ideal,
                              1000 * secs / max(n, 1)))
    return rows


def format_report(rows: Sequence[ReportRow], markdown: bool = False) -> str:
    """The table as aligned text or a markdown table."""
    head = ["model", "#bit", "PPL", "size (MB)", "comp. ratio", "size/ideal", "eval (ms/word)"]
    body = [[r.name, r.bits, f"{r.ppl:.2f}", f"{r.size_mb:.3f}", f"{r.compression:.1f}", f"{r.size_ratio:.4f}",
             f"{r.ms_per_word:.4f}"] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in [head] + body)
