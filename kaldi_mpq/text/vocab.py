"""Vocabulary building from training text and OOV statistics.

When the user has no Kaldi lang dir, :func:`build_vocab` makes a ``words.txt`` laid out as Kaldi's
``prepare_lang.sh`` does (``<eps>`` 0, unk, words, ``#0``, ``<s>``, ``</s>``), keeping words by count
cut-off and/or the top-K most frequent (ties broken alphabetically, so the result is deterministic).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Optional

from kaldi_mpq.errors import TextFormatError
from kaldi_mpq.text.symbols import BOS, EOS, EPS, DEFAULT_UNK, SymbolTable

_RESERVED = {EPS, BOS, EOS}


def count_words(sentences: Iterable[list[str]]) -> Counter:
    """Word counts over sentences."""
    counts: Counter = Counter()
    for s in sentences:
        counts.update(s)
    return counts


def build_vocab(
    counts: Counter,
    min_count: int = 1,
    top_k: Optional[int] = None,
    unk: str = DEFAULT_UNK,
    source: str = "<vocab>",
) -> SymbolTable:
    """A symbol table of the words with ``count >= min_count``, at most ``top_k`` of them (most frequent).

    ``<s>``, ``</s>``, ``<eps>`` and ``#N`` in the text are not words and are skipped; ``unk`` is always
    in the table. Words are ordered by decreasing count, then alphabetically.

    Raises:
        TextFormatError: ``min_count < 1``, ``top_k < 1``, or no word survives.
    """
    if min_count < 1:
        raise TextFormatError(f"min_count must be >= 1, got {min_count}")
    if top_k is not None and top_k < 1:
        raise TextFormatError(f"top_k must be >= 1, got {top_k}")
    words = sorted(
        (w for w, c in counts.items() if c >= min_count and w not in _RESERVED and w != unk
         and not w.startswith("#")),
        key=lambda w: (-counts[w], w),
    )
    if top_k is not None:
        words = words[:top_k]
    if not words:
        raise TextFormatError(f"{source}: no word has count >= {min_count}")
    return SymbolTable.from_words(words, unk=unk, source=source)


@dataclass
class OovStats:
    """Out-of-vocabulary counts: ``oov_rate`` is OOV tokens / word tokens (``</s>`` not counted)."""

    words: int
    oov: int
    oov_types: int

    @property
    def oov_rate(self) -> float:
        return self.oov / self.words if self.words else 0.0


def oov_stats(sentences: Iterable[list[str]], symbols: SymbolTable) -> OovStats:
    """Count word tokens not in ``symbols`` (the unk symbol itself counts as OOV, as in SRILM)."""
    n = oov = 0
    types: set[str] = set()
    for s in sentences:
        n += len(s)
        for w in s:
            if w not in symbols or w == symbols.unk:
                oov += 1
                types.add(w)
    return OovStats(words=n, oov=oov, oov_types=len(types))


def sentences_to_ids(sentences: Iterable[list[str]], symbols: SymbolTable) -> list[list[int]]:
    """Map words to ids; OOV words become the unk id (a table without unk raises on OOVs)."""
    id_of, unk = symbols.id_of, symbols.unk_id
    if unk is None:
        return [symbols.ids(s, oov="error") for s in sentences]
    return [[id_of.get(w, unk) for w in s] for s in sentences]
