"""Kaldi symbol tables (``words.txt``): the one vocabulary every stage shares.

Format, one ``<symbol> <integer id>`` pair per line::

    <eps> 0
    !SIL 1
    YES 3

LM checkpoints carry their own copy; ids in LMs, lattices and n-best lists are the ids of this table, so
no stage ever remaps words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

from kaldi_mpq.errors import SymbolTableError
from kaldi_mpq.fileio import Pathlike, atomic_write, open_text

EPS = "<eps>"
BOS = "<s>"
EOS = "</s>"
DEFAULT_UNK = "<unk>"
_DISAMBIG = re.compile(r"^#\d+$")


@dataclass
class SymbolTable:
    """A bijection between symbols and integer ids, as in a Kaldi ``words.txt``.

    Args:
        id_of: symbol -> id.
        unk: the symbol out-of-vocabulary words map to (``<unk>``, ``<UNK>``, ``<SPOKEN_NOISE>``...);
            ``None`` if the table has none.
        source: where the table was read from, for error messages.
    """

    id_of: dict[str, int]
    unk: Optional[str] = DEFAULT_UNK
    source: str = "<memory>"
    _word_of: dict[int, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._word_of = {}
        for w, i in self.id_of.items():
            if i in self._word_of:
                raise SymbolTableError(
                    f"{self.source}: id {i} used for both {self._word_of[i]!r} and {w!r}"
                )
            self._word_of[i] = w
        if self.unk is not None and self.unk not in self.id_of:
            raise SymbolTableError(
                f"{self.source}: unk symbol {self.unk!r} is not in the table "
                f"(choose it with --unk, e.g. <unk>, <UNK> or <SPOKEN_NOISE>)"
            )

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def read(cls, path: Pathlike, unk: Optional[str] = DEFAULT_UNK) -> "SymbolTable":
        """Read a Kaldi words.txt (gzip'd or not).

        Raises:
            SymbolTableError: missing/empty file, a malformed line, or a duplicated symbol or id;
                the message names the file and line.
        """
        path = Path(path)
        if not path.is_file():
            raise SymbolTableError(f"{path}: no such symbol table")
        id_of: dict[str, int] = {}
        word_at_id: dict[int, tuple[str, int]] = {}
        with open_text(path) as f:
            for lineno, line in enumerate(f, 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
                    raise SymbolTableError(
                        f"{path}:{lineno}: expected '<symbol> <integer id>', got {line.rstrip()!r}"
                    )
                w, i = fields[0], int(fields[1])
                if i < 0:
                    raise SymbolTableError(f"{path}:{lineno}: negative id in {line.rstrip()!r}")
                if w in id_of:
                    raise SymbolTableError(
                        f"{path}:{lineno}: duplicate symbol {w!r} (first given id {id_of[w]})"
                    )
                if i in word_at_id:
                    other, other_line = word_at_id[i]
                    raise SymbolTableError(
                        f"{path}:{lineno}: duplicate id {i} for {w!r} (line {other_line} gives it to {other!r})"
                    )
                id_of[w] = i
                word_at_id[i] = (w, lineno)
        if not id_of:
            raise SymbolTableError(f"{path}: empty symbol table")
        if unk is not None and unk not in id_of:
            raise SymbolTableError(
                f"{path}: unk symbol {unk!r} is not in the table (choose it with --unk, "
                f"e.g. <unk>, <UNK> or <SPOKEN_NOISE>)"
            )
        return cls(id_of=id_of, unk=unk, source=str(path))

    @classmethod
    def from_words(
        cls, words: Iterable[str], unk: Optional[str] = DEFAULT_UNK, source: str = "<memory>"
    ) -> "SymbolTable":
        """A table laid out as Kaldi's ``prepare_lang.sh`` does: ``<eps>`` 0, the words in the given
        order (``unk`` added if missing), then ``#0``, ``<s>``, ``</s>``."""
        specials = {EPS, BOS, EOS, "#0"}
        ordered = [EPS]
        seen = set(ordered)
        for w in words:
            if w in specials or w in seen:
                continue
            ordered.append(w)
            seen.add(w)
        if unk is not None and unk not in seen:
            ordered.insert(1, unk)
        ordered += ["#0", BOS, EOS]
        return cls(id_of={w: i for i, w in enumerate(ordered)}, unk=unk, source=source)

    def write(self, path: Pathlike) -> None:
        """Write as words.txt, ordered by id, atomically."""
        with atomic_write(path) as f:
            for i in sorted(self._word_of):
                f.write(f"{self._word_of[i]} {i}\n")

    # -- lookup ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.id_of)

    def __contains__(self, word: str) -> bool:
        return word in self.id_of

    def __getitem__(self, word: str) -> int:
        return self.id_of[word]

    def word(self, i: int) -> str:
        try:
            return self._word_of[i]
        except KeyError:
            raise SymbolTableError(f"{self.source}: id {i} is not in the symbol table") from None

    @property
    def max_id(self) -> int:
        return max(self._word_of)

    @property
    def size(self) -> int:
        """Number of ids an LM output layer needs (max id + 1; ids need not be contiguous)."""
        return self.max_id + 1

    @property
    def eps_id(self) -> Optional[int]:
        return self.id_of.get(EPS)

    @property
    def bos_id(self) -> int:
        return self._required(BOS)

    @property
    def eos_id(self) -> int:
        return self._required(EOS)

    @property
    def unk_id(self) -> Optional[int]:
        return None if self.unk is None else self.id_of[self.unk]

    def _required(self, sym: str) -> int:
        if sym not in self.id_of:
            raise SymbolTableError(f"{self.source}: symbol {sym!r} is required but not in the table")
        return self.id_of[sym]

    def is_disambig(self, word: str) -> bool:
        return bool(_DISAMBIG.match(word))

    def non_predictable_ids(self) -> list[int]:
        """Ids an LM never predicts: ``<eps>``, ``<s>`` and disambiguation symbols ``#N``."""
        return sorted(
            i for w, i in self.id_of.items() if w in (EPS, BOS) or self.is_disambig(w)
        )

    def ids(self, words: Sequence[str], oov: str = "unk") -> list[int]:
        """Map words to ids. ``oov='unk'`` maps unknown words to the unk symbol; ``'error'`` raises."""
        unk_id = self.unk_id
        out = []
        for w in words:
            i = self.id_of.get(w)
            if i is None:
                if oov == "error" or unk_id is None:
                    raise SymbolTableError(f"{self.source}: word {w!r} is not in the symbol table")
                i = unk_id
            out.append(i)
        return out

    def words(self, ids: Iterable[int]) -> list[str]:
        return [self.word(int(i)) for i in ids]

    # -- comparison --------------------------------------------------------------------------------
    def first_difference(self, other: "SymbolTable") -> Optional[str]:
        """A description of the first (lowest-id) difference, or ``None`` if the tables are equal."""
        for i in range(max(self.max_id, other.max_id) + 1):
            a, b = self._word_of.get(i), other._word_of.get(i)
            if a != b:
                return f"id {i} is {a!r} in {self.source} but {b!r} in {other.source}"
        return None

    def check_same(self, other: "SymbolTable") -> None:
        """Raise ``SymbolTableError('word lists mismatch: ...')`` unless both tables are equal."""
        diff = self.first_difference(other)
        if diff is not None:
            raise SymbolTableError(f"word lists mismatch: {diff}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SymbolTable) and self.id_of == other.id_of
