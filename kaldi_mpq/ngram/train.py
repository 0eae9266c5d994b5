"""Training ARPA n-gram LMs from text with ``kaldingram`` (Kneser-Ney, SRILM ``-ukndiscount`` style).

Used to build the "old" first-pass-like n-gram LM of experiments and test fixtures.
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Iterable

from kaldi_mpq.errors import TextFormatError
from kaldi_mpq.fileio import Pathlike, atomic_write

logger = logging.getLogger(__name__)


def train_arpa(sentences: Iterable[str], path: Pathlike, order: int = 3) -> None:
    """Train a back-off Kneser-Ney LM of ``order`` on ``sentences`` (one sentence per string, words
    separated by blanks, no ``<s>``/``</s>``) and write it as ARPA to ``path`` atomically.

    Raises:
        TextFormatError: no non-empty sentence, or too little text to estimate the discounts.
    """
    from kaldingram.train import NgramCounts

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
    with atomic_write(path) as f:
        with contextlib.redirect_stderr(progress):
            counts.print_as_arpa(fout=f)
    logger.info("trained a %d-gram on %d sentences -> %s", order, n, path)
