"""MP-NAS: the searched plan is valid, and the size cost lowers the average bits as beta grows.

The prototypes here are made directly with ``quantize_`` per bit-width (post-training, for speed): the
search takes any object with ``bits``, ``plan_base`` and ``weights_at(bits)``."""

import copy
from dataclasses import dataclass

import pytest
import torch

from kaldi_mpq.quant import PTQConfig, QuantLayout, TrainingData, quantize_
from kaldi_mpq.quant.nas import NASConfig, search_plan, write_nas_report
from kaldi_mpq.quant.plan import Plan
from kaldi_mpq.text.batching import StreamBatches

SENTS = [[4 + (i * 7 + j) % 60 for j in range(3 + i % 5)] for i in range(60)]
BITS = (1, 2, 4, 8)


@dataclass
class UniformPrototypes:
    bits: tuple
    plan_base: Plan
    weights: dict

    def weights_at(self, bits):
        return self.weights[bits]


def make_prototypes(model, bits=BITS):
    weights = {}
    for b in bits:
        m = copy.deepcopy(model)
        quantize_(m, PTQConfig(plan=b))
        weights[b] = {n: p.detach().clone() for n, p in m.named_parameters()}
    return UniformPrototypes(tuple(bits), Plan.uniform(None), weights)


def _data(symbols):
    train = StreamBatches(SENTS, symbols.bos_id, symbols.eos_id, batch_size=4, bptt=5)
    valid = StreamBatches(SENTS[:20], symbols.bos_id, symbols.eos_id, batch_size=2, bptt=5)
    return TrainingData(train, valid)


def _search(model, symbols, beta, steps=12, **kw):
    torch.manual_seed(0)
    m = copy.deepcopy(model)
    cfg = NASConfig(beta=beta, max_iters=1, steps_per_iter=steps, arch_lr=0.1, lr=0.05, **kw)
    return search_plan(m, make_prototypes(m), _data(symbols), cfg), m


def test_nas_plan_is_valid_and_loads(tmp_path, model_and_config, symbols):
    model, _ = model_and_config
    result, searched = _search(model, symbols, 0.5)
    path = tmp_path / "plan.yaml"
    result.plan.write(path)
    plan = Plan.read(path)
    layout = QuantLayout(copy.deepcopy(model), plan)
    assert set(layout.bits.tolist()) <= set(BITS)
    assert sorted(plan.bits) == sorted(layout.cmap.names)  # one entry per cluster
    assert layout.average_bits() == pytest.approx(result.average_bits, abs=1e-4)
    assert set(result.probabilities) == set(layout.cmap.names)
    for name, probs in result.probabilities.items():
        assert set(probs) == set(BITS) and sum(probs.values()) == pytest.approx(1.0, abs=1e-3)
        assert max(probs, key=probs.get) == plan.bits[name]  # the plan is the argmax
    assert result.valid_ppl is not None and result.valid_ppl > 1
    write_nas_report(result, tmp_path / "nas.yaml")
    assert "average_bits" in (tmp_path / "nas.yaml").read_text()
    # the searched model holds each cluster's weights at its chosen bit-width: quantizing it with the
    # plan changes nothing
    before = {n: p.detach().clone() for n, p in searched.named_parameters()}
    quantize_(searched, PTQConfig(plan=plan))
    for n, p in searched.named_parameters():
        assert torch.allclose(p, before[n], atol=1e-5), n


def test_size_cost_lowers_the_average_bits_as_beta_grows(model_and_config, symbols):
    model, _ = model_and_config
    avg = [_search(model, symbols, beta)[0].average_bits for beta in (0.0, 0.5, 50.0)]
    assert avg[0] >= avg[1] >= avg[2] and avg[0] > avg[2]
    assert avg[2] == pytest.approx(1.0)  # a dominant cost picks the cheapest candidate everywhere


def test_candidates_must_be_prototypes(model_and_config, symbols):
    from kaldi_mpq.errors import ConfigError

    model, _ = model_and_config
    with pytest.raises(ConfigError, match="candidate"):
        search_plan(copy.deepcopy(model), make_prototypes(model, (2,)), _data(symbols))
    with pytest.raises(ConfigError, match="candidate"):
        search_plan(copy.deepcopy(model), make_prototypes(model, (2, 4)), _data(symbols), bits=(2, 3))


def test_nas_cli_on_trained_prototypes(tmp_path, symbols, capsys):
    """``kaldi-mpq nas`` on prototypes from :func:`train_prototypes`, then the plan fine-tuned from them."""
    from kaldi_mpq.cli import main as cli_main
    from kaldi_mpq.lm.checkpoint import build_model, save_checkpoint
    from kaldi_mpq.quant.prototypes import save_prototypes, train_prototypes

    torch.manual_seed(0)
    cfg = dict(type="lstm", embed_dim=16, hidden_dim=16, num_layers=1)
    model = build_model(cfg, symbols)
    save_checkpoint(tmp_path / "fp", model, cfg, symbols)
    text = tmp_path / "text.txt"
    text.write_text("\n".join(" ".join(f"w{(i * 7 + j) % 50}" for j in range(6)) for i in range(40)) + "\n")
    protos = train_prototypes(copy.deepcopy(model), _data(symbols), bits=(1, 2, 4), method="bp", max_iters=1,
                              steps_per_iter=1)
    save_prototypes(protos, tmp_path / "protos")
    plan = tmp_path / "nas" / "plan.yaml"
    plan.parent.mkdir()
    assert cli_main(["nas", "--lm", str(tmp_path / "fp"), "--prototypes", str(tmp_path / "protos"), "--train",
                     str(text), "--valid", str(text), "--max-iters", "1", "--steps-per-iter", "3",
                     "--avg-bits", "1.5", "--out", str(plan)]) == 0
    out = capsys.readouterr().out
    assert "bits/weight" in out and "argmax plan" in out
    searched = Plan.read(plan)
    assert set(searched.bits.values()) <= {1, 2, 4}
    assert searched.metadata["average_bits"] <= 1.5 and "argmax_average_bits" in searched.metadata
    assert (tmp_path / "nas" / "plan.nas.yaml").is_file()
    assert cli_main(["quantize", "--lm", str(tmp_path / "fp"), "--plan", str(plan), "--init-from",
                     str(tmp_path / "protos"), "--train", str(text), "--valid", str(text), "--max-iters", "1",
                     "--steps-per-iter", "1", "--out", str(tmp_path / "nas" / "bp")]) == 0


def _cmap(model):
    return QuantLayout(copy.deepcopy(model), Plan.uniform(2)).cmap


def test_budget_choice_is_the_most_probable_plan_within_the_budget(model_and_config):
    """Brute force over every choice: the allocator's plan has the highest summed log-probability among
    the plans within the budget, in both budget kinds."""
    import itertools

    import numpy as np

    from kaldi_mpq.quant.layout import free_float_weights, ideal_bytes_of
    from kaldi_mpq.quant.nas import budget_choice

    model, _ = model_and_config
    cmap = _cmap(model)
    sizes, fixed = cmap.cluster_sizes(), free_float_weights(cmap)
    C = len(cmap.names)
    torch.manual_seed(1)
    arch = torch.randn(C, len(BITS)) * 2
    logp = torch.log_softmax(arch.double(), 1).numpy()
    combos = np.array(list(itertools.product(range(len(BITS)), repeat=C)))
    bits = np.array(BITS)[combos]
    avg = (bits * sizes).sum(1) / sizes.sum()
    score = logp[np.arange(C), combos].sum(1)
    for target in (1.5, 2.0, 3.0):
        chosen = budget_choice(arch, cmap, BITS, Plan.uniform(None), target)
        assert chosen.average_bits <= target + 1e-9
        assert -chosen.sensitivity == pytest.approx(score[avg <= target + 1e-9].max(), abs=1e-9)
    mb = ideal_bytes_of(sizes, np.full(C, 2), fixed) / 1e6 + 0.01  # uniform 2-bit plus the header reserve
    chosen = budget_choice(arch, cmap, BITS, Plan.uniform(None), mb, "mb")
    assert chosen.ideal_bytes <= mb * 1e6


def test_budget_equals_argmax_when_loose_and_is_held(model_and_config, symbols):
    model, _ = model_and_config
    free, _ = _search(model, symbols, 0.0)
    loose, _ = _search(model, symbols, 0.0, budget=8.0)
    assert loose.plan.bits == free.plan.bits
    assert loose.average_bits == pytest.approx(free.average_bits)
    assert loose.plan.metadata["argmax_average_bits"] == pytest.approx(free.average_bits, abs=1e-4)
    assert free.argmax_average_bits == pytest.approx(free.average_bits)
    assert free.average_bits > 1.5  # beta 0 lands above the budget below, so the budget binds
    tight, searched = _search(model, symbols, 0.0, budget=1.5)
    assert tight.average_bits <= 1.5 + 1e-6
    meta = tight.plan.metadata
    assert meta["budget"] == 1.5 and meta["budget_kind"] == "avg_bits"
    assert meta["argmax_average_bits"] == pytest.approx(free.average_bits, abs=1e-4)
    assert meta["average_bits"] == pytest.approx(tight.average_bits, abs=1e-4)
    # the searched model holds the budgeted plan's weights
    before = {n: p.detach().clone() for n, p in searched.named_parameters()}
    quantize_(searched, PTQConfig(plan=tight.plan))
    for n, p in searched.named_parameters():
        assert torch.allclose(p, before[n], atol=1e-5), n


def test_nas_budget_config_is_checked():
    from kaldi_mpq.errors import ConfigError

    with pytest.raises(ConfigError, match="budget"):
        NASConfig(budget=0.0)
    with pytest.raises(ConfigError, match="budget kind"):
        NASConfig(budget=2.0, budget_kind="bytes")


@pytest.mark.parametrize("bad", [["--avg-bits", "0"], ["--avg-bits", "-2"], ["--mb", "nan"],
                                 ["--avg-bits", "2", "--mb", "1"], ["--solver", "greedy"]])
def test_nas_cli_budget_options_are_validated(bad, capsys):
    from kaldi_mpq.cli import main as cli_main

    with pytest.raises(SystemExit) as e:
        cli_main(["nas", "--lm", "x", "--prototypes", "p", "--train", "t", "--valid", "v", "--out", "o"] + bad)
    assert e.value.code == 2
    assert "error" in capsys.readouterr().err
