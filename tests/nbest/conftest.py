"""Fixtures shared by the n-best tests: a small vocabulary and a 3-gram trained on random text."""

from __future__ import annotations

import numpy as np
import pytest

from kaldi_mpq.ngram.load import load_ngram_lm
from kaldi_mpq.ngram.train import train_arpa
from kaldi_mpq.testing.lm import tiny_symbols


@pytest.fixture(scope="session")
def symbols():
    return tiny_symbols(12)


@pytest.fixture(scope="session")
def arpa_path(tmp_path_factory, symbols):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(12)]
    text = [" ".join(words[i] for i in rng.integers(0, 12, rng.integers(1, 8))) for _ in range(300)]
    path = tmp_path_factory.mktemp("ngram") / "lm.arpa"
    train_arpa(text, path, order=3)
    return path


@pytest.fixture(scope="session")
def ngram(arpa_path, symbols):
    return load_ngram_lm(arpa_path, symbols)
