"""File-level mixed-precision tasks behind ``kaldi-mpq sensitivity`` and ``kaldi-mpq allocate``.

``sensitivity``: prototypes (trained into ``--prototypes`` or loaded from it), then the KL and Hessian
tables of every cluster x bit-width into an output directory::

    kl.yaml kl.tsv                      KL sensitivity
    hessian_avg.yaml hessian_avg.tsv    Tr(H_c)/|c| * ||Q_n(W_c) - W_c||^2  (paper 2, HAWQ-V2)
    hessian.yaml hessian.tsv            Tr(H_c) * ||Q_n(W_c) - W_c||^2      (paper 1 as printed)
    hessian_diag.yaml hessian_diag.tsv  sum_i H_ii (Q_n(W_c) - W_c)_i^2     (per-weight curvature; best on PTB)

``allocate``: one table and a budget -> ``plan.yaml`` (with the choice in its ``metadata``) and the
whole Pareto front ``pareto.tsv``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Optional, Sequence

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.fileio import Pathlike
from kaldi_mpq.quant.allocate import Allocation, allocate, pareto_front, write_pareto
from kaldi_mpq.quant.prototypes import Prototypes, load_prototypes, save_prototypes, train_prototypes
from kaldi_mpq.quant.sensitivity import HESSIAN_METRICS, SensitivityTable, hessian_sensitivity, \
    hutchinson_traces, kl_sensitivity, sensitivity_batch

logger = logging.getLogger(__name__)

METRIC_CHOICES = ("kl", "hessian", "all")


@dataclasses.dataclass
class SensitivityOptions:
    """What ``kaldi-mpq sensitivity`` measures: ``metrics`` (kl | hessian | all), ``sentences`` in the
    mini-batch (paper: 32) drawn with ``seed``, Hutchinson ``probes`` / ``distribution`` / ``tol``."""

    metrics: str = "all"
    sentences: int = 32
    seed: int = 0
    probes: int = 50
    distribution: str = "gaussian"
    tol: float = 1e-3


def get_prototypes(lm_dir: Pathlike, proto_dir: Pathlike, train: Optional[Pathlike], valid: Optional[Pathlike],
                   bits: Sequence[int], method: str, granularity: str, bias: str,
                   word_band_edges: Optional[Sequence[int]] = None, **config) -> Prototypes:
    """Load ``proto_dir`` if it holds prototypes of this cluster layout, else train them from ``lm_dir``
    and save them there (``word_band_edges``: frequency bands of the words of ``train``,
    :func:`~kaldi_mpq.quant.pipeline.word_bands_of_text`).

    Raises:
        ConfigError: ``proto_dir`` holds prototypes of another granularity, bias mode or word bands.
    """
    from kaldi_mpq.quant.pipeline import load_for_training, word_bands_of_text

    if (Path(proto_dir) / "prototypes.yaml").is_file():
        logger.info("%s: loading prototypes", proto_dir)
        protos = load_prototypes(proto_dir)
        _check_layout(protos, proto_dir, granularity, bias, word_band_edges)
        return protos
    trained = method != "ptq"
    if trained and not (train and valid):
        raise ConfigError(f"training {method} prototypes needs --train and --valid")
    _, symbols, module, tcfg, data, train_ids = load_for_training(lm_dir, train, valid if trained else None)
    if word_band_edges:
        config["word_bands"] = word_bands_of_text(train, symbols, word_band_edges, train_ids)
    if trained:
        config.setdefault("loss_reduction", tcfg.loss_reduction)
        config.setdefault("clip", tcfg.clip)
    protos = train_prototypes(module, data, bits, method, granularity, bias, seed=tcfg.seed, **config)
    protos.metadata["source"] = str(lm_dir)
    save_prototypes(protos, proto_dir)
    return protos


def _check_layout(protos: Prototypes, proto_dir: Pathlike, granularity: str, bias: str,
                  word_band_edges: Optional[Sequence[int]]) -> None:
    from kaldi_mpq.quant.clusters import normalize_granularity

    base = protos.plan_base
    edges = None if base.word_bands is None else base.word_bands.edges()
    if (base.granularity, base.bias, edges) != (normalize_granularity(granularity), bias, word_band_edges or None):
        want = f"{granularity}/{bias}" + (f", word bands {','.join(map(str, word_band_edges))}" if word_band_edges else "")
        have = f"{base.granularity}/{base.bias}" + (f", word bands {','.join(map(str, edges))}" if edges else "")
        raise ConfigError(f"{proto_dir}: holds prototypes of layout {have}, not the {want} asked for "
                          "(another --prototypes directory, or remove it to train anew)")


def sensitivity_files(lm_dir: Pathlike, protos: Prototypes, text: Pathlike, out_dir: Pathlike,
                      options: SensitivityOptions = SensitivityOptions()) -> list[SensitivityTable]:
    """Measure the tables on ``options.sentences`` sentences of ``text`` and write them to ``out_dir``."""
    from kaldi_mpq.lm.checkpoint import load_module, read_config, read_words
    from kaldi_mpq.lm.pipeline import read_ids

    ckpt = read_config(lm_dir)
    symbols = read_words(lm_dir)
    module = load_module(lm_dir, ckpt, symbols)
    sentences = read_ids(text, symbols)[0]
    batch = sensitivity_batch(sentences, symbols.bos_id, symbols.eos_id, options.sentences, options.seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = []
    if options.metrics in ("kl", "all"):
        tables.append(kl_sensitivity(module, protos, batch))
    if options.metrics in ("hessian", "all"):
        traces = hutchinson_traces(module, protos.cmap, batch, probes=options.probes,
                                   distribution=options.distribution, tol=options.tol, seed=options.seed)
        logger.info("Hutchinson: %d probes, %.1f s", traces.probes, traces.seconds)
        for metric in HESSIAN_METRICS:
            tables.append(hessian_sensitivity(module, protos, batch, metric=metric, traces=traces))
    for t in tables:
        t.info.update(prototypes_method=protos.method, prototypes=dict(protos.metadata.get("methods") or {}))
        t.write(out_dir / f"{t.metric}.yaml", out_dir / f"{t.metric}.tsv")
        logger.info("wrote %s", out_dir / f"{t.metric}.yaml")
    return tables


def allocate_files(table_path: Pathlike, budget: float, kind: str, out_dir: Pathlike, solver: str = "dp",
                   bits: Optional[Sequence[int]] = None, prototypes: Optional[str] = None) -> Allocation:
    """``out_dir/plan.yaml`` (least summed sensitivity within the budget) and ``out_dir/pareto.tsv``."""
    table = SensitivityTable.read(table_path)
    chosen = allocate(table, budget, kind, solver, bits)
    meta = {"sensitivity_table": str(table_path)}
    if prototypes:
        meta["prototypes"] = prototypes
    meta["prototype_methods"] = table.info.get("prototypes", {})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen.plan(table, **meta).write(out_dir / "plan.yaml")
    write_pareto(pareto_front(table, kind, bits), out_dir / "pareto.tsv")
    return chosen
