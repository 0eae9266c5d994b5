"""Bit allocation: the plan of least summed sensitivity within a size budget, exactly.

Sensitivities are additive over clusters (:mod:`kaldi_mpq.quant.sensitivity`), so choosing one bit-width
per cluster to minimise their sum under a size budget is a multiple-choice knapsack. Sizes are exact
integers in bits, so nothing is rounded:

- budget ``avg_bits``: the parameter-weighted average bits of the clustered weights
  (:func:`kaldi_mpq.quant.plan.average_bits`, what ``#bit`` in ``quant-report`` shows): cluster ``c``
  at ``n`` bits costs ``|c| * n`` and the budget is ``avg_bits * sum |c|``;
- budget ``mb``: the packed file (10^6 bytes): each cluster's codes and scale or fp16/fp32 values
  (:func:`kaldi_mpq.quant.layout.storage_bits`, the accounting of ``QuantLayout.ideal_bytes`` and of
  ``quant-report``), plus the weights outside clusters that stay fp32, plus a reserve of
  :data:`HEADER_RESERVE` bytes and one byte per cluster for the safetensors header and the byte
  padding of segments.

Solvers (both exact, both never over budget):

- ``dp``: dynamic programming over clusters that keeps, after each cluster, every non-dominated
  (integer cost, summed sensitivity) pair -- the DP table over the integer cost grid with the dominated
  entries dropped. Its last stage is the whole Pareto front (size against summed sensitivity), so one
  run answers every budget; with a budget, states over it are dropped as they appear.
- ``ilp``: a 0/1 program ``x[c, n]`` with ``sum_n x[c, n] = 1`` per cluster and the budget as one
  linear constraint, solved by HiGHS through ``scipy.optimize.milp``.

The tie rule: among plans of equal summed sensitivity the smaller one wins.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from kaldi_mpq.errors import ConfigError, PlanError
from kaldi_mpq.fileio import Pathlike, atomic_write
from kaldi_mpq.quant.layout import ideal_bytes_of, storage_bits
from kaldi_mpq.quant.plan import FLOAT_BITS, Plan
from kaldi_mpq.quant.sensitivity import SensitivityTable

BUDGET_KINDS = ("avg_bits", "mb")
SOLVERS = ("dp", "ilp")
#: Bytes kept free under an MB budget for the safetensors header (a JSON index of at most 11 tensors
#: and the checksum metadata; about 700 bytes measured) -- one byte per cluster is added for padding.
HEADER_RESERVE = 2048


@dataclass
class Allocation:
    """One plan chosen by the allocation: ``bits`` per cluster (table order), its summed sensitivity,
    average bits and ideal packed bytes (without header), and the budget it was chosen for."""

    bits: np.ndarray
    sensitivity: float
    average_bits: float
    ideal_bytes: int
    budget: Optional[float] = None
    budget_kind: str = "avg_bits"
    info: dict = field(default_factory=dict)

    def plan(self, table: SensitivityTable, **metadata) -> Plan:
        """The plan (one exact key per cluster; 32 bits written as ``null``) with how it was chosen."""
        bits = OrderedDict((c, None if int(b) == FLOAT_BITS else int(b)) for c, b in zip(table.clusters, self.bits))
        meta = {"metric": table.metric, "budget": self.budget, "budget_kind": self.budget_kind,
                "sensitivity": float(self.sensitivity), "average_bits": round(float(self.average_bits), 4),
                "ideal_bytes": int(self.ideal_bytes), **self.info, **metadata}
        return table.plan_base.with_bits(bits, "allocation", meta)


@dataclass
class _Problem:
    """Integer costs ``[C, B]``, sensitivities ``[C, B]`` and the bit-width of each column."""

    costs: np.ndarray
    values: np.ndarray
    bits: np.ndarray
    capacity: Optional[int]


def _choices(table: SensitivityTable, bits: Optional[Sequence[int]]) -> np.ndarray:
    cols = np.array(table.bits if bits is None else sorted(set(int(b) for b in bits)), dtype=np.int64)
    missing = [int(b) for b in cols if int(b) not in table.bits]
    if missing:
        raise PlanError(f"bit-widths {missing} are not columns of the {table.metric} table {table.bits}")
    return cols


def _problem(table: SensitivityTable, budget: Optional[float], kind: str,
             bits: Optional[Sequence[int]]) -> _Problem:
    if kind not in BUDGET_KINDS:
        raise ConfigError(f"budget kind must be one of {', '.join(BUDGET_KINDS)}, got {kind!r}")
    cols = _choices(table, bits)
    idx = [table.bits.index(int(b)) for b in cols]
    values = table.values[:, idx]
    sizes = table.sizes.astype(np.int64)
    if kind == "avg_bits":
        costs = sizes[:, None] * cols[None, :]
        cap = None if budget is None else int(np.floor(budget * sizes.sum() + 1e-9))
    else:
        costs = storage_bits(sizes[:, None], cols[None, :])
        cap = None
        if budget is not None:
            fixed = FLOAT_BITS * table.float_weights + 8 * (HEADER_RESERVE + len(sizes))
            cap = int(np.floor(budget * 1e6 * 8)) - fixed
    return _Problem(costs, values, cols, cap)


def _greedy(p: _Problem) -> float:
    """Summed sensitivity of a feasible plan (cheapest choices, then the upgrades of best sensitivity
    gain per cost that still fit): an upper bound on the optimum for pruning; ``inf`` if none fits."""
    C = p.costs.shape[0]
    pick = p.costs.argmin(1)
    used = p.costs[np.arange(C), pick].sum()
    if used > p.capacity:
        return np.inf
    while True:
        cur_c, cur_v = p.costs[np.arange(C), pick][:, None], p.values[np.arange(C), pick][:, None]
        dc, dv = p.costs - cur_c, cur_v - p.values
        ok = (dv > 0) & (used + dc <= p.capacity)
        if not ok.any():
            return float(p.values[np.arange(C), pick].sum())
        ratio = np.where(ok, dv / np.maximum(dc, 1), -np.inf)
        c, b = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        used += dc[c, b]
        pick[c] = b


def _pareto_dp(p: _Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-dominated ``(cost, value)`` states after all clusters and the choice index of every cluster
    for each (``[states, C]``).

    With a capacity, a state is also dropped when even the cheapest choices of the clusters still to
    come would not fit, or when even their least sensitive choices could not beat a feasible plan found
    greedily: neither can be part of an optimum, so the result stays exact."""
    C = p.costs.shape[0]
    cost = np.zeros(1, dtype=np.int64)
    value = np.zeros(1, dtype=np.float64)
    parents, choices = [], []
    rest_cost = np.concatenate([np.cumsum(p.costs.min(1)[::-1])[::-1][1:], [0]])
    rest_value = np.concatenate([np.cumsum(p.values.min(1)[::-1])[::-1][1:], [0.0]])
    bound = _greedy(p) if p.capacity is not None else np.inf
    slack = 1e-9 * (1 + abs(bound)) if np.isfinite(bound) else 0.0
    for c in range(C):
        cand_cost = (cost[:, None] + p.costs[c][None, :]).ravel()
        cand_value = (value[:, None] + p.values[c][None, :]).ravel()
        parent = np.repeat(np.arange(cost.size), p.costs.shape[1])
        choice = np.tile(np.arange(p.costs.shape[1]), cost.size)
        if p.capacity is not None:
            ok = (cand_cost + rest_cost[c] <= p.capacity) & (cand_value + rest_value[c] <= bound + slack)
            cand_cost, cand_value, parent, choice = cand_cost[ok], cand_value[ok], parent[ok], choice[ok]
        if cand_cost.size == 0:
            raise PlanError("no plan fits the budget (even the smallest bit-width of every cluster is over it)")
        order = np.lexsort((cand_value, cand_cost))  # by cost, then value
        cv = cand_value[order]
        best_before = np.minimum.accumulate(np.concatenate([[np.inf], cv[:-1]]))
        keep = order[cv < best_before]  # strictly better than every cheaper (or equal-cost earlier) state
        cost, value = cand_cost[keep], cand_value[keep]
        parents.append(parent[keep])
        choices.append(choice[keep])
    picks = np.zeros((cost.size, C), dtype=np.int64)
    state = np.arange(cost.size)
    for c in range(C - 1, -1, -1):
        picks[:, c] = choices[c][state]
        state = parents[c][state]
    return cost, value, picks


def _ilp(p: _Problem) -> np.ndarray:
    from kaldi_mpq.extras import import_extra

    optimize = import_extra("scipy.optimize", extra="mp", feature="the ILP allocation solver")
    Bounds, LinearConstraint, milp = optimize.Bounds, optimize.LinearConstraint, optimize.milp

    C, B = p.costs.shape
    one_each = np.zeros((C, C * B))
    for c in range(C):
        one_each[c, c * B:(c + 1) * B] = 1
    constraints = [LinearConstraint(one_each, 1, 1)]
    if p.capacity is not None:
        constraints.append(LinearConstraint(p.costs.reshape(1, -1).astype(np.float64), -np.inf, p.capacity))
    res = milp(p.values.ravel(), constraints=constraints, integrality=np.ones(C * B), bounds=Bounds(0, 1),
               options={"mip_rel_gap": 0.0})
    if res.x is None:
        raise PlanError(f"no plan fits the budget ({res.message})")
    picks = np.round(res.x).reshape(C, B).argmax(1)
    if p.capacity is not None and p.costs[np.arange(C), picks].sum() > p.capacity:  # never over budget
        raise PlanError("the ILP solver returned a plan over the budget")
    return picks


def _allocation(table: SensitivityTable, p: _Problem, picks: np.ndarray, budget, kind, solver) -> Allocation:
    bits = p.bits[picks]
    sizes = table.sizes.astype(np.int64)
    return Allocation(bits, float(p.values[np.arange(len(picks)), picks].sum()),
                      float((sizes * bits).sum() / max(sizes.sum(), 1)),
                      ideal_bytes_of(sizes, bits, table.float_weights), budget, kind, {"solver": solver})


def allocate(table: SensitivityTable, budget: float, kind: str = "avg_bits", solver: str = "dp",
             bits: Optional[Sequence[int]] = None) -> Allocation:
    """The plan of least summed sensitivity within ``budget`` (average bits or MB, module docstring).

    ``bits`` restricts the choices to some of the table's columns (default: all of them).

    Raises:
        PlanError: no plan fits the budget.
    """
    if solver not in SOLVERS:
        raise ConfigError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    p = _problem(table, budget, kind, bits)
    if solver == "ilp":
        picks = _ilp(p)
    else:
        cost, value, all_picks = _pareto_dp(p)
        picks = all_picks[int(np.argmin(value))]  # the front's value falls with cost: its last is the best
    return _allocation(table, p, picks, budget, kind, solver)


def pareto_front(table: SensitivityTable, kind: str = "mb", bits: Optional[Sequence[int]] = None
                 ) -> list[Allocation]:
    """Every plan on the Pareto front of size (``kind``) against summed sensitivity, smallest first."""
    p = _problem(table, None, kind, bits)
    _, _, picks = _pareto_dp(p)
    return [_allocation(table, p, row, None, kind, "dp") for row in picks]


def write_pareto(front: Sequence[Allocation], path: Pathlike) -> None:
    """``pareto.tsv``: average bits, ideal bytes, MB, summed sensitivity, bits per cluster."""
    with atomic_write(path) as f:
        f.write("average_bits\tideal_bytes\tsize_mb\tsensitivity\tbits\n")
        for a in front:
            f.write(f"{a.average_bits:.4f}\t{a.ideal_bytes}\t{a.ideal_bytes / 1e6:.6f}\t{a.sensitivity:.6g}\t"
                    f"{','.join(map(str, a.bits.tolist()))}\n")
