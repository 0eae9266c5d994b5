"""Pruned lattice rescoring with the n-gram history approximation (Xu et al., ICASSP 2018).

The lattice is expanded into states ``(lattice state, last k-1 words)`` with ``k = max_ngram_order``:
paths whose histories share their last ``k - 1`` words merge, and the merged state keeps the LM state
of the path that reached it first. Expansion is best-first, ordered by the cost of the best path
through a state (forward cost found so far + the input lattice's backward cost as the estimate of the
rest), and stops, once a final state has been reached, when the next state is more than ``beam``
worse than the best complete path -- Kaldi's pruned composition
(``lattice-lmrescore-kaldi-rnnlm-pruned``). Only the expanded part is kept, trimmed to states that
reach a final state.

``max_arcs`` bounds the output and the work: a state is expanded only if its arcs fit in the budget.
When the budget runs out before any final state is reached (new LM costs far from the old ones make
best-first search go wide), the most promising unexpanded state is completed along the input
lattice's best continuation, rescored; expansion before that keeps room for the completion. So a
rescored lattice has at most ``max(max_arcs, arcs on the input lattice's best path)`` arcs, and the
expansion scores at most one LM query per arc and final state.

Graph costs: :class:`~kaldi_mpq.rescoring.core.GraphCost` (old LM removed and the interpolated one
added, or a log-linear mix with the graph cost); acoustic costs and alignments unchanged.

Speed: many lattices are expanded in lock-step; every round pops up to ``pops_per_round`` states of
each and scores all their arcs (and ``</s>`` of final states) in one ``advance`` call per LM.
"""

from __future__ import annotations

import heapq
import logging
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from kaldi_mpq.lattice.lattice import Lattice, take_csr
from kaldi_mpq.lattice.paths import forward_backward_best
from kaldi_mpq.lm.interface import LanguageModel
from kaldi_mpq.ngram.interpolate import DEFAULT_INTERPOLATION, DEFAULT_WEIGHT
from kaldi_mpq.rescoring.core import GraphCost, RescoringLMs

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
        max_arcs: arc budget per output lattice (``--max-arcs``; see the module docstring).
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
    """The expansion of one lattice: output states ``(input state, history)`` and arcs.

    :meth:`queries` hands out the LM queries of a round: ``(q, input arc)`` for a word arc leaving
    output state ``q``, ``(q, -1)`` for ``</s>`` at a final state; epsilon arcs are added directly.
    """

    def __init__(self, lat: Lattice, cfg: LatticeRescoreConfig, ref0: tuple[int, int], graph_scale: float):
        self.lat, self.cfg, self.graph_scale = lat, cfg, graph_scale
        n = lat.num_states
        # the input lattice as Python lists: the expansion reads it one arc at a time
        self.first_arc = lat.arc_offsets.tolist()  # arcs are grouped by source state
        self.degree = np.diff(lat.arc_offsets).tolist()
        self.word, self.dst = lat.word.tolist(), lat.dst.tolist()
        self.graph, self.acoustic = lat.graph_cost.tolist(), lat.acoustic_cost.tolist()
        self.final_graph, self.final_acoustic = lat.final_graph.tolist(), lat.final_acoustic.tolist()
        self.arc_cost = lat.graph_cost + cfg.acwt * lat.acoustic_cost
        self.final_cost = lat.final_graph + cfg.acwt * lat.final_acoustic
        self.beta_costs = _backward_costs(lat, self.arc_cost, self.final_cost) if n else np.zeros(0)
        self.beta = self.beta_costs.tolist()
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
        self.walk_from: Optional[int] = None  # where completion starts once the budget ran out
        self.walk: Optional[int] = None  # the state being completed
        self._continuation: Optional[tuple[list[int], int]] = None
        self.done = n == 0 or not math.isfinite(self.beta[0])
        if not self.done:
            self.state(0, (), 0.0, ref0)

    def state(self, s: int, hist: tuple[int, ...], alpha: float, ref: tuple[int, int]) -> int:
        """The output state ``(s, hist)`` reached with forward cost ``alpha`` (new, or merged into an
        existing one; always new while completing)."""
        key = (s, hist)
        q = None if self.walk is not None else self.keys.get(key)
        if q is None:
            q = len(self.in_state)
            if self.walk is None:
                self.keys[key] = q
                heapq.heappush(self.heap, (alpha + self.beta[s], q))
            self.in_state.append(s)
            self.hist.append(hist)
            self.alpha.append(alpha)
            self.lm_ref.append(ref)
            self.expanded.append(False)
        elif alpha < self.alpha[q]:
            self.alpha[q] = alpha
            if not self.expanded[q]:
                heapq.heappush(self.heap, (alpha + self.beta[s], q))
        return q

    def add_arc(self, q: int, a: int, g: float, hist: tuple[int, ...], ref: tuple[int, int]) -> bool:
        """Add the output arc for input arc ``a`` from ``q`` with new graph cost ``g``; True if it
        created a state (whose LM state is ``ref``)."""
        n_before = len(self.in_state)
        alpha = self.alpha[q] + g + self.cfg.acwt * self.acoustic[a]
        dst = self.state(self.dst[a], hist, alpha, ref)
        self.arcs.append((q, dst, a, g))
        if self.walk is not None:
            self.walk = dst
        return len(self.in_state) > n_before

    def set_final(self, q: int, g: float) -> None:
        """``q`` is final with new graph cost ``g``."""
        self.final[q] = g
        total = self.alpha[q] + g + self.cfg.acwt * self.final_acoustic[self.in_state[q]]
        self.best_final = min(self.best_final, total)

    def queries(self) -> list[tuple[int, int]]:
        """This round's LM queries (see the class docstring); sets :attr:`done` when finished."""
        if self.walk_from is None:
            out: list[tuple[int, int]] = []
            word, graph = self.word, self.graph
            for q in self._pop():
                s = self.in_state[q]
                for a in range(self.first_arc[s], self.first_arc[s + 1]):
                    if word[a] == 0:  # epsilon: no LM, same history and LM state
                        self.add_arc(q, a, self.graph_scale * graph[a], self.hist[q], self.lm_ref[q])
                    else:
                        out.append((q, a))
                if math.isfinite(self.final_graph[s]):
                    out.append((q, -1))
            if out or self.walk_from is None:
                return out
        if self.walk is None:
            self.walk = self.walk_from
        return self._walk_step()

    def _pop(self) -> list[int]:
        """Up to ``pops_per_round`` states to expand now, within the beam and the arc budget."""
        out: list[int] = []
        cfg = self.cfg
        degree = self.degree
        pending = len(self.arcs)
        while self.heap and len(out) < cfg.pops_per_round:
            prio, q = self.heap[0]
            s = self.in_state[q]
            if self.expanded[q] or prio > self.alpha[q] + self.beta[s] + 1e-9:
                heapq.heappop(self.heap)  # stale entry
                continue
            if self.best_final < INF and prio > self.best_final + cfg.beam:
                self.heap.clear()
                break
            if not self._fits(pending + degree[s]):
                self.heap.clear()
                if self.best_final == INF and self.beta[s] < INF:
                    self.walk_from = q
                break
            heapq.heappop(self.heap)
            self.expanded[q] = True
            out.append(q)
            pending += degree[s]
        if not out and not self.heap and self.walk_from is None:
            self.done = True
        return out

    def _fits(self, num_arcs: int) -> bool:
        """Whether ``num_arcs`` output arcs are within budget; before a final state is reached, room
        is kept for completing any state along its best continuation."""
        budget = self.cfg.max_arcs
        if self.best_final < INF or num_arcs + self.lat.num_states - 1 <= budget:
            return num_arcs <= budget
        return num_arcs <= budget - self._continuations()[1]

    def _continuations(self) -> tuple[list[int], int]:
        """(next input arc of each state on its best way to the end, -1 where stopping is best; the
        most arcs any such way takes)."""
        if self._continuation is None:
            cand = (self.arc_cost + self.beta_costs[self.lat.dst]).tolist()
            off, dst, fin = self.first_arc, self.dst, self.final_cost.tolist()
            n = self.lat.num_states
            nxt, depth = [-1] * n, [0] * n
            for s in range(n - 1, -1, -1):
                best = fin[s]
                for a in range(off[s], off[s + 1]):
                    if cand[a] < best:
                        best, nxt[s] = cand[a], a
                if nxt[s] >= 0:
                    depth[s] = depth[dst[nxt[s]]] + 1
            self._continuation = (nxt, max(depth, default=0))
        return self._continuation

    def _walk_step(self) -> list[tuple[int, int]]:
        """The next query completing :attr:`walk` along its best continuation."""
        if self.best_final < INF or self.walk in self.final:  # complete (or no finite path after all)
            self.walk, self.done = None, True
            return []
        nxt = self._continuations()[0]
        while True:
            q = self.walk
            a = nxt[self.in_state[q]]
            if a < 0:
                return [(q, -1)]
            if self.word[a] != 0:
                return [(q, a)]
            self.add_arc(q, a, self.graph_scale * self.graph[a], self.hist[q], self.lm_ref[q])


def _backward_costs(lat: Lattice, arc_cost: np.ndarray, final_cost: np.ndarray) -> np.ndarray:
    """Best cost from each state to the end."""
    return forward_backward_best(lat, arc_cost, final_cost.astype(np.float64))[1]


def rescore_lattices(
    lattices: Sequence[Lattice],
    lm: LanguageModel,
    old_lm: Optional[LanguageModel] = None,
    config: Optional[LatticeRescoreConfig] = None,
    ngram_lm: Optional[LanguageModel] = None,
) -> list[Optional[Lattice]]:
    """Rescore lattices (see the module docstring); the output lattices are in input order.

    Empty lattices (or lattices with no complete path) come back as ``None``.

    Raises:
        ConfigError: bad settings (weight outside [0, 1], linear interpolation without an old LM, an
            ``ngram_lm`` without an old LM).
        SymbolTableError: "word lists mismatch" between the LMs.
    """
    cfg = config or LatticeRescoreConfig()
    rule = GraphCost(cfg.weight, cfg.interpolation, old_lm is not None, ngram_lm is not None)
    lms = RescoringLMs(lm, old_lm, ngram_lm)
    if cfg.max_ngram_order < 1:
        raise ValueError("max_ngram_order must be >= 1")
    out: list[Optional[Lattice]] = []
    for start in range(0, len(lattices), max(1, cfg.batch_lattices)):
        out.extend(_rescore_group(list(lattices[start : start + cfg.batch_lattices]), lms, rule, cfg))
    return out


def _rescore_group(lattices, lms: RescoringLMs, rule: GraphCost, cfg: LatticeRescoreConfig) -> list[Optional[Lattice]]:
    stores = [_StateStore(m) for m in lms.scorers]
    for st in stores:
        st.add(st.lm.initial_state(len(lattices)))
    exps = [_Expansion(lat, cfg, (0, i), rule.graph_scale) for i, lat in enumerate(lattices)]
    keep = cfg.max_ngram_order - 1
    eos = lms.lm.symbols.eos_id
    while True:
        queries: list[tuple[int, int, int]] = []  # (lattice, q, input arc or -1 for </s>)
        for i, ex in enumerate(exps):
            if not ex.done:
                queries.extend((i, q, a) for q, a in ex.queries())
        if not queries:
            if all(ex.done for ex in exps):
                break
            continue
        refs = np.array([exps[i].lm_ref[q] for i, q, _ in queries], dtype=np.int64)
        order = np.argsort(refs[:, 0], kind="stable")
        queries = [queries[j] for j in order]
        refs = refs[order]
        words = np.array([exps[i].word[a] if a >= 0 else eos for i, _, a in queries], dtype=np.int64)
        scored = [st.lm.advance(st.gather(refs), words) for st in stores]
        delta = np.asarray(rule.word_terms(*(lp for lp, _ in scored)), dtype=np.float64).tolist()
        created: list[int] = []
        chunk = len(stores[0].chunks)
        scale = rule.graph_scale
        for j, (i, q, a) in enumerate(queries):
            ex = exps[i]
            if a < 0:
                ex.set_final(q, scale * ex.final_graph[ex.in_state[q]] + delta[j])
                continue
            hist = (ex.hist[q] + (ex.word[a],))[-keep:] if keep else ()
            if ex.add_arc(q, a, scale * ex.graph[a] + delta[j], hist, (chunk, len(created))):
                created.append(j)
        idx = np.asarray(created, dtype=np.int64)
        for st, (_, new_states) in zip(stores, scored):
            st.add(st.lm.select_states(new_states, idx) if created else None)
    return [_build_output(ex) for ex in exps]


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


def replace_graph_costs(lattices: Sequence[Lattice], lm: LanguageModel, order: int, acwt: float = 0.1,
                        beam: float = INF, max_arcs: int = 1_000_000) -> list[Optional[Lattice]]:
    """Lattices whose graph costs are ``lm``'s costs alone: composition with an n-gram LM of ``order``.

    This is what a first pass decoded with that LM leaves in a Kaldi lattice (the graph cost of every
    path is its LM cost, ``</s>`` on the final weight), for lattices that come without LM scores (HTK
    SLF from pocketsphinx). States are split by their last ``order - 1`` words, so with an n-gram of
    at most ``order`` each path's cost is exact; ``beam`` (on graph + ``acwt`` * acoustic cost, as the
    pruned composition) limits the expansion; inf keeps every path.
    """
    cfg = LatticeRescoreConfig(acwt=acwt, weight=1.0, interpolation="log-linear", max_ngram_order=order,
                               beam=beam, max_arcs=max_arcs)
    return rescore_lattices(lattices, lm, None, cfg)
