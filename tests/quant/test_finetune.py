"""Fine-tuning a chosen plan: the clusters start from the prototypes' weights (``--init-from``)."""

import copy

import numpy as np
import pytest
import torch

from kaldi_mpq.cli import main as cli_main
from kaldi_mpq.lm.checkpoint import build_model, save_checkpoint
from kaldi_mpq.lm.evaluate import evaluate_perplexity
from kaldi_mpq.lm.pipeline import read_ids
from kaldi_mpq.lm.train import make_batches
from kaldi_mpq.quant import BPConfig, PTQConfig, QuantLayout, quantize_
from kaldi_mpq.quant.clusters import as_rows
from kaldi_mpq.quant.pipeline import quantize_files, train_config_of

CFG = dict(type="lstm", embed_dim=16, hidden_dim=16, num_layers=1)
PLAN = {"bits": {"_default": 2, "embedding": 4, "re:rnn\\.l0\\.[if]": 1}}


def _inherit(prototypes):
    """``init(module, plan)``: each coded row from the prototype at its cluster's bits."""

    def init(module, plan):
        layout = QuantLayout(module, plan)
        params = dict(module.named_parameters())
        with torch.no_grad():
            for name, (sel, cid) in layout.coded.items():
                for r, c in zip(sel.tolist(), cid.tolist()):
                    as_rows(params[name])[r] = as_rows(prototypes[int(layout.bits[c])][name])[r]
    return init


@pytest.fixture
def checkpoint(tmp_path, symbols):
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "fp", build_model(CFG, symbols), CFG, symbols)
    text = tmp_path / "text.txt"
    text.write_text("\n".join(" ".join(f"w{(i * 7 + j) % 50}" for j in range(6)) for i in range(40)) + "\n")
    return tmp_path / "fp", text


def test_fine_tuning_starts_from_the_inherited_weights(tmp_path, symbols, checkpoint):
    from kaldi_mpq.lm.checkpoint import load_module, read_config

    fp, text = checkpoint
    module = load_module(fp, read_config(fp), symbols)
    prototypes = {}  # stand-ins for trained prototypes: quantized weights that PTQ of the model would not give
    torch.manual_seed(1)
    for b in (1, 2, 4):
        m = copy.deepcopy(module)
        with torch.no_grad():
            for p in m.parameters():
                if p.numel() > 1:
                    p.add_(0.3 * p.std() * torch.randn_like(p))
        quantize_(m, PTQConfig(plan=b))
        prototypes[b] = {n: p.detach().clone() for n, p in m.named_parameters()}
    mixed = copy.deepcopy(module)
    _inherit(prototypes)(mixed, PTQConfig(plan=PLAN).plan)
    tcfg = train_config_of(read_config(fp))
    valid = make_batches(read_ids(text, symbols)[0], symbols, tcfg, train=False)
    expected = evaluate_perplexity(mixed, valid).ppl
    result = quantize_files(fp, tmp_path / "ft", BPConfig(plan=PLAN, max_iters=1, steps_per_iter=2),
                            train=text, valid=text, init=_inherit(prototypes))
    # iteration 0 is the inherited mixed model itself: re-quantizing prototype weights changes nothing
    assert result.history[0]["valid_ppl"] == pytest.approx(expected, rel=1e-4)
    scratch = quantize_files(fp, tmp_path / "scratch", BPConfig(plan=PLAN, max_iters=1, steps_per_iter=2),
                             train=text, valid=text)
    assert not np.isclose(scratch.history[0]["valid_ppl"], expected, rtol=1e-4)


def test_cli_init_from_prototypes(tmp_path, symbols, checkpoint):
    prototypes = pytest.importorskip("kaldi_mpq.quant.prototypes")
    from kaldi_mpq.lm.checkpoint import load_module, read_config
    from kaldi_mpq.quant import TrainingData
    from kaldi_mpq.quant.plan import Plan

    fp, text = checkpoint
    module = load_module(fp, read_config(fp), symbols)
    tcfg = train_config_of(read_config(fp))
    batches = make_batches(read_ids(text, symbols)[0], symbols, tcfg, train=False)
    protos = prototypes.train_prototypes(module, TrainingData(batches, batches), bits=(1, 2, 4), method="bp",
                                         max_iters=1, steps_per_iter=1)
    prototypes.save_prototypes(protos, tmp_path / "protos")
    Plan.from_dict(PLAN).write(tmp_path / "plan.yaml")
    assert cli_main(["quantize", "--lm", str(fp), "--plan", str(tmp_path / "plan.yaml"), "--init-from",
                     str(tmp_path / "protos"), "--train", str(text), "--valid", str(text), "--max-iters", "1",
                     "--steps-per-iter", "1", "--out", str(tmp_path / "ft")]) == 0
    import yaml

    assert yaml.safe_load((tmp_path / "ft" / "config.yaml").read_text())["quant"]["method"] == "bp"
