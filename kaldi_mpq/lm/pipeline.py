"""File-level LM tasks behind ``kaldi-mpq train-lm`` and ``eval-lm``: read text, map to ids, train or
evaluate, write the checkpoint."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import torch

from kaldi_mpq.errors import ConfigError, TrainingError
from kaldi_mpq.fileio import Pathlike
from kaldi_mpq.lm.checkpoint import CONFIG_FILE, build_model, load_float_lm, read_config
from kaldi_mpq.lm.distributed import torchrun_process_group
from kaldi_mpq.lm.evaluate import PerplexityResult, evaluate_perplexity, total_log_prob
from kaldi_mpq.lm.loss import is_recurrent
from kaldi_mpq.lm.neural import NeuralLM
from kaldi_mpq.lm.train import TrainConfig, TrainResult, make_batches, train_lm
from kaldi_mpq.text.batching import SentenceBatches, StreamBatches, WindowBatches
from kaldi_mpq.text.corpus import read_sentences
from kaldi_mpq.text.symbols import DEFAULT_UNK, SymbolTable
from kaldi_mpq.text.vocab import OovStats, build_vocab, count_words, oov_stats, sentences_to_ids

logger = logging.getLogger(__name__)


@dataclass
class TextOptions:
    """How text files are read: ``format`` and ``normalize`` of :func:`kaldi_mpq.text.corpus.read_sentences`."""

    format: str = "auto"
    normalize: str = "none"


def read_ids(path: Pathlike, symbols: SymbolTable, text: TextOptions = TextOptions()):
    """``(id sentences, OovStats)`` of a text file."""
    sentences = read_sentences(path, format=text.format, normalize=text.normalize)
    return sentences_to_ids(sentences, symbols), oov_stats(sentences, symbols)


def train_lm_files(
    config: dict,
    train: Pathlike,
    valid: Pathlike,
    out_dir: Pathlike,
    words: Union[None, Pathlike, SymbolTable] = None,
    unk: str = DEFAULT_UNK,
    text: TextOptions = TextOptions(),
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train the LM of ``config`` (``model`` + ``train`` sections) on text files into ``out_dir``.

    Without ``words`` the vocabulary is every word of the training text (plus ``unk``). Launched by
    ``torchrun`` (``WORLD_SIZE`` > 1), the processes train data-parallel (:mod:`kaldi_mpq.lm.distributed`).

    Raises:
        ConfigError: bad config, or ``resume`` with a config that differs from the checkpoint's.
        TextFormatError / SymbolTableError: bad text or word list.
        TrainingError: NaN loss (the message names the training file).
    """
    tcfg = TrainConfig.from_dict(config.get("train", {}))
    with torchrun_process_group(tcfg.device) as parallel:
        train_sents = read_sentences(train, format=text.format, normalize=text.normalize)
        if words is None:
            symbols = build_vocab(count_words(train_sents), unk=unk, source=str(train))
        elif isinstance(words, SymbolTable):
            symbols = words
        else:
            symbols = SymbolTable.read(words, unk=unk)
        valid_ids, valid_oov = read_ids(valid, symbols, text)
        train_ids = sentences_to_ids(train_sents, symbols)
        logger.info("vocabulary %d ids; train OOV rate %.2f%%, valid OOV rate %.2f%%", symbols.size,
                    100 * oov_stats(train_sents, symbols).oov_rate, 100 * valid_oov.oov_rate)
        if resume:
            saved = read_config(out_dir)
            if saved.get("model") != config["model"] or saved.get("train") != tcfg.to_dict():
                raise ConfigError(f"--resume: config differs from {Path(out_dir) / CONFIG_FILE}")
        torch.manual_seed(tcfg.seed)
        module = build_model(config["model"], symbols)
        logger.info("%s LM with %.2f M parameters on %s%s", config["model"]["type"],
                    sum(p.numel() for p in module.parameters()) / 1e6, parallel.device,
                    f" (rank 0 of {parallel.world_size})" if parallel.enabled else "")
        train_b = make_batches(train_ids, symbols, tcfg, train=True)
        valid_b = make_batches(valid_ids, symbols, tcfg, train=False)
        try:
            return train_lm(module, train_b, valid_b, tcfg, out_dir=out_dir, symbols=symbols,
                            model_config=config["model"], resume=resume, progress=progress)
        except TrainingError as e:
            raise TrainingError(f"{train}: {e}") from None


@dataclass
class EvalReport:
    """Result of :func:`eval_lm_files`: perplexity, OOV statistics and speed (words/s counts words
    and ``</s>``)."""

    lm: str
    text: str
    ppl: float
    tokens: int
    oov: OovStats
    seconds: float
    mode: str
    model_type: str = ""
    parameters: int = 0

    @property
    def words_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict:
        return {"lm": self.lm, "type": self.model_type, "params": self.parameters, "text": self.text,
                "mode": self.mode, "ppl": round(self.ppl, 3), "tokens": self.tokens,
                "oov_rate": round(self.oov.oov_rate, 5), "oov_types": self.oov.oov_types,
                "words_per_sec": round(self.words_per_second, 1)}


def _eval_ngram(lm, path: Pathlike, text_path: Pathlike, text: TextOptions, mode: str,
                batch_size: int) -> EvalReport:
    """Sentence-mode perplexity of any other :class:`LanguageModel` (an n-gram LM file), counted as for
    the neural LMs (words and ``</s>``, out-of-vocabulary words as the unknown word), so that a results
    table can put the first-pass n-gram's perplexity beside theirs."""
    if mode != "sentence":
        raise ConfigError(f"{path}: an n-gram LM is evaluated in sentence mode only (got --mode {mode})")
    ids, oov = read_ids(text_path, lm.symbols, text)
    start = time.perf_counter()
    total, tokens = total_log_prob(lm, ids, batch_size)
    return EvalReport(str(path), str(text_path), math.exp(-total / max(tokens, 1)), tokens, oov,
                      time.perf_counter() - start, mode, model_type="ngram")


def results_table(reports: Sequence[EvalReport], markdown: bool = False) -> str:
    """A table of LM, type, parameters, mode, perplexity, OOV rate and speed (plain text or Markdown)::

        | LM        | type | params | mode     |    PPL | OOV % | words/s |
        |-----------|------|--------|----------|--------|-------|---------|
        | exp/lstm  | lstm | 0.30 M | sentence | 112.40 |  2.31 |   51234 |
    """
    head = ["LM", "type", "params", "mode", "PPL", "OOV %", "words/s"]
    rows = [[r.lm, r.model_type, f"{r.parameters / 1e6:.2f} M", r.mode, f"{r.ppl:.2f}",
             f"{100 * r.oov.oov_rate:.2f}", f"{r.words_per_second:.0f}"] for r in reports]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    right = {4, 5, 6}

    def fmt(cells):
        return [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]

    if markdown:
        lines = ["| " + " | ".join(fmt(head)) + " |", "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        lines += ["| " + " | ".join(fmt(r)) + " |" for r in rows]
    else:
        lines = ["  ".join(fmt(head)), "  ".join("-" * w for w in widths)] + ["  ".join(fmt(r)) for r in rows]
    return "\n".join(lines)


def eval_lm_files(
    lm_dir: Pathlike,
    text_path: Pathlike,
    words: Optional[Pathlike] = None,
    mode: str = "sentence",
    batch_size: int = 64,
    bptt: Optional[int] = None,
    text: TextOptions = TextOptions(),
    device: Optional[str] = None,
    load: Callable[..., NeuralLM] = load_float_lm,
) -> EvalReport:
    """Perplexity of a checkpoint on a text file.

    Args:
        mode: ``sentence`` (each sentence from ``<s>``: what rescoring sees) or ``stream`` (the text as
            one history; LSTMs carry their state over ``bptt``-token chunks, Transformers score the text
            with sliding windows of ``bptt`` tokens -- the context length they were trained with --
            advancing half a window at a time).
        bptt: stream chunk length (default: the checkpoint's training ``bptt``).
        load: ``load(lm_dir, words=, device=)`` -> the LM; float checkpoints by default, and
            ``kaldi-mpq eval-lm`` passes :func:`kaldi_mpq.lm_loading.load_lm` for packed models too.
    """
    if mode not in ("sentence", "stream"):
        raise ConfigError(f"mode must be sentence or stream, got {mode!r}")
    lm = load(lm_dir, words=words, device=device)
    if not isinstance(lm, NeuralLM):
        return _eval_ngram(lm, lm_dir, text_path, text, mode, batch_size)
    ids, oov = read_ids(text_path, lm.symbols, text)
    sym = lm.symbols
    if mode == "sentence":
        batches = SentenceBatches(ids, sym.bos_id, sym.eos_id, batch_size=batch_size, max_tokens=lm.max_tokens)
    else:
        if bptt is None:
            bptt = int(read_config(lm_dir).get("train", {}).get("bptt", 35))
        if is_recurrent(lm.module):  # recurrent: one history, state carried
            batches = StreamBatches(ids, sym.bos_id, sym.eos_id, batch_size=1, bptt=bptt)
        else:  # sliding windows of the trained context length (bptt), advancing half a window at a time
            window = min(bptt, int(getattr(lm.module, "max_len", bptt)))
            batches = WindowBatches(ids, sym.bos_id, sym.eos_id, window=window, stride=max(1, window // 2))
    start = time.perf_counter()
    res: PerplexityResult = evaluate_perplexity(lm, batches)
    return EvalReport(str(lm_dir), str(text_path), res.ppl, res.tokens, oov, time.perf_counter() - start, mode,
                      model_type=read_config(lm_dir)["model"].get("type", ""),
                      parameters=sum(p.numel() for p in set(lm.module.parameters())))
