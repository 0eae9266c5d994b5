"""Loading an n-gram LM from any of the files a Kaldi setup holds it in: ARPA, gzip'd ARPA, ``G.fst``, ``G.carpa``.

The format is told by the file's first bytes (gzip magic, OpenFst magic, Kaldi's ``\\0B<ConstArpaLm>``),
not by its name. Every format becomes the same :class:`~kaldi_mpq.ngram.arpa.NgramLM`, so the LM
costs of a ``G.fst`` or ``G.carpa`` are those of the ARPA it was built from (float32 rounding aside),
whether it is the first-pass LM to remove (``--old-lm``), an n-gram to interpolate with, or the
rescoring LM itself (it implements :class:`~kaldi_mpq.lm.interface.LanguageModel`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path
from typing import Optional, Union

from kaldi_mpq.errors import ArpaFormatError
from kaldi_mpq.fileio import GZIP_MAGIC, Pathlike
from kaldi_mpq.ngram.arpa import NGRAM_SAVE_VERSION, ArpaModel, NgramLM, read_arpa
from kaldi_mpq.ngram.const_arpa import is_const_arpa, read_const_arpa
from kaldi_mpq.ngram.g_fst import is_fst, read_g_fst
from kaldi_mpq.text.symbols import SymbolTable

NGRAM_FORMATS = ("arpa", "fst", "carpa")

# environment variable naming the cache directory of built n-gram tables (see load_ngram_lm)
NGRAM_CACHE_ENV = "KALDI_MPQ_NGRAM_CACHE"

logger = logging.getLogger(__name__)


def ngram_format(path: Pathlike) -> str:
    """``"arpa"`` (plain or gzip'd), ``"fst"`` (OpenFst binary) or ``"carpa"`` (Kaldi ConstArpaLm).

    Raises:
        ArpaFormatError: no such file.
    """
    p = Path(path)
    if not p.is_file():
        raise ArpaFormatError(f"{p}: no such n-gram LM file (ARPA, G.fst or G.carpa)")
    with open(p, "rb") as f:
        head = f.read(16)
    if head.startswith(GZIP_MAGIC):
        return "arpa"
    if is_fst(head):
        return "fst"
    if is_const_arpa(head):
        return "carpa"
    return "arpa"


def read_ngram_model(path: Pathlike, symbols: SymbolTable) -> ArpaModel:
    """The n-grams of an ARPA, G.fst or G.carpa file (the binary formats need ``symbols`` for the words).

    Raises:
        ArpaFormatError: a malformed file (file and position named).
    """
    kind = ngram_format(path)
    if kind == "fst":
        return read_g_fst(path, symbols)
    if kind == "carpa":
        return read_const_arpa(path, symbols)
    return read_arpa(path)


def load_ngram_lm(path: Pathlike, words: Union[SymbolTable, Pathlike], oov_history: str = "kaldi",
                  unk: Optional[str] = None, cache_dir: Optional[Pathlike] = None) -> NgramLM:
    """An n-gram :class:`~kaldi_mpq.lm.interface.LanguageModel` from an ARPA (.arpa, .gz), G.fst or G.carpa.

    Args:
        path: the LM file; its format is detected from its first bytes.
        words: the lang dir's words.txt (a :class:`SymbolTable` or its path; read with ``<unk>``
            as unk when it has one, else ``<UNK>``, else none).
        oov_history: ``"kaldi"`` (default: a word the LM lacks restarts the history, as Kaldi's
            const-arpa LM) or ``"unk"`` (it stays as ``<unk>``); logged with the LM.
        unk: the LM word that words it lacks score as (default: the table's unk, else ``<unk>``).
        cache_dir: a directory of built tables keyed by content (:func:`ngram_cache_key`), default
            ``$KALDI_MPQ_NGRAM_CACHE`` (unset or empty: no cache). Parallel jobs that load the same
            LM then read its tables instead of each re-reading the ARPA and rebuilding them; a
            damaged entry is rebuilt with a warning.

    Raises:
        ArpaFormatError: a malformed LM file.
        SymbolTableError: a malformed words.txt.
    """
    symbols = words if isinstance(words, SymbolTable) else _read_words(words)
    if cache_dir is None:
        cache_dir = os.environ.get(NGRAM_CACHE_ENV) or None
    if cache_dir is None:
        return NgramLM(read_ngram_model(path, symbols), symbols, oov_history=oov_history, unk=unk)
    ngram_format(path)  # a missing file is named as such, not as unreadable cache input
    name = Path(path).name
    key = ngram_cache_key(path, symbols, oov_history, unk)
    entry = Path(cache_dir) / f"{key}.npz"
    if entry.is_file():
        try:
            lm = NgramLM.load(entry, symbols, cache_key=key, source=str(path))
        except ArpaFormatError as e:
            logger.warning("n-gram cache: %s; removing it and rebuilding %s", e, name)
            with contextlib.suppress(OSError):
                entry.unlink()
        else:
            logger.info("n-gram cache hit for %s: %s (%d-gram LM, %d states)", name, entry, lm.order, lm.num_states)
            return lm
    else:
        logger.info("n-gram cache miss for %s: building it, then saving %s", name, entry)
    lm = NgramLM(read_ngram_model(path, symbols), symbols, oov_history=oov_history, unk=unk)
    try:
        lm.save(entry, cache_key=key)
    except OSError as e:  # a cache that cannot be written only costs time
        logger.warning("n-gram cache: cannot save %s (%s); continuing without it", entry, e)
    return lm


def ngram_cache_key(path: Pathlike, symbols: SymbolTable, oov_history: str, unk: Optional[str]) -> str:
    """sha256 over everything an :class:`NgramLM`'s tables depend on: the LM file's bytes, the words
    table (id -> word pairs and its unk), ``oov_history``, ``unk`` and the saved format's version."""
    h = hashlib.sha256(f"kaldi-mpq n-gram tables v{NGRAM_SAVE_VERSION}\n".encode())
    try:
        with open(path, "rb") as f:
            h.update(f"{os.fstat(f.fileno()).st_size}\n".encode())
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise ArpaFormatError(f"{path}: cannot read ({e})") from None
    for i, w in sorted((i, w) for w, i in symbols.id_of.items()):
        h.update(f"{i} {w}\n".encode())
    h.update(f"unk-symbol {symbols.unk!r}\noov_history {oov_history!r}\nunk {unk!r}\n".encode())
    return h.hexdigest()


def _read_words(path: Pathlike) -> SymbolTable:
    table = SymbolTable.read(path, unk=None)
    unk = next((u for u in ("<unk>", "<UNK>") if u in table), None)
    return SymbolTable.read(path, unk=unk) if unk else table
