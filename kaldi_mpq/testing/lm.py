"""Tiny LMs for tests: a small vocabulary and randomly initialised LSTM / Transformer LMs.

Example::

    from kaldi_mpq.testing.lm import tiny_symbols, tiny_lstm_lm, tiny_checkpoint
    lm = tiny_lstm_lm()                      # NeuralLM on CPU, 20 words
    ckpt = tiny_checkpoint(tmp_path / "lm", "transformer")
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from kaldi_mpq.lm.checkpoint import build_model, save_checkpoint
from kaldi_mpq.lm.neural import NeuralLM
from kaldi_mpq.text.symbols import SymbolTable

TINY_MODELS = {
    "lstm": {"type": "lstm", "embed_dim": 16, "hidden_dim": 16, "num_layers": 2, "dropout": 0.0,
             "tie_weights": False, "init_range": 0.1},
    "transformer": {"type": "transformer", "d_model": 16, "num_layers": 2, "num_heads": 2, "ff_dim": 32,
                    "dropout": 0.0, "max_len": 128, "positions": "learned", "norm": "pre",
                    "tie_weights": False},
}


def tiny_symbols(num_words: int = 20, unk: str = "<unk>") -> SymbolTable:
    """``<eps> <unk> w0 .. w{n-1} #0 <s> </s>``."""
    return SymbolTable.from_words([f"w{i}" for i in range(num_words)], unk=unk)


def tiny_module(kind: str = "lstm", symbols: Optional[SymbolTable] = None, seed: int = 0, **overrides):
    """A randomly initialised (deterministic per ``seed``) ``LstmLM`` or ``TransformerLM``."""
    symbols = symbols or tiny_symbols()
    torch.manual_seed(seed)
    return build_model({**TINY_MODELS[kind], **overrides}, symbols)


def tiny_lm(kind: str = "lstm", symbols: Optional[SymbolTable] = None, seed: int = 0, **overrides) -> NeuralLM:
    """A :class:`NeuralLM` on CPU around :func:`tiny_module`."""
    symbols = symbols or tiny_symbols()
    return NeuralLM(tiny_module(kind, symbols, seed, **overrides), symbols, device="cpu")


def tiny_lstm_lm(**kw) -> NeuralLM:
    return tiny_lm("lstm", **kw)


def tiny_transformer_lm(**kw) -> NeuralLM:
    return tiny_lm("transformer", **kw)


def tiny_checkpoint(out_dir, kind: str = "lstm", symbols: Optional[SymbolTable] = None, seed: int = 0,
                    **overrides) -> Path:
    """Write a checkpoint directory of a tiny random LM and return its path."""
    symbols = symbols or tiny_symbols()
    module = tiny_module(kind, symbols, seed, **overrides)
    return save_checkpoint(out_dir, module, {"model": {**TINY_MODELS[kind], **overrides}}, symbols)
