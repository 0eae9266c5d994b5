import numpy as np
import pytest
import torch

from kaldi_mpq.errors import PlanError
from kaldi_mpq.quant.clusters import FLOAT, GRANULARITIES, ZERO, enumerate_clusters, fold_lstm_biases
from kaldi_mpq.quant.plan import Plan
from tests.quant.conftest import TRANSFORMER_CONFIG


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


# -- word bands ---------------------------------------------------------------------------------------
def _bands(symbols, edges=(10, 40)):
    from kaldi_mpq.quant.clusters import WordBands

    counts = np.zeros(symbols.size, dtype=np.int64)
    counts[::-1] = np.arange(symbols.size)  # high ids most frequent, so bands are not id ranges
    return WordBands.from_counts(counts, edges)


def test_word_bands_rank_by_count_lower_id_first_on_ties():
    from kaldi_mpq.quant.clusters import WordBands

    b = WordBands.from_counts(np.array([0, 5, 9, 5, 1, 9]), [2, 4])
    assert b.of_word.tolist() == [2, 1, 0, 1, 2, 0]  # 9 9 (ids 2, 5) | 5 5 (ids 1, 3) | 1 0
    assert b.sizes() == [2, 2, 2] and b.n_bands == 3
    for bad in ([], [0, 2], [3, 2], [2, 6]):
        with pytest.raises(PlanError, match="edges"):
            WordBands.from_counts(np.arange(6), bad)


def test_word_bands_from_sentences_count_sentence_ends(symbols):
    from kaldi_mpq.quant.clusters import WordBands

    sents = [[10, 11, 10], [10, 12]] * 3
    b = WordBands.from_sentences(sents, symbols, [3])
    # 10: 9 times; <s> and </s>: 6 each (once per sentence) -> the three most frequent rows
    assert set(np.flatnonzero(b.of_word == 0)) == {10, symbols.bos_id, symbols.eos_id}


def test_word_bands_round_trip_and_bad_files(symbols):
    from kaldi_mpq.quant.clusters import WordBands

    b = _bands(symbols)
    d = b.to_dict()
    assert d["sizes"] == [10, 30, symbols.size - 40] and len(d["of_word"]) == symbols.size
    assert WordBands.from_dict(d) == b
    for bad in ({"of_word": "01x"}, {"sizes": [1, 1], "of_word": "001"}, {"of_word": "0020"}, {"sizes": [1]}):
        with pytest.raises(PlanError, match="word_bands"):
            WordBands.from_dict(bad)


@pytest.mark.parametrize("granularity", ["layer", "sublayer"])
def test_word_bands_split_the_word_indexed_layers(model_and_config, symbols, granularity):
    model, _ = model_and_config
    fold_lstm_biases(model)
    bands = _bands(symbols)
    plain = enumerate_clusters(model, granularity)
    cmap = enumerate_clusters(model, granularity, word_bands=bands)
    split = ["embedding"] + (["output"] if "output" in plain.names else [])  # not when tied to the embedding
    for name in split:
        assert name not in cmap.names
        assert [n for n in cmap.names if n.startswith(name + ".")] == [f"{name}.band{k}" for k in range(3)]
        members = dict(cmap.members(cmap.names.index(f"{name}.band1")))
        assert members[f"{name}.weight"].tolist() == np.flatnonzero(bands.of_word == 1).tolist()
    # the rest of the model is cut as before, and the bands hold exactly the old clusters' weights
    assert [n for n in cmap.names if n.split(".")[0] not in split] == \
        [n for n in plain.names if n.split(".")[0] not in split]
    assert cmap.cluster_sizes().sum() == plain.cluster_sizes().sum()


def test_word_bands_with_a_tied_output_layer(symbols):
    from kaldi_mpq.lm.checkpoint import build_model

    m = build_model(dict(TRANSFORMER_CONFIG, tie_weights=True), symbols)
    names = enumerate_clusters(m, "sublayer", word_bands=_bands(symbols)).names
    assert [n for n in names if n.startswith(("embedding", "output"))] == [f"embedding.band{k}" for k in range(3)]


def test_word_bands_errors(model_and_config, symbols):
    from kaldi_mpq.quant.clusters import WordBands

    model, _ = model_and_config
    with pytest.raises(PlanError, match="node granularity"):
        enumerate_clusters(model, "node", word_bands=_bands(symbols))
    other = WordBands.from_counts(np.arange(symbols.size + 5), [10])
    with pytest.raises(PlanError, match=f"cover {symbols.size + 5} words, but embedding has {symbols.size} rows"):
        enumerate_clusters(model, "sublayer", word_bands=other)


def test_plan_file_keeps_word_bands(tmp_path, model_and_config, symbols):
    from kaldi_mpq.quant.plan import as_plan

    model, _ = model_and_config
    bands = _bands(symbols)
    plan = Plan.uniform(2, word_bands=bands).with_bits({"_default": 2, "embedding.band0": 8}, "test")
    plan.write(tmp_path / "plan.yaml")
    back = Plan.read(tmp_path / "plan.yaml")
    assert back.word_bands == bands and back.same_layout(plan) and not back.same_layout(Plan.uniform(2))
    assert as_plan(back, bias="column").word_bands == bands  # an override keeps the bands
    fold_lstm_biases(model)
    cmap = enumerate_clusters(model, back.granularity, back.bias, back.word_bands)
    bits = back.resolve(cmap)
    assert bits[cmap.names.index("embedding.band0")] == 8 and bits[cmap.names.index("embedding.band1")] == 2
    with pytest.raises(PlanError, match="no cluster named 'embedding'.*3 word bands"):
        Plan({"embedding": 4}, word_bands=bands).resolve(cmap)
