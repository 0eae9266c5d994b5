"""Load any LM directory, float checkpoint or packed quantized model, as a
:class:`~kaldi_mpq.lm.interface.LanguageModel`: what every ``--lm`` option accepts.

This sits above both ``kaldi_mpq.lm`` (float checkpoints) and ``kaldi_mpq.quant`` (packed models),
so neither needs the other to load. The directory's ``config.yaml`` names its ``format``; each format
has a loader ``fn(dir, config, symbols, device) -> LanguageModel``. ``float`` and ``packed`` are built
in; :func:`register_loader` adds others.

Example::

    lm = load_lm("exp/lm/lstm_admm2", words="data/lang/words.txt", device="cpu")
    logprobs = lm.score_sentences([[12, 7, 99]])
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Union

import torch

from kaldi_mpq.errors import CheckpointError, ConfigError
from kaldi_mpq.fileio import Pathlike
from kaldi_mpq.lm.checkpoint import CONFIG_FILE, load_float, open_checkpoint
from kaldi_mpq.lm.interface import LanguageModel
from kaldi_mpq.quant.runtime import load_packed
from kaldi_mpq.text.symbols import SymbolTable

Loader = Callable[[Path, dict, SymbolTable, Optional[torch.device]], LanguageModel]


def _load_packed(ckpt_dir: Path, config: dict, symbols: SymbolTable, device: Optional[torch.device]):
    return load_packed(ckpt_dir, str(config.get("runtime", "auto")), device, config, symbols)


_LOADERS: dict[str, Loader] = {"float": load_float, "packed": _load_packed}


def register_loader(format_name: str) -> Callable[[Loader], Loader]:
    """Register ``fn(dir, config, symbols, device) -> LanguageModel`` for LM directories whose
    ``config.yaml`` says ``format: <format_name>``."""

    def deco(fn: Loader) -> Loader:
        _LOADERS[format_name] = fn
        return fn

    return deco


def load_lm(
    ckpt_dir: Pathlike,
    words: Union[None, Pathlike, SymbolTable] = None,
    device: Optional[Union[str, torch.device]] = None,
) -> LanguageModel:
    """Load an LM directory of any format (a packed model in its ``auto`` runtime).

    Args:
        ckpt_dir: the directory, or an n-gram LM file (ARPA, gzip'd ARPA, ``G.fst``, ``G.carpa``).
        words: a lang dir's ``words.txt`` (path or table) the LM must agree with, or ``None``.
        device: ``cpu``, ``cuda``... (default: CUDA when present).

    Raises:
        SymbolTableError: "word lists mismatch: id N is 'A' in X but 'B' in Y".
        CheckpointError: a missing or corrupt file (named), or an unknown ``format``.
    """
    ckpt_dir = Path(ckpt_dir)
    if ckpt_dir.is_file():  # an n-gram LM file (ARPA, .gz, G.fst, G.carpa) rescores on its own too
        if words is None:
            raise ConfigError(f"{ckpt_dir}: an n-gram LM file needs the lang dir's words.txt (--words)")
        from kaldi_mpq.ngram.load import load_ngram_lm

        return load_ngram_lm(ckpt_dir, words)
    config, symbols = open_checkpoint(ckpt_dir, words)
    fmt = str(config.get("format", "float"))
    if fmt not in _LOADERS:
        raise CheckpointError(f"{ckpt_dir / CONFIG_FILE}: unknown checkpoint format {fmt!r}")
    dev = torch.device(device) if device is not None else None
    return _LOADERS[fmt](ckpt_dir, config, symbols, dev)
