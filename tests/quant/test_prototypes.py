"""Uniform prototypes: trained per bit-width, the better method kept, inherited cluster by cluster by a
mixed plan, saved and loaded."""

from collections import OrderedDict

import numpy as np
import pytest
import torch

from kaldi_mpq.errors import CheckpointError, ConfigError, PlanError
from kaldi_mpq.lm.checkpoint import build_model
from kaldi_mpq.quant import TrainingData
from kaldi_mpq.quant.clusters import as_rows
from kaldi_mpq.quant.layout import QuantLayout
from kaldi_mpq.quant.plan import Plan
from kaldi_mpq.quant.prototypes import load_prototypes, save_prototypes, train_prototypes
from kaldi_mpq.text.batching import SentenceBatches
from tests.quant.conftest import CONFIGS

SENTS = [[4 + (i * 7 + j) % 60 for j in range(3 + i % 5)] for i in range(48)]


@pytest.fixture(scope="module")
def data(symbols):
    return TrainingData(SentenceBatches(SENTS[:32], symbols.bos_id, symbols.eos_id, batch_size=8),
                        SentenceBatches(SENTS[32:], symbols.bos_id, symbols.eos_id, batch_size=8))


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def protos(request, symbols, data):
    """Trained once per model type for the module (the tests only read them)."""
    torch.manual_seed(0)
    model = build_model(CONFIGS[request.param], symbols)
    return model, train_prototypes(model, data, bits=(1, 2), method="auto", max_iters=1, steps_per_iter=2,
                                   lr=0.01, gamma=0.01)


def _distinct_per_cluster(p, bits):
    out = []
    for name in p.clusters:
        vals = torch.cat([v.reshape(-1) for v in p.cluster_weight(name, bits).values()])
        out.append(len(torch.unique(vals)))
    return out


def test_auto_keeps_the_better_method_per_bit_width(protos):
    model, p = protos
    assert p.bits == (1, 2) and p.method == "auto"
    for b in p.bits:
        hist = p.metadata["history"][b]
        assert set(hist) == {"bp", "admm"}
        best = min(hist, key=lambda m: min(hist[m]))
        assert p.metadata["methods"][b] == best
        assert p.valid_ppl[b] == pytest.approx(min(hist[best]))
    assert max(_distinct_per_cluster(p, 1)) <= 2  # binary: {-alpha, +alpha}
    assert max(_distinct_per_cluster(p, 2)) <= 3  # ternary
    params = dict(model.named_parameters())
    for n, t in p.reference.items():  # the model itself is left at its fp32 weights
        assert torch.equal(t, params[n].detach())


def test_apply_inherits_each_cluster_from_its_bit_width(protos):
    model, p = protos
    names = p.clusters
    plan = Plan(OrderedDict([("_default", 2), (names[0], 1), (names[-1], None)]))
    layout = p.apply(model, plan)
    params = dict(model.named_parameters())
    for k, name in enumerate(names):
        b = int(layout.bits[k])
        for param, rows in p.cluster_rows(name).items():
            got = as_rows(params[param].detach()).index_select(0, rows)
            assert torch.equal(got, p.cluster_weight(name, b)[param])
    for param, rows in layout.cmap.rows.items():  # rows outside clusters: the fp32 reference
        free = torch.from_numpy(np.flatnonzero(rows < 0))
        assert torch.equal(as_rows(params[param].detach())[free], as_rows(p.reference[param])[free])
    # the inherited weights already lie on the plan's grid: re-quantizing leaves them (to rounding) unchanged
    before = {n: t.detach().clone() for n, t in params.items()}
    QuantLayout(model, plan).quantize_model()
    for n, t in model.named_parameters():
        torch.testing.assert_close(t.detach(), before[n], rtol=0, atol=1e-6)


def test_apply_rejects_missing_bit_width_and_other_layout(protos):
    model, p = protos
    with pytest.raises(PlanError, match="no prototype at 4 bits"):
        p.apply(model, Plan.uniform(4))
    with pytest.raises(PlanError, match="cluster layout layer/float differs"):
        p.apply(model, Plan.uniform(2, granularity="layer"))


def test_save_load_round_trip(protos, tmp_path):
    model, p = protos
    save_prototypes(p, tmp_path / "protos")
    q = load_prototypes(tmp_path / "protos")
    assert q.bits == p.bits and q.method == p.method and q.clusters == p.clusters
    assert q.valid_ppl == pytest.approx(p.valid_ppl)
    assert q.metadata["methods"] == p.metadata["methods"]
    for b in p.bits:
        for n, t in p.weights[b].items():
            assert torch.equal(q.weights[b][n], t)
    for n in p.cmap.rows:
        assert np.array_equal(q.cmap.rows[n], p.cmap.rows[n])
    plan = Plan(OrderedDict([("_default", 1), (p.clusters[1], 2)]))
    m2 = type(model)  # the loaded prototypes apply the same way as the trained ones
    p.apply(model, plan)
    a = {n: t.detach().clone() for n, t in model.named_parameters()}
    q.apply(model, plan)
    for n, t in model.named_parameters():
        assert torch.equal(t.detach(), a[n]), (m2, n)


def test_load_errors_name_the_file(tmp_path, protos):
    with pytest.raises(CheckpointError, match="prototypes.yaml"):
        load_prototypes(tmp_path)
    _, p = protos
    save_prototypes(p, tmp_path / "p")
    (tmp_path / "p" / "prototypes.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="prototypes.safetensors"):
        load_prototypes(tmp_path / "p")


def test_bad_options(model_and_config, data):
    model, _ = model_and_config
    with pytest.raises(ConfigError, match="method"):
        train_prototypes(model, data, method="sgd")
    with pytest.raises(ConfigError, match="bits"):
        train_prototypes(model, data, bits=(16,))
    with pytest.raises(ConfigError, match="unknown"):
        train_prototypes(model, data, bits=(2,), method="bp", learning_rate=1)
