"""Random lattices for tests: small connected DAGs with words, weights and alignments."""

from __future__ import annotations

import itertools
from typing import Optional

import numpy as np

from kaldi_mpq.lattice.lattice import Lattice


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


def brute_force_paths(lat: Lattice, acoustic_scale: float = 1.0, lm_scale: float = 1.0,
                      word_ins_penalty: float = 0.0, limit: Optional[int] = 100000) -> list[tuple[float, tuple[int, ...]]]:
    """Every complete path as (scaled total cost, words), sorted by cost (exhaustive; small lattices only)."""
    cost = lat.arc_costs(acoustic_scale, lm_scale, word_ins_penalty)
    fin = lat.final_costs(acoustic_scale, lm_scale)
    off = lat.arc_offsets
    out = []
    stack = [(0, 0.0, ())]
    for _ in itertools.count():
        if not stack or (limit is not None and len(out) >= limit):
            break
        s, c, words = stack.pop()
        if np.isfinite(fin[s]):
            out.append((c + fin[s], words))
        for a in range(off[s], off[s + 1]):
            w = int(lat.word[a])
            stack.append((int(lat.dst[a]), c + cost[a], words + (w,) if w else words))
    return sorted(out, key=lambda x: x[0])
