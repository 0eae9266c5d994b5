"""Training ARPA n-gram LMs from text with ``kaldingram`` (Kneser-Ney, SRILM ``-ukndiscount`` style).

Used to build the first-pass n-gram LM of a recipe (``kaldi-mpq train-ngram``) and test fixtures.
The output is a function of the sentences and their order only (kaldingram keeps n-grams in
insertion order), so the same text gives the same file byte for byte: a recipe can check an LM it
rebuilds against the checksum of the one its committed lattices were decoded with.
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import IO, Iterable, Iterator, Optional

from kaldi_mpq.errors import SymbolTableError, TextFormatError
from kaldi_mpq.fileio import Pathlike, atomic_write
from kaldi_mpq.text.symbols import BOS, EOS, SymbolTable

logger = logging.getLogger(__name__)


def restrict_to_vocabulary(sentences: Iterable[str], symbols: SymbolTable, unk: str) -> Iterable[str]:
    """``sentences`` with every word that is not a predictable word of ``symbols`` replaced by ``unk``
    (``<eps>``, ``<s>``, ``</s>`` and ``#N`` are not words of a sentence)."""
    if unk not in symbols:
        raise SymbolTableError(f"{symbols.source}: unk symbol {unk!r} is not in the table")
    banned = {"<eps>", BOS, EOS}
    for s in sentences:
        yield " ".join(w if w in symbols and w not in banned and not symbols.is_disambig(w) else unk
                       for w in s.split())


def train_arpa(sentences: Iterable[str], path: Pathlike, order: int = 3, symbols: Optional[SymbolTable] = None,
               unk: Optional[str] = None) -> None:
    """Train a back-off Kneser-Ney LM of ``order`` on ``sentences`` (one sentence per string, words
    separated by blanks, no ``<s>``/``</s>``) and write it as ARPA to ``path`` atomically (gzip'd when the
    name ends in ``.gz``).

    Args:
        symbols, unk: restrict the LM to the words of ``symbols`` (a words.txt): other words count as ``unk``
            (default: the table's unk symbol).

    Raises:
        TextFormatError: no non-empty sentence, or too little text to estimate the discounts.
        SymbolTableError: ``symbols`` without the unk symbol.
    """
    from kaldingram.train import NgramCounts

    if symbols is not None:
        unk = unk or symbols.unk
        if unk is None:
            raise SymbolTableError(f"{symbols.source}: no unk symbol for words outside it (give --unk)")
        sentences = restrict_to_vocabulary(sentences, symbols, unk)
    counts = NgramCounts(order)
    n = 0
    for s in sentences:
        s = " ".join(s.split())
        if s:
            counts.add_raw_counts_from_line(s)
            n += 1
    if n == 0:
        raise TextFormatError(f"train_arpa: no text to train the {order}-gram on")
    progress = io.StringIO()  # kaldingram draws tqdm bars on stderr
    try:
        with contextlib.redirect_stderr(progress):
            counts.cal_discounting_constants()
            counts.cal_f()
            counts.cal_bow()
    except (ZeroDivisionError, ValueError) as e:
        raise TextFormatError(
            f"train_arpa: {n} sentences are too few to estimate a {order}-gram ({e})"
        ) from None
    with _open_arpa_output(path) as f, contextlib.redirect_stderr(progress):
        counts.print_as_arpa(fout=f)
    logger.info("trained a %d-gram on %d sentences -> %s", order, n, path)


@contextlib.contextmanager
def _open_arpa_output(path: Pathlike) -> Iterator[IO[str]]:
    """A text stream onto ``path``, written atomically; gzip'd for ``.gz`` with no name or time stamp
    in the gzip header, so the file is reproducible byte for byte."""
    import gzip

    with atomic_write(path, "wb", encoding=None) as raw:
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if str(path).endswith(".gz") else None
        text = io.TextIOWrapper(gz or raw, encoding="utf-8", newline="\n")
        yield text
        text.flush()
        text.detach()
        if gz is not None:
            gz.close()  # writes the trailer; leaves raw open
