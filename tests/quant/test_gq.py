"""General Quantizer: centroids on the INT8 grid, hard assignment = nearest centroid, packed round trip."""

import numpy as np
import pytest
import torch
import yaml

from kaldi_mpq.cli import main as cli_main
from kaldi_mpq.lm.checkpoint import build_model, save_checkpoint
from kaldi_mpq.lm_loading import load_lm
from kaldi_mpq.lm.neural import NeuralLM
from kaldi_mpq.quant import GQConfig, PTQConfig, TrainingData, load_packed, quantize_, save_packed
from kaldi_mpq.quant.clusters import as_rows
from kaldi_mpq.quant.gq import _nearest_lookup, centroid_table, gq_post_training, mu_law_expand, nearest, \
    soft_values
from kaldi_mpq.quant.packed import PACKED_FILE, file_sizes
from kaldi_mpq.text.batching import StreamBatches

SENTENCES = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15, 16, 17, 18]]
SENTS = [[4 + (i * 7 + j) % 60 for j in range(3 + i % 5)] for i in range(60)]
MIXED = {"bits": {"_default": 2, "embedding": 4, "re:.*0.*": 1, "output": 8}}


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 8])
@pytest.mark.parametrize("mu", [0.5, 8.0, 255.0])
def test_centroids_are_int8_values_spread_over_the_range(bits, mu):
    k = centroid_table(bits, mu)
    assert k.numel() == 2 ** bits and k.dtype == torch.int64
    assert int(k.min()) == -128 and int(k.max()) == 127  # +-1 snapped to the INT8 grid
    assert bool((k[1:] >= k[:-1]).all())
    assert bool((k + k.flip(0)).abs().le(1).all())  # symmetric up to the grid's -128 / 127
    z = torch.linspace(-1, 1, 2 ** bits, dtype=torch.float64)
    assert torch.equal(k, torch.round(mu_law_expand(z, mu) * 128).clamp(-128, 127).long())


def test_mu_law_expander_crowds_centroids_near_zero():
    z = torch.linspace(-1, 1, 16, dtype=torch.float64)
    assert torch.allclose(mu_law_expand(torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64), 8.0),
                          torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64))
    inner = [float(mu_law_expand(z, mu)[8]) for mu in (1.0, 8.0, 64.0)]
    assert inner[0] > inner[1] > inner[2] > 0


def test_soft_assignment_hardens_into_the_nearest_centroid():
    torch.manual_seed(0)
    table = centroid_table(3, 8.0).float()
    x = torch.randn(5, 40) * 60
    t = table.expand(5, -1).contiguous()
    distinct = torch.ones_like(t, dtype=torch.bool)
    hard = nearest(x, _nearest_lookup(table)[None], torch.zeros(5, dtype=torch.long))
    brute = table[(x[..., None] - table).abs().argmin(-1)]
    assert torch.equal(hard, brute)
    assert torch.allclose(soft_values(x, t, distinct, 1e6), hard)
    assert not torch.allclose(soft_values(x, t, distinct, 10.0), hard)


def _levels_of_each_row(result):
    layout = result.layout
    out = {}
    for name, (sel, cid) in layout.coded.items():
        out[name] = [(result.alpha[c].float() * result.centroids[int(c)].float()) for c in cid.tolist()]
    return out


@pytest.mark.parametrize("plan", [2, 4, MIXED, {"granularity": "node", "bits": {"_default": 3}}],
                         ids=["2bit", "4bit", "mixed", "node"])
def test_hard_assignment_is_the_nearest_centroid_on_the_int8_grid(model_and_config, plan):
    model, _ = model_and_config
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = gq_post_training(model, plan)
    layout = result.layout
    assert set(result.centroids) == set(np.flatnonzero(layout.coded_cluster).tolist())
    params = dict(model.named_parameters())
    levels = _levels_of_each_row(result)
    for name, (sel, cid) in layout.coded.items():
        w = as_rows(original[name])[sel]
        q = as_rows(params[name].detach())[sel]
        codes = result.codes[name]
        for r, c in enumerate(cid.tolist()):
            table = result.centroids[c]
            assert table.dtype == torch.int8 and table.numel() == 2 ** int(layout.bits[c])
            assert bool(torch.isin(codes[r], table).all())  # every code is one of its cluster's INT8 centroids
            lv = levels[name][r]
            best = (w[r][:, None] - lv[None, :]).abs().min(1).values  # ties may go either way
            assert torch.allclose((w[r] - q[r]).abs(), best, atol=1e-6), (name, r)
            assert torch.equal(q[r], codes[r].float() * result.alpha[c].float())


def _stream(symbols, sents, rows):
    return StreamBatches(sents, symbols.bos_id, symbols.eos_id, batch_size=rows, bptt=5)


def _trained_gq(model, symbols, plan, **kw):
    data = TrainingData(_stream(symbols, SENTS, 4), _stream(symbols, SENTS[:20], 2))
    cfg = dict(max_iters=2, steps_per_iter=4, patience=2, callback_every=3, lr=0.1)
    return quantize_(model, GQConfig(plan=plan, **{**cfg, **kw}), data)


@pytest.mark.parametrize("plan", [2, MIXED], ids=["2bit", "mixed"])
def test_gq_model_packs_and_loads_in_every_runtime(tmp_path, model_and_config, symbols, plan):
    model, cfg = model_and_config
    result = _trained_gq(model, symbols, plan)
    assert result.method == "gq" and [h["iter"] for h in result.history] == [0, 1, 2]
    out = save_packed(tmp_path / "gq", result.layout, result.alpha, result.codes, cfg, symbols,
                      centroids=result.centroids)
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["packed_version"] == 2
    size, ideal = file_sizes(out)
    assert ideal <= size <= ideal + 2048  # codes + scales + tables + fp32, plus the safetensors header
    ref = NeuralLM(model, symbols, device="cpu").score_sentences(SENTENCES)
    for runtime in ("float", "packed"):
        got = load_packed(out, runtime).score_sentences(SENTENCES)
        assert max(float(np.abs(a - b).max()) for a, b in zip(ref, got)) <= 1e-4, runtime
    int8 = load_packed(out, "int8").score_sentences(SENTENCES)  # the INT8 centroids are exact int8 weights
    assert max(float(np.abs(a - b).max()) for a, b in zip(ref, int8)) <= 0.05
    # decoding reproduces the codes exactly
    pm_model = load_packed(out, "float").module
    for name, (sel, cid) in result.layout.coded.items():
        got = as_rows(dict(pm_model.named_parameters())[name].detach())[sel]
        assert torch.equal(got, result.codes[name].float() * result.alpha[cid].float()[:, None])


def test_files_without_tables_stay_version_1(tmp_path, model_and_config, symbols):
    model, cfg = model_and_config
    r = quantize_(model, PTQConfig(plan=4))
    out = save_packed(tmp_path / "p", r.layout, r.alpha, r.codes, cfg, symbols)
    assert yaml.safe_load((out / "config.yaml").read_text())["packed_version"] == 1
    assert load_lm(out).score_sentences(SENTENCES)


def test_a_table_that_misses_a_code_is_refused(tmp_path, model_and_config, symbols):
    model, cfg = model_and_config
    result = gq_post_training(model, 2)
    c = next(iter(result.centroids))
    result.centroids[c] = torch.full_like(result.centroids[c], 3)
    with pytest.raises(ValueError, match="centroid table"):
        save_packed(tmp_path / "bad", result.layout, result.alpha, result.codes, cfg, symbols,
                    centroids=result.centroids)


def test_cli_quantize_method_gq(tmp_path, symbols, capsys):
    torch.manual_seed(0)
    cfg = dict(type="lstm", embed_dim=16, hidden_dim=16, num_layers=1)
    save_checkpoint(tmp_path / "fp", build_model(cfg, symbols), cfg, symbols)
    text = tmp_path / "text.txt"
    text.write_text("\n".join(" ".join(f"w{(i * 7 + j) % 50}" for j in range(6)) for i in range(40)) + "\n")
    assert cli_main(["quantize", "--lm", str(tmp_path / "fp"), "--method", "gq", "--bits", "2",
                     "--train", str(text), "--valid", str(text), "--max-iters", "1", "--steps-per-iter", "3",
                     "--callback-every", "2", "--out", str(tmp_path / "g2")]) == 0
    assert "g2: gq, 2.00 bits/weight" in capsys.readouterr().out
    config = yaml.safe_load((tmp_path / "g2" / "config.yaml").read_text())
    assert config["quant"]["method"] == "gq" and config["packed_version"] == 2
    assert (tmp_path / "g2" / PACKED_FILE).is_file() and load_lm(tmp_path / "g2").score_sentences(SENTENCES)
