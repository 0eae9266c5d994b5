"""Helpers for rescoring tests: small random acyclic lattices and exhaustive path enumeration.

Example::

    lat = random_lattice(np.random.default_rng(0), tiny_symbols(12), "utt1")
    for words, graph_cost, acoustic_cost, alignment in all_paths(lat): ...
"""

from __future__ import annotations

import numpy as np

from kaldi_mpq.lattice.lattice import Lattice
from kaldi_mpq.text.symbols import SymbolTable


def random_lattice(rng: np.random.Generator, symbols: SymbolTable, key: str, num_states: int = 7,
                   num_arcs: int = 13) -> Lattice:
    """A lattice over words ``w0..w11`` of ``symbols`` (and epsilons): a chain plus random forward
    arcs, random costs and alignments, two final states."""
    words = symbols.ids([f"w{i}" for i in range(12)]) + [0]
    src, dst = [], []
    for s in range(num_states - 1):  # a chain so every state is on a path, plus random skips
        src.append(s), dst.append(s + 1)
    while len(src) < num_arcs:
        a, b = sorted(rng.choice(num_states, 2, replace=False))
        src.append(a), dst.append(b)
    n = len(src)
    final = np.full(num_states, np.inf)
    final[-1] = rng.uniform(0, 2)
    final[rng.integers(1, num_states - 1)] = rng.uniform(0, 2)
    return Lattice.from_arrays(
        key, num_states, src, dst, [words[i] for i in rng.integers(0, len(words), n)],
        rng.uniform(0, 4, n), rng.uniform(5, 30, n), final, np.where(np.isfinite(final), 1.5, np.inf),
        ali=[list(rng.integers(1, 50, rng.integers(1, 4))) for _ in range(n)],
        final_ali=[[7] if np.isfinite(f) else [] for f in final],
    )


def all_paths(lat: Lattice) -> list:
    """(words, graph, acoustic, alignment) of every complete path, by depth-first search."""
    out = []

    def walk(s, words, g, ac, ali):
        if np.isfinite(lat.final_graph[s]):
            out.append((tuple(words), g + lat.final_graph[s], ac + lat.final_acoustic[s],
                        tuple(ali + list(lat.final_ali(s)))))
        for a in range(lat.arc_offsets[s], lat.arc_offsets[s + 1]):
            w = int(lat.word[a])
            walk(int(lat.dst[a]), words + ([w] if w else []), g + lat.graph_cost[a],
                 ac + lat.acoustic_cost[a], ali + list(lat.ali(a)))

    walk(0, [], 0.0, 0.0, [])
    return out
