"""N-best lists: one :class:`NbestEntry` per hypothesis, one :class:`NbestList` per utterance.

Costs are Kaldi's: negated natural logs, graph (LM + pronunciation + transition) and acoustic kept
apart and unscaled; a hypothesis' total at acoustic scale ``acwt`` is ``graph + acwt * acoustic``.
An entry taken from a lattice keeps its linear path (``path``, a :class:`~kaldi_mpq.lattice.lattice.Lattice`
with the alignment), so a rescored list can be written back as a lattice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class NbestEntry:
    """One hypothesis.

    Attributes:
        words: word ids (no epsilons, no ``<s>``/``</s>``).
        graph_cost: total graph cost of the path.
        acoustic_cost: total acoustic cost of the path (unscaled).
        path: the hypothesis as a linear lattice, if it came from one.
    """

    words: tuple[int, ...]
    graph_cost: float
    acoustic_cost: float
    path: Optional[Any] = field(default=None, compare=False, repr=False)

    def cost(self, acwt: float) -> float:
        """``graph_cost + acwt * acoustic_cost``."""
        return self.graph_cost + acwt * self.acoustic_cost

    def with_graph_cost(self, graph_cost: float) -> "NbestEntry":
        return dataclasses.replace(self, graph_cost=float(graph_cost))


@dataclass
class NbestList:
    """The hypotheses of one utterance, best first at the acoustic scale they were extracted with."""

    key: str
    entries: list[NbestEntry]

    def __len__(self) -> int:
        return len(self.entries)

    def best(self, acwt: float) -> Optional[NbestEntry]:
        """The lowest-cost entry at ``acwt`` (the first of equals), ``None`` for an empty list."""
        if not self.entries:
            return None
        costs = np.array([e.cost(acwt) for e in self.entries])
        return self.entries[int(np.argmin(costs))]


def all_sentences(lists: Sequence[NbestList]) -> list[tuple[int, ...]]:
    """The word sequences of every entry of every list, in order."""
    return [e.words for nb in lists for e in nb.entries]
