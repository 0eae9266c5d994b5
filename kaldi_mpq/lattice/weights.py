"""Kaldi's float32 weight arithmetic on lattice costs (``lattice-scale``, ``lattice-add-penalty``).

Kaldi keeps lattice weights as float32 and its scales and penalties as float32 options; every
product or sum is rounded back to float32. The arrays here are float64 holding float32 values, and
these functions round exactly as Kaldi does, so that best paths agree with Kaldi's to the last tie.
"""

from __future__ import annotations

import numpy as np

from kaldi_mpq.errors import LatticeFormatError

INF = float("inf")


def kaldi_float(x: float) -> float:
    """``x`` rounded to float32, as Kaldi's ``BaseFloat`` options are."""
    return float(np.float32(x))


def scale_costs(costs: np.ndarray, scale: float) -> np.ndarray:
    """Kaldi's ScaleLattice on one cost component: float32(cost * float32(scale)); +inf stays +inf."""
    s = kaldi_float(scale)
    if s == 1.0:
        return costs
    with np.errstate(invalid="ignore"):
        out = (costs * s).astype(np.float32).astype(np.float64)
    out[np.isposinf(costs)] = INF
    return out


def penalised_costs(graph_cost: np.ndarray, word: np.ndarray, penalty: float) -> np.ndarray:
    """Kaldi's AddWordInsPenToCompactLattice: float32(graph + float32(penalty)) on word arcs."""
    p = kaldi_float(penalty)
    if p == 0.0:
        return graph_cost
    added = (graph_cost.astype(np.float32) + np.float32(p)).astype(np.float64)
    return np.where(word != 0, added, graph_cost)


def total_arc_costs(graph_cost: np.ndarray, acoustic_cost: np.ndarray, word: np.ndarray, acoustic_scale: float,
                    lm_scale: float, word_ins_penalty: float) -> np.ndarray:
    """float64 [A]: each arc's total cost after ``lattice-scale`` and ``lattice-add-penalty``, summed
    in double as Kaldi's shortest path does."""
    g = scale_costs(graph_cost, lm_scale)
    if word_ins_penalty != 0.0:
        g = penalised_costs(g, word, word_ins_penalty)
    return g + scale_costs(acoustic_cost, acoustic_scale)


def valid_weights(graph: np.ndarray, acoustic: np.ndarray) -> np.ndarray:
    """bool [n]: which (graph, acoustic) pairs are weights Kaldi accepts (``LatticeWeight::Member``):
    no NaN, no -inf, and +inf only in both parts (Zero: a non-final state's final weight)."""
    with np.errstate(invalid="ignore"):
        ok = (graph > -INF) & (acoustic > -INF)  # False for NaN too
    return ok & (np.isposinf(graph) == np.isposinf(acoustic))


def check_weights(where: str, graph: np.ndarray, acoustic: np.ndarray, final_graph: np.ndarray,
                  final_acoustic: np.ndarray) -> None:
    """Raise LatticeFormatError naming the first arc or final weight Kaldi would not accept."""
    for what, g, a in (("arc", graph, acoustic), ("final weight of state", final_graph, final_acoustic)):
        bad = np.flatnonzero(~valid_weights(g, a))
        if len(bad):
            i = int(bad[0])
            raise LatticeFormatError(
                f"{where}: {what} {i} has weight ({g[i]}, {a[i]}): NaN, -inf or a half-infinite weight "
                f"(Kaldi's lattice weights are finite, or +inf in both parts)")
