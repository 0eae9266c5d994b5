"""Lattice -> n-best list -> lattice for rescoring, the original weights kept exactly.

The round trip Kaldi's n-best rescoring makes with ``lattice-to-nbest`` and ``nbest-to-lattice``, but
in memory and without its weight rounding: each hypothesis (an :class:`~kaldi_mpq.nbest.nbest.NbestEntry`)
keeps its path as a linear lattice (arcs, alignments, final weight, all as read). Writing back, a
list becomes one lattice per utterance, the union of its paths sharing the start state; a rescored
hypothesis' change of graph cost goes on its final weight, so per-arc acoustic costs and alignments
stay as they were and any Kaldi script (scoring, ``lattice-align-words``, CTMs) works on the result.
(What Kaldi's ``lattice-to-nbest`` itself writes, bit for bit, is :mod:`kaldi_mpq.lattice.kaldi_nbest`.)
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence

import numpy as np

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.lattice.lattice import Lattice, take_csr
from kaldi_mpq.nbest.nbest import NbestEntry, NbestList

logger = logging.getLogger(__name__)

DEFAULT_N = 20


def nbest_from_lattice(lat: Lattice, n: int = DEFAULT_N, acwt: float = 0.1) -> NbestList:
    """The ``n`` best distinct word sequences of ``lat`` at acoustic scale ``acwt``.

    Raises:
        ConfigError: ``n`` < 1 or a non-finite ``acwt``.
    """
    if n < 1 or not np.isfinite(acwt):
        raise ConfigError(f"n-best lists need n >= 1 and a finite acoustic scale (got n={n}, acwt={acwt})")
    entries = []
    for p in lat.nbest(n, acoustic_scale=acwt):
        entries.append(NbestEntry(p.words, float(p.graph_cost), float(p.acoustic_cost), _linear(lat, p.arcs, p.final_state)))
    return NbestList(lat.key, entries)


def _linear(lat: Lattice, arcs: np.ndarray, final_state: int) -> Lattice:
    """The path ``arcs`` of ``lat`` (ending in ``final_state``) as a linear lattice."""
    arcs = np.asarray(arcs, dtype=np.int64)
    n = arcs.size
    ali_off, ali_dat = take_csr(lat.ali_offsets, lat.ali_data, arcs)
    fin = np.full(n + 1, np.inf)
    fin_ac = np.full(n + 1, np.inf)
    fin[n], fin_ac[n] = lat.final_graph[final_state], lat.final_acoustic[final_state]
    fali = np.asarray(lat.final_ali(final_state), dtype=np.int32)
    fali_off = np.zeros(n + 2, dtype=np.int64)
    fali_off[n + 1] = fali.size
    idx = np.arange(n, dtype=np.int32)
    return Lattice.from_csr(
        lat.key, n + 1, idx, idx + 1, lat.word[arcs], lat.graph_cost[arcs], lat.acoustic_cost[arcs],
        ali_off, ali_dat, fin, fin_ac, fali_off, fali,
    )


def nbest_to_lattice(nb: NbestList) -> Optional[Lattice]:
    """The union of the hypotheses' paths, each entry's graph cost restored exactly (the difference
    to its path's own costs on its final weight); None for an empty list.

    Raises:
        ValueError: an entry has no path (it did not come from a lattice).
    """
    paths = [e for e in nb.entries if e.path is not None]
    if len(paths) != len(nb.entries):
        raise ValueError(f"{nb.key}: n-best entries without paths cannot be written as lattices")
    if not paths:
        return None
    src, dst, word, graph, ac, alis, fin, fin_ac, falis = [], [], [], [], [], [], [], [], []
    start_final = None
    num_states = 1
    for e in paths:
        p: Lattice = e.path
        n = p.num_arcs
        delta = e.graph_cost - float(p.graph_cost.sum() + p.final_graph[n])
        if n == 0:  # the empty hypothesis: the start state itself is final
            if start_final is None:
                start_final = (p.final_graph[0] + delta, p.final_acoustic[0], p.final_ali(0))
            continue
        ids = np.arange(num_states, num_states + n, dtype=np.int64)  # states after each arc
        src.append(np.concatenate([[0], ids[:-1]]))
        dst.append(ids)
        word.append(p.word), graph.append(p.graph_cost), ac.append(p.acoustic_cost)
        alis.extend(p.ali(a) for a in range(n))
        fin.append(np.concatenate([np.full(n - 1, np.inf), [p.final_graph[n] + delta]]))
        fin_ac.append(np.concatenate([np.full(n - 1, np.inf), [p.final_acoustic[n]]]))
        falis.extend([()] * (n - 1) + [p.final_ali(n)])
        num_states += n
    g0, a0, f0 = start_final if start_final is not None else (np.inf, np.inf, ())
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dtype=dt)  # noqa: E731
    return Lattice.from_arrays(
        nb.key, num_states, cat(src, np.int32), cat(dst, np.int32), cat(word, np.int32),
        cat(graph, np.float64), cat(ac, np.float64),
        np.concatenate([[g0], cat(fin, np.float64)]), np.concatenate([[a0], cat(fin_ac, np.float64)]),
        ali=alis, final_ali=[f0] + falis,
    )
