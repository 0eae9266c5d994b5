import numpy as np
import pytest
import torch

from kaldi_mpq.cli import main as cli_main
from kaldi_mpq.errors import CheckpointError
from kaldi_mpq.lm.checkpoint import build_model, save_checkpoint
from kaldi_mpq.lm_loading import load_lm
from kaldi_mpq.lm.neural import NeuralLM
from kaldi_mpq.quant import PTQConfig, load_packed, quantize_, save_packed
from kaldi_mpq.quant.packed import PACKED_FILE, file_sizes
from kaldi_mpq.quant.plan import Plan
from tests.quant.conftest import TRANSFORMER_CONFIG

SENTENCES = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15, 16, 17, 18]]
PLANS = [1, 2, 3, 4, 5, 6, 8, 16,
         {"bits": {"_default": 4, "embedding": 8, "re:out.*": 2}},
         {"granularity": "node", "bits": {"_default": 3}},
         {"granularity": "layer", "bias": "float", "bits": {"_default": 2, "re:.*1.*": 16}},
         {"bias": "column", "bits": {"_default": 4}},
         {"granularity": "node", "bias": "column", "bits": {"_default": 2}},
         # word bands: the embedding and output rows of word ids 0-49 / 50-200 in clusters of their own
         {"word_bands": {"of_word": "0" * 50 + "1" * 151}, "bias": "column",
          "bits": {"_default": 4, "embedding.band0": 8, "embedding.band1": 1, "output.band1": 2}}]


def _quantized_dir(tmp_path, model_and_config, symbols, plan):
    model, cfg = model_and_config
    result = quantize_(model, PTQConfig(plan=plan))
    out = save_packed(tmp_path / "packed", result.layout, result.alpha, result.codes, cfg, symbols)
    return model, out


@pytest.mark.parametrize("plan", PLANS, ids=[str(i) for i in range(len(PLANS))])
def test_packed_equals_simulated(tmp_path, model_and_config, symbols, plan):
    model, out = _quantized_dir(tmp_path, model_and_config, symbols, plan)
    ref = NeuralLM(model, symbols, device="cpu").score_sentences(SENTENCES)
    for runtime in ("float", "packed"):
        got = load_packed(out, runtime).score_sentences(SENTENCES)
        assert max(float(np.abs(a - b).max()) for a, b in zip(ref, got)) <= 1e-4, runtime
    got = load_lm(out).score_sentences(SENTENCES)  # through the checkpoint registry: runtime "auto"
    auto = load_packed(out, "auto").score_sentences(SENTENCES)
    assert max(float(np.abs(a - b).max()) for a, b in zip(auto, got)) == 0
    int8 = load_packed(out, "int8").score_sentences(SENTENCES)  # activations quantized too
    assert max(float(np.abs(a - b).max()) for a, b in zip(ref, int8)) <= 0.05


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_size_is_honest(tmp_path, symbols, bits):
    torch.manual_seed(0)
    cfg = dict(type="lstm", embed_dim=128, hidden_dim=128, num_layers=2)
    model = build_model(cfg, symbols)
    size, ideal = file_sizes(_quantized_dir(tmp_path, (model, cfg), symbols, bits)[1])
    assert ideal <= size <= 1.01 * ideal
    biases = 2 * 4 * 128 + symbols.size  # folded LSTM biases (bias_hh is not stored) and the output bias, fp32
    nweights = sum(p.numel() for p in model.parameters()) - 2 * 4 * 128 - biases
    assert ideal == pytest.approx(nweights * bits / 8 + 4 * biases + 4 * 10, abs=2)


def test_corrupt_and_truncated_files_fail_clearly(tmp_path, model_and_config, symbols):
    _, out = _quantized_dir(tmp_path, model_and_config, symbols, 4)
    f = out / PACKED_FILE
    data = bytearray(f.read_bytes())
    data[-5] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_lm(out)
    f.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(CheckpointError, match=PACKED_FILE):
        load_lm(out)
    f.write_bytes(b"")
    with pytest.raises(CheckpointError, match=PACKED_FILE):
        load_lm(out)
    f.unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_lm(out)


def test_edited_plan_is_detected(tmp_path, model_and_config, symbols):
    _, out = _quantized_dir(tmp_path, model_and_config, symbols, 4)
    Plan.uniform(2).write(out / "plan.yaml")
    with pytest.raises(CheckpointError, match="checksum"):
        load_lm(out)


def test_cli_quantize_and_report(tmp_path, symbols, capsys):
    torch.manual_seed(0)
    cfg = dict(type="lstm", embed_dim=16, hidden_dim=16, num_layers=1)
    save_checkpoint(tmp_path / "fp", build_model(cfg, symbols), cfg, symbols)
    text = tmp_path / "text.txt"
    text.write_text("\n".join(" ".join(f"w{(i * 7 + j) % 50}" for j in range(6)) for i in range(40)) + "\n")
    assert cli_main(["quantize", "--lm", str(tmp_path / "fp"), "--method", "ptq", "--bits", "4",
                     "--out", str(tmp_path / "q4")]) == 0
    assert cli_main(["quantize", "--lm", str(tmp_path / "fp"), "--method", "admm", "--bits", "2",
                     "--train", str(text), "--valid", str(text), "--max-iters", "1", "--steps-per-iter", "2",
                     "--out", str(tmp_path / "a2")]) == 0
    assert cli_main(["quant-report", "--text", str(text), "--markdown", "--plot", str(tmp_path / "size_ppl.png"),
                     str(tmp_path / "fp"), str(tmp_path / "q4"), str(tmp_path / "a2")]) == 0
    assert (tmp_path / "size_ppl.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = capsys.readouterr().out
    assert "| q4 | ptq | 4 | - |" in table and "| a2 | admm | 2 | 1x2 |" in table and "| fp | fp32 | 32 | - | - |" in table
    assert cli_main(["quantize", "--lm", str(tmp_path / "fp"), "--method", "bp", "--bits", "2",
                     "--out", str(tmp_path / "x")]) == 1  # needs --train / --valid
    # each model's compression is against its own fp32 size, whatever the order of the list
    from kaldi_mpq.quant.pipeline import report_rows

    fwd = {r.name: r for r in report_rows([tmp_path / "fp", tmp_path / "q4"], text)}
    rev = {r.name: r for r in report_rows([tmp_path / "q4"], text)}
    assert fwd["q4"].compression == rev["q4"].compression
    assert fwd["q4"].compression * fwd["q4"].size_mb == pytest.approx(fwd["fp"].size_mb, rel=0.02)
    assert fwd["fp"].compression == 1.0


@pytest.mark.parametrize("tie", [True, False])
def test_int8_runtime_covers_a_tied_output_layer(tmp_path, symbols, tie):
    """All Linear layers of an 8-bit Transformer run int8, the output layer too when it is tied to the
    embedding (clustered under the embedding's name)."""
    import torch.ao.nn.quantized.dynamic as nnqd

    torch.manual_seed(0)
    cfg = {**TRANSFORMER_CONFIG, "tie_weights": tie}
    model, out = _quantized_dir(tmp_path, (build_model(cfg, symbols), cfg), symbols, 8)
    lm = load_packed(out, "int8")
    assert isinstance(lm.module.output, nnqd.Linear)
    assert not any(type(m) is torch.nn.Linear for m in lm.module.modules())
    ref = NeuralLM(model, symbols, device="cpu").score_sentences(SENTENCES)
    got = lm.score_sentences(SENTENCES)
    assert max(float(np.abs(a - b).max()) for a, b in zip(ref, got)) <= 0.05
    # state-by-state scoring (n-best prefix trees, lattices) starts from empty states of int8 layers
    logp, _ = lm.advance(lm.initial_state(2), [4, 5])
    assert np.isfinite(logp).all() and (logp < 0).all()
    # the packed-in-memory runtime decodes a tied output layer from the embedding's codes
    packed = load_packed(out, "packed").score_sentences(SENTENCES)
    assert max(float(np.abs(a - b).max()) for a, b in zip(ref, packed)) <= 1e-4


def test_auto_runtime_uses_int8_only_where_it_pays_off(tmp_path, symbols):
    """8-bit models run int8 kernels by default only when their layers are wide enough."""
    import torch.ao.nn.quantized.dynamic as nnqd

    from kaldi_mpq.quant.runtime import INT8_MIN_WIDTH

    for width, int8 in ((INT8_MIN_WIDTH // 2, False), (INT8_MIN_WIDTH, True)):
        torch.manual_seed(0)
        cfg = dict(type="lstm", embed_dim=width, hidden_dim=width, num_layers=1)
        _, out = _quantized_dir(tmp_path / str(width), (build_model(cfg, symbols), cfg), symbols, 8)
        assert isinstance(load_lm(out).module.rnn, nnqd.LSTM) == int8, width
        assert isinstance(load_packed(out, "int8").module.rnn, nnqd.LSTM)  # asked for: always
        # state-by-state scoring (n-best prefix trees, lattices) starts from zero states of the int8 LSTM,
        # which has no weight_hh_l0
        lm = load_packed(out, "int8")
        logp, _ = lm.advance(lm.initial_state(2), [4, 5])
        assert np.isfinite(logp).all() and (logp < 0).all()


@pytest.mark.parametrize("output_bits", [8, None, "bands"], ids=["coded-output", "fp32-output", "word-bands"])
def test_mixed_low_bit_plans_run_on_int8_kernels(tmp_path, symbols, output_bits):
    """Codes of any 1-8 bit mix are exact int8 values: the default runtime runs them on int8 kernels
    (a layer with fp32 rows stays float) and scores like the simulated model."""
    import torch.ao.nn.quantized.dynamic as nnqd

    from kaldi_mpq.quant.runtime import INT8_MIN_WIDTH

    torch.manual_seed(0)
    cfg = dict(type="lstm", embed_dim=INT8_MIN_WIDTH, hidden_dim=INT8_MIN_WIDTH, num_layers=2)
    plan = {"bits": {"_default": 2, "re:rnn\\.l0\\..*": 1, "re:rnn\\.l1\\.[if]": 4, "output": output_bits}}
    if output_bits == "bands":  # the output layer's frequent words' rows at 4 bits, the rest at 1
        plan = {"word_bands": {"of_word": "1" * 100 + "0" * 101},
                "bits": {"_default": 2, "output.band0": 4, "output.band1": 1, "embedding.band0": 8}}
    model, out = _quantized_dir(tmp_path, (build_model(cfg, symbols), cfg), symbols, plan)
    lm = load_lm(out)
    assert isinstance(lm.module.rnn, nnqd.LSTM)
    assert isinstance(lm.module.output, nnqd.Linear) == (output_bits is not None)
    if output_bits == "bands":
        assert Plan.read(out / "plan.yaml").word_bands.sizes() == [101, 100]
    ref = NeuralLM(model, symbols, device="cpu").score_sentences(SENTENCES)
    got = lm.score_sentences(SENTENCES)
    assert max(float(np.abs(a - b).max()) for a, b in zip(ref, got)) <= 0.05
    decoded = load_packed(out, "float").score_sentences(SENTENCES)
    assert max(float(np.abs(a - b).max()) for a, b in zip(ref, decoded)) <= 1e-4
