"""Kaldi's ``lattice-to-nbest``: n-best paths as the linear CompactLattices it writes, weights to the bit.

Its output is one lattice per path (keys ``utt-1 .. utt-N``) with Kaldi's rounded weights, for
Kaldi tools downstream. (For rescoring in memory, where the original weights must stay exact and each
list goes back into one lattice, see :mod:`kaldi_mpq.nbest.lattice_roundtrip`.)

What Kaldi does (``latbin/lattice-to-nbest.cc``; OpenFst ``ShortestPath``; Kaldi ``ConvertLattice`` and
``Factor``), and what :func:`lattice_to_nbest` reproduces:

1. The lattice is read as a ``Lattice`` (one transition id per arc; a CompactLattice arc becomes a
   chain whose first arc carries the word and the whole weight) and scaled with ``ScaleLattice``
   by (``--lm-scale``, ``--acoustic-scale``): each weight component becomes
   ``float32(double(scale) * value)``. Zero scales are refused (they cannot be inverted).
2. The n best paths are taken on the scaled lattice (``--n=1``: OpenFst's single shortest path, the
   path's own arcs; ``--n`` > 1: OpenFst's n-shortest-paths, whose paths also carry two leading
   epsilon arcs of weight One and end with an epsilon arc that carries the final weight).
3. Each path is scaled back by ``(1/lm_scale, 1/acoustic_scale)`` -- the inverses are doubles,
   ``1.0 / float32(scale)`` -- so weights are the original ones only up to float32 rounding: Kaldi
   does *not* keep the unscaled originals, it un-scales the scaled ones (same function as step 1).
4. The path is converted back to a CompactLattice by ``Factor``: every state except the start and
   the final one whose outgoing arc has no word is merged away, so an output arc is a word arc
   followed by all the epsilon arcs after it; its transition ids are concatenated and its weight is
   the float32 sum (``Times``) of the merged weights. A final weight with transition ids, and with
   ``--n`` > 1 every final weight, is merged into the last arc, and the final state gets weight
   (0, 0) with no transition ids. Output keys are ``key-1 .. key-N``.

Kaldi's ``lattice-to-nbest`` has no word insertion penalty; ``word_ins_penalty`` here is
``lattice-add-penalty`` applied first, which changes the lattice, so the output graph costs include
it. Paths are the n best distinct word sequences (:func:`kaldi_mpq.lattice.paths.nbest`), which are
Kaldi's n best paths on determinized lattices (as decoders write them); on other lattices Kaldi
would repeat word sequences.

Example (``--n=2 --acoustic-scale=0.1``, text form)::

    utt1-1
    0	1	0
    1	2	291	10.5,2048.2,5_5_5_18_17
    2	3	87	3.25,710,9_9_22
    3
"""

from __future__ import annotations

import numpy as np

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.lattice.lattice import Lattice
from kaldi_mpq.lattice.paths import Path, nbest
from kaldi_mpq.lattice.weights import INF, kaldi_float

_F32 = np.float32


def lattice_to_nbest(lat: Lattice, n: int, acoustic_scale: float = 1.0, lm_scale: float = 1.0,
                     word_ins_penalty: float = 0.0) -> list[Lattice]:
    """The lattices ``lattice-to-nbest --n=N`` writes for ``lat`` (keys ``key-1 .. key-N``).

    Raises:
        ConfigError: a zero acoustic or LM scale, or ``n`` < 1.
    """
    ac, lm = kaldi_float(acoustic_scale), kaldi_float(lm_scale)
    if ac == 0.0 or lm == 0.0:
        raise ConfigError("do not use a zero acoustic or LM scale (cannot be inverted)")
    if n < 1:
        raise ConfigError(f"--n must be at least 1 (got {n})")
    if word_ins_penalty != 0.0:
        lat = lat.add_word_insertion_penalty(word_ins_penalty)
    return [kaldi_nbest_lattice(lat, path, f"{lat.key}-{k}", ac, lm, n > 1)
            for k, path in enumerate(nbest(lat, n, ac, lm), 1)]


def kaldi_nbest_lattice(lat: Lattice, path: Path, key: str, acoustic_scale: float, lm_scale: float,
                        n_shortest: bool) -> Lattice:
    """One path of ``lat`` as Kaldi writes it (see the module docstring); ``n_shortest``: ``--n`` > 1."""
    lm, ac = kaldi_float(lm_scale), kaldi_float(acoustic_scale)
    # The path in Lattice form: (transition id or 0, word or 0, graph, acoustic) per arc.
    one = (_F32(0.0), _F32(0.0))
    arcs: list[tuple[int, int, tuple]] = [(0, 0, one), (0, 0, one)] if n_shortest else []
    for a in path.arcs.tolist():
        tids = lat.ali(a).tolist() or [0]
        arcs.append((tids[0], int(lat.word[a]), _round_trip(lat.graph_cost[a], lat.acoustic_cost[a], lm, ac)))
        arcs.extend((t, 0, one) for t in tids[1:])
    fs = path.final_state
    final = _round_trip(lat.final_graph[fs], lat.final_acoustic[fs], lm, ac)
    ftids = lat.final_ali(fs).tolist()
    if ftids:
        arcs.append((ftids[0], 0, final))
        arcs.extend((t, 0, one) for t in ftids[1:])
        final = one
    if n_shortest:  # the arc into OpenFst's super-final state carries the final weight
        arcs.append((0, 0, final))
        final = one
    # Factor: a new output arc starts at the first arc and at every arc with a word.
    words, graph, acoustic, tids, starts = [], [], [], [], []
    for tid, word, (g, a) in arcs:
        if not words or word:
            words.append(word), graph.append(g), acoustic.append(a), starts.append(len(tids))
        else:
            graph[-1], acoustic[-1] = graph[-1] + g, acoustic[-1] + a  # Times, in float32
        if tid:
            tids.append(tid)
    k = len(words)
    ali_off = np.asarray(starts + [len(tids)], dtype=np.int64)
    fg, fa = np.full(k + 1, INF), np.full(k + 1, INF)
    fg[k], fa[k] = final
    return Lattice.from_csr(
        key, k + 1, np.arange(k, dtype=np.int32), np.arange(1, k + 1, dtype=np.int32),
        np.asarray(words, dtype=np.int32), np.asarray(graph, dtype=np.float64),
        np.asarray(acoustic, dtype=np.float64), ali_off, np.asarray(tids, dtype=np.int32), fg, fa,
        np.zeros(k + 2, dtype=np.int64), np.zeros(0, dtype=np.int32),
    )


def _round_trip(graph: float, acoustic: float, lm: float, ac: float) -> tuple[np.float32, np.float32]:
    """ScaleLattice by (lm, ac), then by (1/lm, 1/ac): Kaldi's scaled-and-unscaled weight."""
    g, a = _F32(graph), _F32(acoustic)
    if lm == 1.0 and ac == 1.0:  # DefaultLatticeScale: left alone
        return g, a
    g, a = _scale(g, a, lm, ac)
    return _scale(g, a, 1.0 / lm, 1.0 / ac)


def _scale(g: np.float32, a: np.float32, lm: float, ac: float) -> tuple[np.float32, np.float32]:
    """ScaleTupleWeight with the matrix [[lm, 0], [0, ac]]: sums in double, stored as float32."""
    g64, a64 = float(g), float(a)
    return _F32(lm * g64 + 0.0 * a64), _F32(0.0 * g64 + ac * a64)


__all__ = ["kaldi_nbest_lattice", "lattice_to_nbest"]
