"""Best path, n-best and forward/backward best costs over topologically sorted lattices.

Best paths follow Kaldi's ``CompactLatticeShortestPath`` (used by ``lattice-best-path``) to the tie:
the cost of an arc is ``double(graph) + double(acoustic)`` of its scaled float32 weight; states are
relaxed in topological order with a strict ``<``, so among equal-cost predecessors the first arc in
(state, arc) order wins; the final state is the first state with the least ``cost + final cost``; and
between two consecutive states on the path the arc with the least own cost is taken (first on ties).

Many lattices are searched together (vectorised over lattices, one numpy step per state index), and a
:class:`PathSearch` keeps the index structures so that LMWT x WIP sweeps recompute only the costs::

    search = PathSearch(lattices)
    for lmwt in range(7, 18):
        paths = search.best_paths(acoustic_scale=1.0 / lmwt)

This module sits below :mod:`kaldi_mpq.lattice.lattice` (whose methods ``best_path``, ``nbest`` and
``prune`` call it); it reads lattices only through their fields.
"""

from __future__ import annotations

import heapq
import operator
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

import numpy as np

from kaldi_mpq.lattice.weights import scale_costs, total_arc_costs

if TYPE_CHECKING:  # pragma: no cover
    from kaldi_mpq.lattice.lattice import Lattice

_INF = float("inf")


class Path:
    """One path through a lattice (read-only).

    Unpacks as ``words, graph_cost, acoustic_cost = path``.

    Attributes:
        words: word ids along the path, epsilons removed.
        graph_cost, acoustic_cost: sums of the lattice's own (unscaled, penalty-free) costs along
            the path, final weight included (negated natural logs).
        cost: the objective the path was chosen by: the scaled, penalised total cost.
        arcs: indices of the arcs taken, in order.
        final_state: the state the path ends in.
    """

    __slots__ = ("words", "graph_cost", "acoustic_cost", "cost", "arcs", "final_state")

    def __init__(self, words: tuple[int, ...], graph_cost: float, acoustic_cost: float, cost: float,
                 arcs: np.ndarray, final_state: int):
        self.words = words
        self.graph_cost = graph_cost
        self.acoustic_cost = acoustic_cost
        self.cost = cost
        self.arcs = arcs
        self.final_state = final_state

    def __iter__(self) -> Iterator[Any]:
        return iter((self.words, self.graph_cost, self.acoustic_cost))

    def __repr__(self) -> str:
        return f"Path(words={self.words}, cost={self.cost})"


class PathSearch:
    """Best paths of a list of lattices under any scales and penalty; structures built once.

    Args:
        lattices: topologically sorted lattices (as every :class:`Lattice` is).
    """

    def __init__(self, lattices: Sequence[Lattice]):
        self.lattices = list(lattices)
        nl = len(self.lattices)
        ns = np.fromiter((lat.num_states for lat in self.lattices), dtype=np.int64, count=nl)
        na = np.fromiter((len(lat.src) for lat in self.lattices), dtype=np.int64, count=nl)
        self.state_off = np.zeros(nl + 1, dtype=np.int64)
        np.cumsum(ns, out=self.state_off[1:])
        self.arc_off = np.zeros(nl + 1, dtype=np.int64)
        np.cumsum(na, out=self.arc_off[1:])
        self.lat_of_state = np.repeat(np.arange(nl), ns)
        lat_of_arc = np.repeat(np.arange(nl), na)

        names = ("dst", "src", "word", "graph_cost", "acoustic_cost", "final_graph", "final_acoustic")
        if nl:
            fields = zip(*map(operator.attrgetter(*names), self.lattices))
            dst, src, word, graph, acoustic, fgraph, facoustic = (np.concatenate(x) for x in fields)
        else:
            dst = src = word = np.zeros(0, dtype=np.int32)
            graph = acoustic = fgraph = facoustic = np.zeros(0)
        self.local_dst = dst
        self.src = src.astype(np.int64) + self.state_off[lat_of_arc]
        self.dst = self.local_dst + self.state_off[lat_of_arc]
        self.word, self.graph, self.acoustic = word, graph, acoustic
        self.final_graph, self.final_acoustic = fgraph, facoustic
        # Pull schedule: step k computes the cost of local state k of every lattice from its
        # incoming arcs; arcs ordered by (k, lattice, arc) -- a stable sort on k alone, as arcs are
        # already in (lattice, arc) order -- so that each step is one contiguous slice.
        max_k = int(ns.max()) if nl else 0
        key = self.local_dst.astype(np.uint16 if max_k <= 1 << 16 else np.int64)
        order = np.argsort(key, kind="stable")
        self._order = order
        dst_sorted = self.dst[order]
        new_seg = np.empty(len(order), dtype=bool)
        new_seg[:1] = True
        np.not_equal(dst_sorted[1:], dst_sorted[:-1], out=new_seg[1:])
        seg_start = np.flatnonzero(new_seg)
        k_bounds = np.searchsorted(self.local_dst[order][seg_start], np.arange(max_k + 1)).tolist()
        seg_l = seg_start.tolist() + [len(order)]
        self._steps = []
        for k in range(1, max_k):
            s0, s1 = k_bounds[k], k_bounds[k + 1]
            if s0 == s1:
                continue
            a0, a1 = seg_l[s0], seg_l[s1]
            seg = seg_start[s0:s1] - a0 if s1 - s0 < a1 - a0 else None  # None: one arc per state
            self._steps.append((a0, a1, seg, dst_sorted[seg_start[s0:s1]]))
        self._src_sorted = self.src[order]

    def costs(self, acoustic_scale: float, lm_scale: float, word_ins_penalty: float) -> tuple[np.ndarray, np.ndarray]:
        """(arc costs [A], final costs [S]) over all lattices, Kaldi's float32 semantics."""
        arc = total_arc_costs(self.graph, self.acoustic, self.word, acoustic_scale, lm_scale, word_ins_penalty)
        fin = scale_costs(self.final_graph, lm_scale) + scale_costs(self.final_acoustic, acoustic_scale)
        return arc, fin

    def forward(self, arc_cost: np.ndarray) -> np.ndarray:
        """Best cost from the start to every state [S total] (float64)."""
        d = np.full(int(self.state_off[-1]), _INF)
        d[self.state_off[:-1]] = 0.0
        cs = arc_cost[self._order]
        src = self._src_sorted
        minimum_at = np.minimum.reduceat
        for a0, a1, seg, dst in self._steps:
            cand = d[src[a0:a1]]
            cand += cs[a0:a1]
            d[dst] = cand if seg is None else minimum_at(cand, seg)
        return d

    def best_paths(self, acoustic_scale: float = 1.0, lm_scale: float = 1.0,
                   word_ins_penalty: float = 0.0) -> list[Optional[Path]]:
        """The best path of every lattice (None where no final state is reachable)."""
        nl = len(self.lattices)
        if nl == 0:
            return []
        arc_cost, fin_cost = self.costs(acoustic_scale, lm_scale, word_ins_penalty)
        d = self.forward(arc_cost)
        src, dst = self.src, self.dst
        # The arc into each state: the first arc (in arc order) reaching d[dst]; its source is the
        # state's predecessor. Between predecessor and state Kaldi takes the pred->state arc of least
        # own cost (first on ties): such arcs reach d[dst] too, so they are hits as well; usually
        # the first hit is the only one from pred.
        cand = d[src] + arc_cost
        hit = np.flatnonzero((cand == d[dst]) & (cand < _INF))
        n_arcs = len(src)
        arc_into = np.full(len(d), n_arcs, dtype=np.int64)
        np.minimum.at(arc_into, dst[hit], hit)
        reached = arc_into < n_arcs
        pred = np.full(len(d), -1, dtype=np.int64)
        pred[reached] = src[arc_into[reached]]
        mine = hit[src[hit] == pred[dst[hit]]]
        n_into = np.bincount(dst[mine], minlength=len(d))
        multi = mine[n_into[dst[mine]] > 1]
        if len(multi):
            srt = multi[np.lexsort((multi, arc_cost[multi], dst[multi]))]
            first = np.r_[True, dst[srt][1:] != dst[srt][:-1]]
            arc_into[dst[srt[first]]] = srt[first]  # one entry per state
        arc_into[~reached] = -1
        # Final state: first state with the least total cost (each lattice has one: its minimum).
        tot = d + fin_cost
        best = np.minimum.reduceat(tot, self.state_off[:-1])
        eq = np.flatnonzero(tot == best[self.lat_of_state])
        pos = np.searchsorted(eq, self.state_off[:-1])  # (with NaN costs a lattice may have none)
        final_of = eq[np.minimum(pos, len(eq) - 1)] if len(eq) else self.state_off[:-1].copy()
        return self._trace(final_of, best, arc_into)

    def _trace(self, final_of: np.ndarray, best: np.ndarray, arc_into: np.ndarray) -> list[Optional[Path]]:
        """Paths from the final states back to the starts (all lattices in step), as :class:`Path`."""
        nl = len(final_of)
        ok = np.isfinite(best)
        # Walk back from every final state at once. The start state of lattice i points to a
        # sentinel arc A + i whose source is that start state, so finished paths stay put.
        n_arcs = len(self.src)
        starts = self.state_off[:-1]
        into = arc_into.copy()
        into[starts] = n_arcs + np.arange(nl)
        src = np.concatenate([self.src, starts])
        cur = final_of[ok]
        steps = []
        while True:
            arc = into[cur]
            if not len(arc) or arc.min() >= n_arcs:
                break
            steps.append(arc)
            cur = src[arc]
        taken = np.asarray(steps[::-1]).T if steps else np.zeros((int(ok.sum()), 0), dtype=np.int64)
        real = taken < n_arcs
        length = np.zeros(nl, dtype=np.int64)
        length[ok] = real.sum(axis=1)
        bounds = np.zeros(nl + 1, dtype=np.int64)
        np.cumsum(length, out=bounds[1:])
        path_arcs = taken[real]
        path_lat = np.repeat(np.arange(nl), length)
        local = path_arcs - self.arc_off[path_lat]
        fs = np.where(ok, final_of, self.state_off[:-1])
        graph = np.bincount(path_lat, self.graph[path_arcs], nl) + self.final_graph[fs]
        acoustic = np.bincount(path_lat, self.acoustic[path_arcs], nl) + self.final_acoustic[fs]
        word = self.word[path_arcs]
        has_word = word != 0
        words = word[has_word].tolist()
        word_bounds = np.zeros(nl + 1, dtype=np.int64)
        np.cumsum(np.bincount(path_lat[has_word], minlength=nl), out=word_bounds[1:])
        wb, b = word_bounds.tolist(), bounds.tolist()
        fs_local = (fs - self.state_off[:-1]).tolist()
        graph_l, acoustic_l, best_l = graph.tolist(), acoustic.tolist(), best.tolist()
        return [Path(tuple(words[wb[li]:wb[li + 1]]), graph_l[li], acoustic_l[li], best_l[li],
                             local[b[li]:b[li + 1]], fs_local[li]) if good else None
                for li, good in enumerate(ok.tolist())]


def _make_path(lat: Lattice, arcs: np.ndarray, final_state: int, cost: float) -> Path:
    w = lat.word[arcs]
    return Path(
        words=tuple(w[w != 0].tolist()),
        graph_cost=float(lat.graph_cost[arcs].sum() + lat.final_graph[final_state]),
        acoustic_cost=float(lat.acoustic_cost[arcs].sum() + lat.final_acoustic[final_state]),
        cost=cost, arcs=arcs, final_state=final_state,
    )


def best_paths(lattices: Sequence[Lattice], acoustic_scale: float = 1.0, lm_scale: float = 1.0,
               word_ins_penalty: float = 0.0) -> list[Optional[Path]]:
    """Best path of each lattice (Kaldi ``lattice-best-path`` semantics); None where none exists."""
    return PathSearch(lattices).best_paths(acoustic_scale, lm_scale, word_ins_penalty)


def forward_backward_best(lat: Lattice, arc_cost: np.ndarray, final_cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, beta) [S]: best cost from the start to each state, and from each state to the end."""
    alpha = PathSearch([lat]).forward(arc_cost)
    beta = final_cost.copy()
    off = lat.arc_offsets
    dst = lat.dst
    for s in range(lat.num_states - 1, -1, -1):
        a0, a1 = off[s], off[s + 1]
        if a1 > a0:
            beta[s] = min(beta[s], float(np.min(arc_cost[a0:a1] + beta[dst[a0:a1]])))
    return alpha, beta


def nbest(lat: Lattice, n: int, acoustic_scale: float = 1.0, lm_scale: float = 1.0,
          word_ins_penalty: float = 0.0) -> list[Path]:
    """Up to ``n`` paths with distinct word sequences, in non-decreasing cost order.

    Paths are enumerated exactly in cost order (best-first search with the exact cost-to-go as
    heuristic; equal costs in the order found, arcs in order) and a path whose word sequence was
    already output is skipped, so the result is the n best *distinct word sequences* whether or not
    the lattice is determinized (on a determinized lattice, as Kaldi's decoders write them, these are
    the paths of Kaldi's ``lattice-to-nbest``; :mod:`kaldi_mpq.lattice.nbest_lattices` writes them as
    it does). The first entry is the best path.

    Two rules keep the search within ``n`` expansions per state (memory O(n x arcs)) however many
    paths tie, without changing the result: a partial path that reaches a state with the same words
    as one already expanded there is dropped (its completions repeat those words at no lower cost),
    and a state is expanded for at most ``n`` partial paths (their distinct words followed by the best
    suffix are already ``n`` distinct sequences no worse than anything through a later one).
    """
    if n <= 0:
        return []
    cost = total_arc_costs(lat.graph_cost, lat.acoustic_cost, lat.word, acoustic_scale, lm_scale, word_ins_penalty)
    fin = scale_costs(lat.final_graph, lm_scale) + scale_costs(lat.final_acoustic, acoustic_scale)
    _, beta = forward_backward_best(lat, cost, fin)
    if not np.isfinite(beta[0]):
        return []
    off = lat.arc_offsets.tolist()
    dst = lat.dst.tolist()
    word = lat.word.tolist()
    cost_l = cost.tolist()
    beta_l = beta.tolist()
    fin_l = fin.tolist()
    # Word prefixes are interned: prefix id of (prefix id, word); 0 is the empty prefix.
    prefix_ids: dict[tuple[int, int], int] = {}
    expanded: set[tuple[int, int]] = set()  # (state, prefix) pairs expanded
    times_expanded = [0] * lat.num_states
    output_prefixes: set[int] = set()
    # heap items: (estimated total, tie counter, cost so far, state (or -1 - final state when
    # complete), word prefix id, arcs taken as a linked list (arc, previous) or None)
    counter = 0
    heap: list[tuple] = [(beta_l[0], 0, 0.0, 0, 0, None)]
    out: list[Path] = []
    while heap and len(out) < n:
        est, _, g, s, prefix, arcs = heapq.heappop(heap)
        if s < 0:
            if prefix not in output_prefixes:
                output_prefixes.add(prefix)
                taken = []
                while arcs is not None:
                    taken.append(arcs[0])
                    arcs = arcs[1]
                out.append(_make_path(lat, np.asarray(taken[::-1], dtype=np.int64), -1 - s, est))
            continue
        if (s, prefix) in expanded or times_expanded[s] >= n:
            continue
        expanded.add((s, prefix))
        times_expanded[s] += 1
        if fin_l[s] < _INF:
            counter += 1
            heapq.heappush(heap, (g + fin_l[s], counter, g + fin_l[s], -1 - s, prefix, arcs))
        for a in range(off[s], off[s + 1]):
            d = dst[a]
            if beta_l[d] == _INF:
                continue
            g2 = g + cost_l[a]
            counter += 1
            p2 = prefix
            if word[a]:
                p2 = prefix_ids.setdefault((prefix, word[a]), len(prefix_ids) + 1)
            heapq.heappush(heap, (g2 + beta_l[d], counter, g2, d, p2, (a, arcs)))
    return out
