"""Random lattices for tests and exhaustive path enumeration (small lattices only).

Example::

    lat = dummy_lattice(num_states=7, extra_arcs=9, seed=3, shuffle_states=True)   # word ids 1..9
    lat = random_lattice(np.random.default_rng(0), tiny_symbols(12), "utt1")      # words w0..w11
    for words, graph_cost, acoustic_cost, alignment in all_paths(lat): ...
    best_cost, best_words = brute_force_paths(lat, acoustic_scale=0.1)[0]
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from kaldi_mpq.lattice.lattice import Lattice
from kaldi_mpq.text.symbols import SymbolTable


def dummy_lattice(num_states: int = 6, extra_arcs: int = 6, vocab: int = 10, seed: int = 0, key: str = "utt1",
                  max_ali: int = 3, shuffle_states: bool = False, eps_prob: float = 0.2,
                  num_finals: int = 1) -> Lattice:
    """A random lattice where every state is on some path from state 0 to a final state.

    Args:
        num_states: S >= 1. The last state is final; ``num_finals - 1`` more random states are too.
        extra_arcs: arcs added on top of the S-1 that make the lattice connected.
        vocab: word ids are drawn from 1..vocab-1 (0 = epsilon with probability ``eps_prob``).
        max_ali: alignment strings have 0..max_ali transition ids (1..99).
        shuffle_states: number the states in a random (non-topological) order, as Kaldi may.
    """
    rng = np.random.default_rng(seed)
    s = max(1, num_states)
    pairs = [(int(rng.integers(0, i)), i) for i in range(1, s)]  # reach every state
    pairs += [(i, i + 1) for i in range(s - 1)]  # and reach the end from every state
    for _ in range(extra_arcs if s > 1 else 0):
        a, b = sorted(rng.choice(s, size=2, replace=False).tolist())
        pairs.append((a, b))
    n = len(pairs)
    word = np.where(rng.random(n) < eps_prob, 0, rng.integers(1, max(vocab, 2), size=n))
    graph = np.round(rng.uniform(0, 10, size=n), 2).astype(np.float32).astype(np.float64)
    acoustic = np.round(rng.uniform(0, 100, size=n), 2).astype(np.float32).astype(np.float64)
    ali = [rng.integers(1, 100, size=int(rng.integers(0, max_ali + 1))).tolist() for _ in range(n)]
    fg = np.full(s, np.inf)
    fa = np.full(s, np.inf)
    finals = {s - 1} | set(rng.choice(s, size=min(s, max(0, num_finals - 1)), replace=False).tolist())
    for f in finals:
        fg[f] = float(np.float32(rng.uniform(0, 5)))
        fa[f] = float(np.float32(rng.uniform(0, 5)))
    final_ali = [rng.integers(1, 100, size=int(rng.integers(0, 2))).tolist() if f in finals else [] for f in range(s)]
    perm = rng.permutation(s) if shuffle_states else np.arange(s)
    src = perm[[p[0] for p in pairs]] if pairs else np.zeros(0, int)
    dst = perm[[p[1] for p in pairs]] if pairs else np.zeros(0, int)
    inv = np.argsort(perm)
    return Lattice.from_arrays(key, s, src, dst, word, graph, acoustic, fg[inv], fa[inv], ali=ali,
                               final_ali=[final_ali[i] for i in inv], start=int(perm[0]))


def random_lattice(rng: np.random.Generator, symbols: SymbolTable, key: str, num_states: int = 7,
                   num_arcs: int = 13) -> Lattice:
    """A lattice over words ``w0..w11`` of ``symbols`` (and epsilons), for rescoring tests: a chain plus
    random forward arcs, random costs and alignments, two final states."""
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


def complete_paths(lat: Lattice, limit: Optional[int] = None) -> Iterator[tuple[list[int], int]]:
    """Every complete path as (arcs from the start, final state), depth first; at most ``limit``."""
    off = lat.arc_offsets
    final = np.isfinite(lat.final_graph)
    stack: list[tuple[int, list[int]]] = [(0, [])] if lat.num_states else []
    found = 0
    while stack and (limit is None or found < limit):
        s, arcs = stack.pop()
        if final[s]:
            found += 1
            yield arcs, s
        for a in range(off[s], off[s + 1]):
            stack.append((int(lat.dst[a]), arcs + [a]))


def brute_force_paths(lat: Lattice, acoustic_scale: float = 1.0, lm_scale: float = 1.0,
                      word_ins_penalty: float = 0.0, limit: Optional[int] = 100000) -> list[tuple[float, tuple[int, ...]]]:
    """Every complete path as (scaled total cost, words), sorted by cost."""
    cost = lat.arc_costs(acoustic_scale, lm_scale, word_ins_penalty)
    fin = lat.final_costs(acoustic_scale, lm_scale)
    out = [(_running_sum(cost, arcs) + fin[s], _words(lat, arcs)) for arcs, s in complete_paths(lat, limit)]
    return sorted(out, key=lambda x: x[0])


def all_paths(lat: Lattice) -> list[tuple[tuple[int, ...], float, float, tuple[int, ...]]]:
    """(words, graph cost, acoustic cost, alignment) of every complete path."""
    out = []
    for arcs, s in complete_paths(lat):
        g = _running_sum(lat.graph_cost, arcs) + lat.final_graph[s]
        ac = _running_sum(lat.acoustic_cost, arcs) + lat.final_acoustic[s]
        ali = [t for a in arcs for t in lat.ali(a).tolist()] + lat.final_ali(s).tolist()
        out.append((_words(lat, arcs), g, ac, tuple(ali)))
    return out


def _words(lat: Lattice, arcs: list[int]) -> tuple[int, ...]:
    return tuple(int(lat.word[a]) for a in arcs if lat.word[a])


def _running_sum(values: np.ndarray, arcs: list[int]) -> float:
    """``values[arcs]`` added left to right, as a search accumulates them."""
    total = 0.0
    for a in arcs:
        total += values[a]
    return total
