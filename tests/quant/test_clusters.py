import numpy as np
import pytest
import torch

from kaldi_mpq.errors import PlanError
from kaldi_mpq.quant.clusters import FLOAT, GRANULARITIES, ZERO, enumerate_clusters, fold_lstm_biases
from kaldi_mpq.quant.plan import Plan


@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("bias", ["column", "float"])
def test_every_weight_in_exactly_one_place(model_and_config, granularity, bias):
    model, _ = model_and_config
    fold_lstm_biases(model)
    cmap = enumerate_clusters(model, granularity, bias)
    params = dict(model.named_parameters())
    assert set(cmap.rows) == set(params)  # every (de-duplicated) parameter
    counted = np.zeros(len(cmap.names), dtype=np.int64)
    total = 0
    for name, rows in cmap.rows.items():
        p = params[name]
        assert rows.shape == (p.shape[0] if p.dim() else 1,)  # one owner per row
        width = int(np.prod(p.shape[1:])) if p.dim() > 1 else 1
        np.add.at(counted, rows[rows >= 0], width)
        total += int((rows >= 0).sum()) * width + int((rows < 0).sum()) * width
        if name.endswith(("weight",)) and "ln" not in name:
            assert (rows >= 0).all(), name  # every weight matrix is quantized
        if "bias_hh" in name:
            assert (rows == ZERO).all()
        if "ln" in name:
            assert (rows == FLOAT).all()
    assert (counted > 0).all()
    assert (counted == cmap.cluster_sizes()).all()
    assert total == sum(p.numel() for p in params.values())


def test_lstm_gate_clusters_hold_rows_of_both_matrices_and_bias(symbols):
    from kaldi_mpq.lm.checkpoint import build_model

    m = build_model(dict(type="lstm", embed_dim=8, hidden_dim=6, num_layers=2), symbols)
    fold_lstm_biases(m)
    cmap = enumerate_clusters(m, "gate", bias="column")
    f = cmap.names.index("rnn.l1.f")
    members = dict(cmap.members(f))
    assert set(members) == {"rnn.weight_ih_l1", "rnn.weight_hh_l1", "rnn.bias_ih_l1"}
    for rows in members.values():
        assert rows.tolist() == list(range(6, 12))
    # the default keeps biases in fp32: the gate cluster holds the two weight matrices only
    default = enumerate_clusters(m, "gate")
    assert set(dict(default.members(default.names.index("rnn.l1.f")))) == {"rnn.weight_ih_l1", "rnn.weight_hh_l1"}


def test_fold_keeps_the_function(symbols):
    from kaldi_mpq.lm.checkpoint import build_model

    torch.manual_seed(0)
    m = build_model(dict(type="lstm", embed_dim=8, hidden_dim=8, num_layers=2), symbols)
    x = torch.randint(4, 100, (2, 5))
    before = m(x)
    fold_lstm_biases(m)
    assert torch.allclose(m(x), before, atol=1e-6)
    assert not m.rnn.bias_hh_l0.requires_grad


def test_transformer_sublayers(symbols):
    from kaldi_mpq.lm.checkpoint import build_model

    m = build_model(dict(type="transformer", d_model=16, num_layers=2, num_heads=2, ff_dim=32), symbols)
    names = enumerate_clusters(m, "sublayer").names
    assert {"blocks.0.attn", "blocks.0.ff", "blocks.1.attn", "embedding", "output"} <= set(names)
    assert "blocks.1" in enumerate_clusters(m, "layer").names


def test_plan_precedence(model_and_config):
    model, _ = model_and_config
    fold_lstm_biases(model)
    cmap = enumerate_clusters(model, "sublayer")
    plan = Plan.from_dict({"bits": {"re:out.*": None, "re:.*": 2, "embedding": 8, "_default": 4}})
    bits = dict(zip(cmap.names, plan.resolve(cmap)))
    assert bits["embedding"] == 8 and bits["output"] == 32
    assert all(v == 2 for k, v in bits.items() if k not in ("embedding", "output"))
    with pytest.raises(PlanError, match="no cluster named"):
        Plan.from_dict({"bits": {"embeding": 8}}).resolve(cmap)
    with pytest.raises(PlanError, match="must be one of"):
        Plan.from_dict({"bits": {"_default": 7}})
