"""The content-keyed cache of built n-gram tables: a cached LM scores exactly as a freshly built one."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from kaldi_mpq.errors import ArpaFormatError
from kaldi_mpq.ngram.arpa import NgramLM
from kaldi_mpq.ngram.load import NGRAM_CACHE_ENV, load_ngram_lm, ngram_cache_key
from kaldi_mpq.ngram.train import train_arpa
from kaldi_mpq.text.symbols import SymbolTable
from tests.ngram.test_arpa import VOCAB, random_corpus

WORDS = VOCAB + ["zz"]  # zz: in words.txt, not in the ARPA


@pytest.fixture(params=[2, 3])
def arpa(request, tmp_path):
    path = tmp_path / f"lm{request.param}.arpa"
    corpus = random_corpus(np.random.default_rng(request.param))
    train_arpa(corpus + (["a <unk> b"] if request.param == 3 else []), path, order=request.param)
    return path


def symbols() -> SymbolTable:
    return SymbolTable.from_words(WORDS)


def random_batches(lm, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.array(lm.symbols.ids(WORDS + ["</s>"]), dtype=np.int64)
    return [rng.choice(ids, size=64) for _ in range(8)]


def assert_same_lm(a: NgramLM, b: NgramLM) -> None:
    """Exactly equal log-probs and states on random word sequences, and the same bookkeeping."""
    sa, sb = a.initial_state(64), b.initial_state(64)
    assert np.array_equal(sa, sb)
    for words in random_batches(a):
        (la, sa), (lb, sb) = a.advance(sa, words), b.advance(sb, words)
        assert np.array_equal(la, lb) and np.array_equal(sa, sb)
        assert [a.history(s) for s in sa] == [b.history(s) for s in sb]
    sents = [a.symbols.ids(s.split()) for s in random_corpus(np.random.default_rng(5), 50)] + [a.symbols.ids(["zz"])]
    for x, y in zip(a.score_sentences(sents), b.score_sentences(sents)):
        assert np.array_equal(x, y)
    assert (a.order, a.num_states, a.num_missing_words, a.oov_history) == \
        (b.order, b.num_states, b.num_missing_words, b.oov_history)


@pytest.mark.parametrize("oov_history", ["kaldi", "unk"])
def test_cached_lm_scores_as_built(arpa, tmp_path, caplog, oov_history):
    cache = tmp_path / "cache"
    fresh = load_ngram_lm(arpa, symbols(), oov_history=oov_history)
    with caplog.at_level(logging.INFO, logger="kaldi_mpq.ngram.load"):
        first = load_ngram_lm(arpa, symbols(), oov_history=oov_history, cache_dir=cache)
        assert "cache miss for " + arpa.name in caplog.text
        caplog.clear()
        cached = load_ngram_lm(arpa, symbols(), oov_history=oov_history, cache_dir=cache)
        assert "cache hit for " + arpa.name in caplog.text
    assert len(list(cache.glob("*.npz"))) == 1 and not list(cache.glob(".*"))
    assert cached.source == str(arpa)
    assert_same_lm(fresh, first)
    assert_same_lm(fresh, cached)


def test_save_load_round_trip(arpa, tmp_path):
    lm = load_ngram_lm(arpa, symbols())
    lm.save(tmp_path / "t.npz")
    assert_same_lm(lm, NgramLM.load(tmp_path / "t.npz", symbols()))
    with pytest.raises(ArpaFormatError, match="another cache key"):
        NgramLM.load(tmp_path / "t.npz", symbols(), cache_key="0" * 64)
    with pytest.raises(ArpaFormatError, match="another words.txt"):
        NgramLM.load(tmp_path / "t.npz", SymbolTable.from_words(WORDS + ["yy"]))


def test_key_follows_content(arpa, tmp_path):
    base = ngram_cache_key(arpa, symbols(), "kaldi", None)
    assert ngram_cache_key(arpa, symbols(), "kaldi", None) == base
    copy = tmp_path / "elsewhere.arpa"
    copy.write_bytes(arpa.read_bytes())
    assert ngram_cache_key(copy, symbols(), "kaldi", None) == base  # content, not name
    changed = tmp_path / "changed.arpa"
    changed.write_bytes(arpa.read_bytes().replace(b"\\end\\", b"\n\\end\\"))
    others = [
        ngram_cache_key(changed, symbols(), "kaldi", None),
        ngram_cache_key(arpa, SymbolTable.from_words(WORDS + ["yy"]), "kaldi", None),
        ngram_cache_key(arpa, SymbolTable.from_words(list(reversed(WORDS))), "kaldi", None),  # same words, other ids
        ngram_cache_key(arpa, symbols(), "unk", None),
        ngram_cache_key(arpa, symbols(), "kaldi", "zz"),
        ngram_cache_key(arpa, SymbolTable.from_words(WORDS, unk=None), "kaldi", None),
    ]
    assert len(set(others + [base])) == len(others) + 1


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_key"])
def test_corrupt_entry_is_rebuilt(arpa, tmp_path, caplog, damage):
    cache = tmp_path / "cache"
    fresh = load_ngram_lm(arpa, symbols(), cache_dir=cache)
    (entry,) = cache.glob("*.npz")
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        entry.write_bytes(b"not an npz")
    else:
        fresh.save(entry, cache_key="f" * 64)
    with caplog.at_level(logging.WARNING, logger="kaldi_mpq.ngram.load"):
        rebuilt = load_ngram_lm(arpa, symbols(), cache_dir=cache)
    assert "removing it and rebuilding " + arpa.name in caplog.text
    assert_same_lm(fresh, rebuilt)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kaldi_mpq.ngram.load"):
        assert_same_lm(fresh, load_ngram_lm(arpa, symbols(), cache_dir=cache))
    assert "cache hit" in caplog.text and "rebuilding" not in caplog.text


def test_env_var_and_unset(arpa, tmp_path, monkeypatch):
    cache = tmp_path / "env_cache"
    saves = []
    monkeypatch.setattr(NgramLM, "save", lambda self, path, cache_key="": saves.append(path))
    monkeypatch.delenv(NGRAM_CACHE_ENV, raising=False)
    load_ngram_lm(arpa, symbols())
    monkeypatch.setenv(NGRAM_CACHE_ENV, "")  # set but empty: no cache either
    load_ngram_lm(arpa, symbols())
    assert saves == []
    monkeypatch.undo()
    monkeypatch.setenv(NGRAM_CACHE_ENV, str(cache))
    load_ngram_lm(arpa, symbols())
    assert len(list(cache.glob("*.npz"))) == 1


def test_unwritable_cache_is_not_fatal(arpa, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING, logger="kaldi_mpq.ngram.load"):
        lm = load_ngram_lm(arpa, symbols(), cache_dir=blocker / "cache")
    assert "cannot save" in caplog.text
    assert_same_lm(load_ngram_lm(arpa, symbols()), lm)


def test_missing_lm_file_named(tmp_path):
    with pytest.raises(ArpaFormatError, match="no such n-gram LM file"):
        load_ngram_lm(tmp_path / "nope.arpa", symbols(), cache_dir=tmp_path / "c")


def test_cache_hit_repeats_the_missing_words_warning(arpa, tmp_path, caplog):
    cache = tmp_path / "cache"
    with caplog.at_level(logging.WARNING):
        load_ngram_lm(arpa, symbols(), cache_dir=cache)
        built = [r.getMessage() for r in caplog.records if "not in the ARPA" in r.getMessage()]
        caplog.clear()
        load_ngram_lm(arpa, symbols(), cache_dir=cache)
        cached = [r.getMessage() for r in caplog.records if "not in the ARPA" in r.getMessage()]
    assert built and cached == built
