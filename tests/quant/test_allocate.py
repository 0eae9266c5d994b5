"""Bit allocation: the exact optimum (brute force on small problems), never over budget (property test),
the Pareto front, and MB budgets that hold for the real packed file."""

import itertools
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kaldi_mpq.errors import PlanError
from kaldi_mpq.lm.checkpoint import build_model
from kaldi_mpq.quant import PTQConfig, quantize_, save_packed
from kaldi_mpq.quant.allocate import allocate, pareto_front, write_pareto
from kaldi_mpq.quant.clusters import enumerate_clusters, fold_lstm_biases
from kaldi_mpq.quant.layout import QuantLayout, free_float_weights
from kaldi_mpq.quant.packed import PACKED_FILE
from kaldi_mpq.quant.plan import Plan
from kaldi_mpq.quant.sensitivity import SensitivityTable


def _table(sizes, values, bits=(1, 2, 4, 8), float_weights=0):
    names = [f"c{i}" for i in range(len(sizes))]
    return SensitivityTable("kl", names, tuple(bits), np.asarray(values, dtype=np.float64),
                            np.asarray(sizes, dtype=np.int64), float_weights, Plan.uniform(None))


def _brute(table, budget_bits_total):
    best = None
    for combo in itertools.product(range(len(table.bits)), repeat=len(table.clusters)):
        b = np.array(table.bits)[list(combo)]
        if (table.sizes * b).sum() > budget_bits_total:
            continue
        v = table.values[np.arange(len(combo)), list(combo)].sum()
        if best is None or v < best - 1e-12:
            best = v
    return best


problems = st.integers(1, 5).flatmap(lambda C: st.tuples(
    st.lists(st.integers(1, 500), min_size=C, max_size=C),
    st.lists(st.lists(st.floats(0, 10, allow_nan=False), min_size=4, max_size=4), min_size=C, max_size=C),
    st.floats(1.0, 8.0)))


@settings(max_examples=60, deadline=None)
@given(problems)
def test_equals_brute_force_and_never_over_budget(problem):
    sizes, values, avg = problem
    table = _table(sizes, values)
    cap = int(np.floor(avg * sum(sizes) + 1e-9))
    best = _brute(table, cap)
    for solver in ("dp", "ilp"):
        a = allocate(table, avg, "avg_bits", solver=solver)
        assert (table.sizes * a.bits).sum() <= cap  # never over budget
        assert a.average_bits <= avg + 1e-12
        # the DP is exact; HiGHS solves the ILP to its own optimality tolerance (~1e-9 absolute)
        assert a.sensitivity == pytest.approx(best, abs=1e-9 if solver == "dp" else 1e-6)


def test_pareto_front_is_the_lower_envelope_of_all_plans():
    rng = np.random.default_rng(0)
    table = _table(rng.integers(1, 100, 5), rng.random((5, 4)) * np.array([8, 4, 2, 1]))
    front = pareto_front(table, "avg_bits")
    costs = [int((table.sizes * a.bits).sum()) for a in front]
    sens = [a.sensitivity for a in front]
    assert costs == sorted(costs) and all(np.diff(sens) < 0)
    for budget_cost in range(int(table.sizes.sum()), 8 * int(table.sizes.sum()) + 1, 37):
        best_on_front = min(s for c, s in zip(costs, sens) if c <= budget_cost)
        assert best_on_front == pytest.approx(_brute(table, budget_cost))


def test_infeasible_budget_is_an_error():
    with pytest.raises(PlanError, match="budget"):
        allocate(_table([10, 10], [[1, 1, 1, 1]] * 2), 0.5)
    with pytest.raises(PlanError, match="budget"):
        allocate(_table([10, 10], [[1, 1, 1, 1]] * 2), 0.5, solver="ilp")


def test_prefers_sensitive_clusters_and_writes_a_plan(tmp_path):
    # two equal clusters, 2.5 bits on average: the sensitive one gets 4 bits, the other 1
    table = _table([100, 100], [[9, 5, 1, 0], [1, 0.5, 0.2, 0]])
    a = allocate(table, 2.5)
    assert a.bits.tolist() == [4, 1] and a.average_bits == 2.5
    plan = a.plan(table, prototypes="exp/protos")
    plan.write(tmp_path / "plan.yaml")
    back = Plan.read(tmp_path / "plan.yaml")
    assert back.bits == OrderedDict(c0=4, c1=1) and back.metadata["metric"] == "kl"
    assert back.metadata["prototypes"] == "exp/protos"
    write_pareto(pareto_front(table, "avg_bits"), tmp_path / "pareto.tsv")
    lines = (tmp_path / "pareto.tsv").read_text().splitlines()
    assert lines[0].startswith("average_bits\tideal_bytes") and lines[1].endswith("1,1")


@pytest.mark.parametrize("mb_budget_fraction", [0.08, 0.12, 0.3])
def test_mb_budget_holds_for_the_real_packed_file(symbols, tmp_path, mb_budget_fraction):
    torch.manual_seed(0)
    model = build_model(dict(type="lstm", embed_dim=32, hidden_dim=32, num_layers=2), symbols)
    fold_lstm_biases(model)
    cmap = enumerate_clusters(model)
    rng = np.random.default_rng(1)
    bits = (1, 2, 4, 8, 32)
    values = np.sort(rng.random((len(cmap.names), len(bits))), axis=1)[:, ::-1] * [1, 1, 1, 1, 0]
    table = SensitivityTable("kl", list(cmap.names), bits, values, cmap.cluster_sizes(), free_float_weights(cmap),
                             Plan.uniform(None))
    fp32_mb = 4 * sum(p.numel() for p in model.parameters()) / 1e6
    budget = mb_budget_fraction * fp32_mb
    a = allocate(table, budget, "mb")
    plan = a.plan(table)
    result = quantize_(model, PTQConfig(plan=plan))
    assert result.layout.ideal_bytes() == a.ideal_bytes  # the same accounting as the packed format
    save_packed(tmp_path / "m", result.layout, result.alpha, result.codes, {"type": "lstm"}, symbols)
    assert (tmp_path / "m" / PACKED_FILE).stat().st_size <= budget * 1e6
    assert allocate(table, budget, "mb", solver="ilp").sensitivity == pytest.approx(a.sensitivity)


def test_layout_ideal_bytes_unchanged_by_the_shared_size_rule(model_and_config):
    model, _ = model_and_config
    plan = Plan(OrderedDict([("_default", 2), ("embedding", 16), ("output", None)]))
    layout = QuantLayout(model, plan)
    sizes = layout.cmap.cluster_sizes()
    coded = layout.coded_cluster
    expect = (sizes[coded] * layout.bits[coded]).sum() / 8 + 4 * coded.sum()
    expect += sum(s.count * s.bits / 8 for s in layout.segments if s.bits not in (1, 2, 3, 4, 5, 6, 8))
    assert layout.ideal_bytes() == int(np.ceil(expect))
