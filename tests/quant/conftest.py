"""Small LMs with the real parameter names, built through the LM package's own factory."""

from __future__ import annotations

import pytest
import torch

from kaldi_mpq.lm.checkpoint import build_model
from kaldi_mpq.text.symbols import SymbolTable

LSTM_CONFIG = dict(type="lstm", embed_dim=32, hidden_dim=32, num_layers=2)
TRANSFORMER_CONFIG = dict(type="transformer", d_model=32, num_layers=2, num_heads=4, ff_dim=64)
CONFIGS = {"lstm": LSTM_CONFIG, "transformer": TRANSFORMER_CONFIG}


@pytest.fixture(scope="session")
def symbols() -> SymbolTable:
    return SymbolTable.from_words(["<eps>", "<s>", "</s>", "<unk>"] + [f"w{i}" for i in range(196)])


@pytest.fixture(params=sorted(CONFIGS))
def model_and_config(request, symbols):
    torch.manual_seed(0)
    cfg = CONFIGS[request.param]
    return build_model(cfg, symbols), cfg
