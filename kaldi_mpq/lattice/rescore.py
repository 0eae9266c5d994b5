"""Pruned lattice rescoring with the n-gram history approximation (Xu et al., ICASSP 2018).

The lattice is expanded into states ``(lattice state, last k-1 words)`` with ``k = max_ngram_order``:
paths whose histories share their last ``k - 1`` words merge, and the merged state keeps the LM state
of the path that reached it first. Expansion is best-first, ordered by the cost of the best path
through a state (forward cost found so far + the input lattice's backward cost as the estimate of the
rest), and stops, once a final state has been reached, when the next state is more than ``beam``
worse than the best complete path or the output has ``max_arcs`` arcs -- Kaldi's pruned composition
(``lattice-lmrescore-kaldi-rnnlm-pruned``). Only the expanded part is kept, trimmed to states that
reach a final state.

Costs on each arc: acoustic cost unchanged; graph cost::

    graph' = graph + log P_old(w | h_old) - log P_new(w | h)     (old LM given)
    graph' = (1 - weight) * graph - weight * log P_lm(w | h)      (no old LM: log-linear with graph)

with ``P_new`` the word-level interpolation of the new LM with the old one (or with ``ngram_lm``, when
given), as in n-best rescoring.

Speed: many lattices are expanded in lock-step; every round pops up to ``pops_per_round`` states of
each and scores all their arcs (and ``</s>`` of final states) in one ``advance`` call per LM.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from kaldi_mpq.lattice.lattice import Lattice, take_csr
from kaldi_mpq.lm.interface import LanguageModel
from kaldi_mpq.nbest.rescore import check_settings
from kaldi_mpq.ngram.interpolate import DEFAULT_INTERPOLATION, DEFAULT_WEIGHT, InterpolatedLM, combine_logprobs

logger = logging.getLogger(__name__)

INF = math.inf


@dataclass
class LatticeRescoreConfig:
    """Settings of :func:`rescore_lattices` (Kaldi's option names in brackets).

    Attributes:
        acwt: acoustic scale used for pruning (``--acwt``).
        weight: weight of the new LM (``--weight``).
        interpolation: ``linear`` or ``log-linear``.
        max_ngram_order: histories sharing their last ``max_ngram_order - 1`` words merge
            (``--max-ngram-order``).
        beam: pruning beam on the total cost (``--lattice-prune-beam``).
        max_arcs: arc budget per lattice, applied once a final state is reached (``--max-arcs``).
        pops_per_round: states of one lattice expanded per batched LM call.
        batch_lattices: lattices expanded together (bounds memory).
    """

    acwt: float = 0.1
    weight: float = DEFAULT_WEIGHT
    interpolation: str = DEFAULT_INTERPOLATION
    max_ngram_order: int = 4
    beam: float = 8.0
    max_arcs: int = 100000
    pops_per_round: int = 16
    batch_lattices: int = 64


class _StateStore:
    """LM states of expanded lattice states, kept as the batched chunks ``advance`` returned."""

    def __init__(self, lm: LanguageModel):
        self.lm = lm
        self.chunks: list = []

    def add(self, states) -> int:
        self.chunks.append(states)
        return len(self.chunks) - 1

    def gather(self, refs: np.ndarray):
        """Batched states for ``refs`` (rows ``(chunk, index)``, grouped by chunk in ascending order)."""
        parts = []
        chunks = refs[:, 0]
        bounds = np.flatnonzero(np.diff(chunks)) + 1
        for group in np.split(np.arange(len(refs)), bounds):
            c = int(chunks[group[0]])
            parts.append(self.lm.select_states(self.chunks[c], refs[group, 1]))
        return parts[0] if len(parts) == 1 else self.lm.concat_states(parts)


class _Expansion:
    """The expansion of one lattice: output states ``(input state, history)`` and arcs."""

    def __init__(self, lat: Lattice, cfg: LatticeRescoreConfig, ref0: tuple[int, int]):
        self.lat, self.cfg = lat, cfg
        n = lat.num_states
        self.first_arc = lat.arc_offsets  # arcs are grouped by source state
        arc_cost = lat.graph_cost + cfg.acwt * lat.acoustic_cost
        final_cost = lat.final_graph + cfg.acwt * lat.final_acoustic
        self.beta = _backward_costs(lat, arc_cost, final_cost)
        self.keys: dict[tuple[int, tuple[int, ...]], int] = {}
        self.in_state: list[int] = []
        self.hist: list[tuple[int, ...]] = []
        self.alpha: list[float] = []
        self.lm_ref: list[tuple[int, int]] = []
        self.expanded: list[bool] = []
        self.heap: list[tuple[float, int]] = []
        self.arcs: list[tuple[int, int, int, float]] = []  # (src q, dst q, input arc, new graph cost)
        self.final: dict[int, float] = {}  # q -> new final graph cost
        self.best_final = INF
        self.done = n == 0 or not np.isfinite(self.beta[0])
        if not self.done:
            self.state(0, (), 0.0, ref0)

    def state(self, s: int, hist: tuple[int, ...], alpha: float, ref: tuple[int, int]) -> int:
        key = (s, hist)
        q = self.keys.get(key)
        if q is None:
            q = len(self.in_state)
            self.keys[key] = q
            self.in_state.append(s)
            self.hist.append(hist)
            self.alpha.append(alpha)
            self.lm_ref.append(ref)
            self.expanded.append(False)
            heapq.heappush(self.heap, (alpha + self.beta[s], q))
        elif alpha < self.alpha[q]:
            self.alpha[q] = alpha
            if not self.expanded[q]:
                heapq.heappush(self.heap, (alpha + self.beta[s], q))
        return q

    def pop(self) -> list[int]:
        """Up to ``pops_per_round`` states to expand now; marks the expansion done when pruning says so."""
        out: list[int] = []
        cfg = self.cfg
        while self.heap and len(out) < cfg.pops_per_round:
            prio, q = self.heap[0]
            if self.best_final < INF and (
                prio > self.best_final + cfg.beam or len(self.arcs) >= cfg.max_arcs
            ):
                self.heap.clear()
                break
            heapq.heappop(self.heap)
            if self.expanded[q] or prio > self.alpha[q] + self.beta[self.in_state[q]] + 1e-9:
                continue  # stale entry
            self.expanded[q] = True
            out.append(q)
        if not out and not self.heap:
            self.done = True
        return out


def _backward_costs(lat: Lattice, arc_cost: np.ndarray, final_cost: np.ndarray) -> np.ndarray:
    """Best cost from each state to the end (input lattice topologically sorted)."""
    beta = final_cost.astype(np.float64).copy()
    order = np.argsort(-lat.src, kind="stable")
    for a in order:  # sources in decreasing order; destinations come later in topological order
        c = arc_cost[a] + beta[lat.dst[a]]
        if c < beta[lat.src[a]]:
            beta[lat.src[a]] = c
    return beta


def rescore_lattices(
    lattices: Sequence[Lattice],
    lm: LanguageModel,
    old_lm: Optional[LanguageModel] = None,
    config: Optional[LatticeRescoreConfig] = None,
    ngram_lm: Optional[LanguageModel] = None,
) -> list[Lattice]:
    """Rescore lattices (see the module docstring); the output lattices are in input order.

    Empty lattices (or lattices with no complete path) come back empty.

    Raises:
        ConfigError: bad settings (weight outside [0, 1], linear interpolation without an old LM, an
            ``ngram_lm`` without an old LM).
        SymbolTableError: "word lists mismatch" between the LMs.
    """
    cfg = config or LatticeRescoreConfig()
    check_settings(old_lm is not None, cfg.weight, cfg.interpolation, ngram_lm is not None)
    if ngram_lm is not None:  # the mix is the new LM; it replaces the old LM entirely
        lm = InterpolatedLM(lm, ngram_lm, cfg.weight, cfg.interpolation)
        cfg = dataclasses.replace(cfg, weight=1.0, interpolation="linear")
    if cfg.max_ngram_order < 1:
        raise ValueError("max_ngram_order must be >= 1")
    if old_lm is not None:
        lm.symbols.check_same(old_lm.symbols)
    out: list[Lattice] = []
    for start in range(0, len(lattices), max(1, cfg.batch_lattices)):
        out.extend(_rescore_group(list(lattices[start : start + cfg.batch_lattices]), lm, old_lm, cfg))
    return out


def _rescore_group(lattices, lm, old_lm, cfg: LatticeRescoreConfig) -> list[Lattice]:
    stores = [_StateStore(lm)] + ([_StateStore(old_lm)] if old_lm is not None else [])
    for st in stores:
        st.add(st.lm.initial_state(len(lattices)))
    exps = [_Expansion(lat, cfg, (0, i)) for i, lat in enumerate(lattices)]
    keep = cfg.max_ngram_order - 1
    eos = lm.symbols.eos_id
    w = cfg.weight
    while True:
        queries: list[tuple[int, int, int]] = []  # (lattice, q, input arc or -1 for </s>)
        for i, ex in enumerate(exps):
            if ex.done:
                continue
            lat = ex.lat
            for q in ex.pop():
                s = ex.in_state[q]
                for a in range(ex.first_arc[s], ex.first_arc[s + 1]):
                    if lat.word[a] == 0:  # epsilon: no LM, same history and LM state
                        g = lat.graph_cost[a] if old_lm is not None else (1.0 - w) * lat.graph_cost[a]
                        _add_arc(ex, q, int(a), float(g), ex.hist[q], ex.lm_ref[q])
                    else:
                        queries.append((i, q, int(a)))
                if np.isfinite(lat.final_graph[s]):
                    queries.append((i, q, -1))
        if not queries:
            if all(ex.done for ex in exps):
                break
            continue
        refs = np.array([exps[i].lm_ref[q] for i, q, _ in queries], dtype=np.int64)
        order = np.argsort(refs[:, 0], kind="stable")
        queries = [queries[j] for j in order]
        refs = refs[order]
        words = np.array(
            [exps[i].lat.word[a] if a >= 0 else eos for i, _, a in queries], dtype=np.int64
        )
        lp_lm, new_lm = lm.advance(stores[0].gather(refs), words)
        if old_lm is not None:
            lp_old, new_old = old_lm.advance(stores[1].gather(refs), words)
            delta = lp_old - combine_logprobs(lp_lm, lp_old, w, cfg.interpolation)
        else:
            new_old = None
            delta = -w * lp_lm
        created: list[int] = []
        chunk = len(stores[0].chunks)
        for j, (i, q, a) in enumerate(queries):
            ex = exps[i]
            lat = ex.lat
            if a < 0:
                base = lat.final_graph[ex.in_state[q]]
                g = (base if old_lm is not None else (1.0 - w) * base) + delta[j]
                ex.final[q] = float(g)
                total = ex.alpha[q] + g + cfg.acwt * lat.final_acoustic[ex.in_state[q]]
                ex.best_final = min(ex.best_final, total)
                continue
            base = lat.graph_cost[a]
            g = (base if old_lm is not None else (1.0 - w) * base) + delta[j]
            hist = (ex.hist[q] + (int(lat.word[a]),))[-keep:] if keep else ()
            n_before = len(ex.in_state)
            _add_arc(ex, q, a, float(g), hist, (chunk, len(created)))
            if len(ex.in_state) > n_before:
                created.append(j)
        if created:
            idx = np.asarray(created, dtype=np.int64)
            stores[0].add(lm.select_states(new_lm, idx))
            if old_lm is not None:
                stores[1].add(old_lm.select_states(new_old, idx))
        else:
            for st in stores:
                st.add(None)
    return [_build_output(ex) for ex in exps]


def _add_arc(ex: _Expansion, q: int, a: int, g: float, hist: tuple[int, ...], ref: tuple[int, int]) -> None:
    lat = ex.lat
    alpha = ex.alpha[q] + g + ex.cfg.acwt * lat.acoustic_cost[a]
    dst = ex.state(int(lat.dst[a]), hist, alpha, ref)
    ex.arcs.append((q, dst, a, g))


def _build_output(ex: _Expansion) -> Optional[Lattice]:
    """The expanded part of the lattice, trimmed to states on a complete path; None if empty."""
    if not ex.final:
        return None
    lat = ex.lat
    arcs = np.array([(q, d, a) for q, d, a, _ in ex.arcs], dtype=np.int64).reshape(-1, 3)
    graph = np.array([g for *_, g in ex.arcs], dtype=np.float64)
    nq = len(ex.in_state)
    coacc = np.zeros(nq, dtype=bool)
    coacc[list(ex.final)] = True
    in_state = np.asarray(ex.in_state, dtype=np.int64)
    # arcs go forward in input topological order: one sweep by decreasing source input state
    for k in np.argsort(-in_state[arcs[:, 0]], kind="stable") if len(arcs) else ():
        if coacc[arcs[k, 1]]:
            coacc[arcs[k, 0]] = True
    states = np.flatnonzero(coacc)
    states = states[np.lexsort((states, in_state[states]))]
    new_id = np.full(nq, -1, dtype=np.int64)
    new_id[states] = np.arange(states.size)
    keep = np.flatnonzero(coacc[arcs[:, 0]] & coacc[arcs[:, 1]]) if len(arcs) else np.zeros(0, dtype=np.int64)
    keep = keep[np.argsort(new_id[arcs[keep, 0]], kind="stable")]
    a_in = arcs[keep, 2]
    ali_off, ali_dat = take_csr(lat.ali_offsets, lat.ali_data, a_in)
    s_in = in_state[states]
    final_graph = np.array([ex.final.get(int(q), INF) for q in states], dtype=np.float64)
    final_ac = np.where(np.isfinite(final_graph), lat.final_acoustic[s_in], INF)
    fali_off, fali_dat = take_csr(lat.final_ali_offsets, lat.final_ali_data, s_in)
    return Lattice.from_csr(
        lat.key, int(states.size), new_id[arcs[keep, 0]].astype(np.int32),
        new_id[arcs[keep, 1]].astype(np.int32), lat.word[a_in], graph[keep], lat.acoustic_cost[a_in],
        ali_off, ali_dat, final_graph, final_ac, fali_off, fali_dat,
    )
