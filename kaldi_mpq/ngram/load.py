"""Loading an n-gram LM from any of the files a Kaldi setup holds it in: ARPA, gzip'd ARPA, ``G.fst``, ``G.carpa``.

The format is told by the file's first bytes (gzip magic, OpenFst magic, Kaldi's ``\\0B<ConstArpaLm>``),
not by its name. Every format becomes the same :class:`~kaldi_mpq.ngram.arpa.NgramLM`, so the LM
costs of a ``G.fst`` or ``G.carpa`` are those of the ARPA it was built from (float32 rounding aside),
whether it is the first-pass LM to remove (``--old-lm``), an n-gram to interpolate with, or the
rescoring LM itself (it implements :class:`~kaldi_mpq.lm.interface.LanguageModel`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from kaldi_mpq.errors import ArpaFormatError
from kaldi_mpq.fileio import GZIP_MAGIC, Pathlike
from kaldi_mpq.ngram.arpa import ArpaModel, NgramLM, read_arpa
from kaldi_mpq.ngram.const_arpa import is_const_arpa, read_const_arpa
from kaldi_mpq.ngram.g_fst import is_fst, read_g_fst
from kaldi_mpq.text.symbols import SymbolTable

NGRAM_FORMATS = ("arpa", "fst", "carpa")


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
                  unk: Optional[str] = None) -> NgramLM:
    """An n-gram :class:`~kaldi_mpq.lm.interface.LanguageModel` from an ARPA (.arpa, .gz), G.fst or G.carpa.

    Args:
        path: the LM file; its format is detected from its first bytes.
        words: the lang dir's words.txt (a :class:`SymbolTable` or its path; read with ``<unk>``
            as unk when it has one, else ``<UNK>``, else none).
        oov_history: ``"kaldi"`` (default: a word the LM lacks restarts the history, as Kaldi's
            const-arpa LM) or ``"unk"`` (it stays as ``<unk>``); logged with the LM.
        unk: the LM word that words it lacks score as (default: the table's unk, else ``<unk>``).

    Raises:
        ArpaFormatError: a malformed LM file.
        SymbolTableError: a malformed words.txt.
    """
    symbols = words if isinstance(words, SymbolTable) else _read_words(words)
    return NgramLM(read_ngram_model(path, symbols), symbols, oov_history=oov_history, unk=unk)


def _read_words(path: Pathlike) -> SymbolTable:
    table = SymbolTable.read(path, unk=None)
    unk = next((u for u in ("<unk>", "<UNK>") if u in table), None)
    return SymbolTable.read(path, unk=unk) if unk else table
