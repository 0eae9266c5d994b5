"""Running packed models: three runtime modes behind the one LM interface.

``float``   decode every weight once at load into an ordinary fp32 module (the reference: its
            log-probs equal the quantize-in-training model's).
``int8``    decode, then run ``nn.Linear`` / ``nn.LSTM`` layers whose rows all have 1-8 bit codes with
            fbgemm int8 kernels (``torch.ao`` dynamic quantized modules). Codes of n <= 8 bits are
            exact int8 values and the cluster scales become per-row int8 scales, so the *weights* are
            exact; activations are quantized to 8 bits on the fly (a small extra error).
``packed``  keep the bit-packed codes in memory; each layer unpacks its weights just before it runs
            and drops them afterwards (smallest resident memory, slowest).
``auto``    (default) ``int8`` if some layer has only 1-8 bit codes (any mix of bit-widths: every
            code of n <= 8 bits, uniform or a GQ centroid, is an exact int8 value) and the model is wide
            enough for int8 kernels to pay off (narrowest layer input >= :data:`INT8_MIN_WIDTH`), else
            ``float``. Layers with fp16 / fp32 rows stay float in the int8 mode.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from kaldi_mpq.errors import CheckpointError
from kaldi_mpq.lm.checkpoint import read_config, read_words
from kaldi_mpq.lm.neural import NeuralLM
from kaldi_mpq.quant.clusters import as_rows
from kaldi_mpq.quant.layout import QuantLayout, all_rows_coded
from kaldi_mpq.quant.packed import PackedModel, read_packed
from kaldi_mpq.quant.packing import unpack_torch
from kaldi_mpq.quant.quantizer import CODE_BITS

logger = logging.getLogger(__name__)

RUNTIMES = ("auto", "float", "int8", "packed")
# Below this layer width fbgemm's per-call overhead (quantizing activations, repacking outputs) outweighs
# its faster arithmetic. Measured with one thread, words/s of int8 over fp32: d = 64 LSTM and Transformer
# 0.90; 2 x 96 LSTM 0.98, d = 96 Transformer 1.12; 2 x 200 LSTM 1.5, d = 256 Transformer 1.74.
INT8_MIN_WIDTH = 96


def _narrowest_input(module: nn.Module) -> int:
    """The smallest input width among the Linear and LSTM layers (what int8 kernels would run)."""
    widths = [m.in_features for m in module.modules() if isinstance(m, nn.Linear)]
    widths += [w for m in module.modules() if isinstance(m, nn.LSTM) for w in (m.input_size, m.hidden_size)]
    return min(widths, default=0)


def choose_runtime(layout: QuantLayout, runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise CheckpointError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if runtime != "auto":
        return runtime
    return "int8" if _int8_layers(layout.model, layout) and _narrowest_input(layout.model) >= INT8_MIN_WIDTH \
        else "float"


# -- int8 --------------------------------------------------------------------------------------------
def _int8_weight(pm: PackedModel, name: str, weight: torch.Tensor) -> torch.Tensor:
    """A per-row qint8 tensor with the exact codes and scales of ``name`` (all rows coded)."""
    layout = pm.layout
    rows = layout.cmap.rows[name]
    scales = pm.scales[torch.from_numpy(np.maximum(rows, 0))].to(torch.float64)
    codes = torch.round(as_rows(weight.detach()) / scales[:, None].to(torch.float32)).to(torch.int8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch._make_per_channel_quantized_tensor(
            codes.reshape(weight.shape), scales, torch.zeros(len(rows), dtype=torch.int64), 0)


def _int8_linear(pm: PackedModel, weight_name: str, mod: nn.Linear) -> nn.Module:
    import torch.ao.nn.quantized.dynamic as nnqd

    q = nnqd.Linear(mod.in_features, mod.out_features, bias_=mod.bias is not None, dtype=torch.qint8)
    q.set_weight_bias(_int8_weight(pm, weight_name, mod.weight),
                      None if mod.bias is None else mod.bias.detach().clone())
    return q


def _owner_name(module: nn.Module, param: torch.Tensor, layout: QuantLayout) -> Optional[str]:
    """The name under which a (possibly tied) parameter is clustered, or None."""
    for name, p in module.named_parameters(remove_duplicate=False):
        if p is param and name in layout.cmap.rows:
            return name
    return None


def _int8_lstm(pm: PackedModel, prefix: str, mod: nn.LSTM) -> nn.Module:
    import torch.ao.nn.quantized.dynamic as nnqd
    from torch.ao.nn.quantized.dynamic.modules.rnn import PackedParameter

    with warnings.catch_warnings():  # its constructor quantizes placeholder weights
        warnings.simplefilter("ignore")
        q = nnqd.LSTM(mod.input_size, mod.hidden_size, mod.num_layers, mod.bias, mod.batch_first,
                      mod.dropout, mod.bidirectional, dtype=torch.qint8)
    values = []
    for layer in range(mod.num_layers):
        for suffix in ("", "_reverse")[: 1 + int(mod.bidirectional)]:
            packed, biases = [], []
            for kind in ("ih", "hh"):
                w = getattr(mod, f"weight_{kind}_l{layer}{suffix}")
                b = getattr(mod, f"bias_{kind}_l{layer}{suffix}").detach().clone()
                qw = _int8_weight(pm, f"{prefix}weight_{kind}_l{layer}{suffix}", w)
                packed.append(torch.ops.quantized.linear_prepack(qw, b))
                biases.append(b)
            cell = torch.ops.quantized.make_quantized_cell_params_dynamic(packed[0], packed[1], biases[0],
                                                                           biases[1], True)
            values.append(PackedParameter(cell))
    q._all_weight_values = nn.ModuleList(values)
    return q


def _int8_layers(module: nn.Module, layout: QuantLayout) -> list[tuple[str, nn.Module, object]]:
    """``(module name, layer, weight names or owner)`` of the Linear / LSTM layers whose weight rows all
    have integer codes (what :func:`to_int8` swaps)."""
    found = []
    for mname, mod in module.named_modules():
        prefix = f"{mname}." if mname else ""
        if isinstance(mod, nn.Linear):
            # a tied output layer is clustered under its embedding's name: same codes and scales
            owner = _owner_name(module, mod.weight, layout)
            if owner is not None and all_rows_coded(layout, [owner]):
                found.append((mname, mod, owner))
        elif isinstance(mod, nn.LSTM) and mod.bias and not mod.proj_size:
            names = [n for n in (f"{prefix}{w}" for w in mod._flat_weights_names) if "weight" in n]
            if all_rows_coded(layout, names):
                found.append((mname, mod, prefix))
    return found


def to_int8(module: nn.Module, pm: PackedModel) -> int:
    """Swap eligible Linear / LSTM children of ``module`` (already decoded) for int8 ones; returns
    how many were swapped. A layer with any fp16 / fp32 weight row stays float."""
    layers = _int8_layers(module, pm.layout)
    for mname, mod, names in layers:
        new = _int8_linear(pm, names, mod) if isinstance(mod, nn.Linear) else _int8_lstm(pm, names, mod)
        parent = module.get_submodule(mname.rsplit(".", 1)[0]) if "." in mname else module
        setattr(parent, mname.rsplit(".", 1)[-1], new)
    return len(layers)


# -- packed in memory -------------------------------------------------------------------------------
class _OnTheFly:
    """Forward hooks that unpack a module's weights before it runs and drop them afterwards."""

    def __init__(self, pm: PackedModel, module: nn.Module, names: dict[str, str]):
        self.pm, self.module, self.names = pm, module, names  # local attr -> full param name
        layout = pm.layout
        self.bufs: dict[str, list] = {}
        for attr, full in names.items():
            segs = []
            for seg in layout.segments_of(full):
                if seg.bits in CODE_BITS:
                    raw = pm.streams[f"codes.b{seg.bits}"][seg.offset: seg.offset + seg.nbytes]
                    data = torch.from_numpy(raw)  # a view: the stream is kept once
                    scale = pm.scales[torch.from_numpy(layout.cmap.rows[full][seg.rows])][:, None]
                else:
                    key = "fp16" if seg.bits == 16 else "fp32"
                    data = torch.from_numpy(pm.streams[key][seg.offset: seg.offset + seg.count])
                    scale = None
                segs.append((seg, torch.from_numpy(seg.rows), data, scale))
            self.bufs[attr] = segs
            self._set(attr, torch.empty(0))
        module.register_forward_pre_hook(self._decode)
        module.register_forward_hook(self._drop)

    def _set(self, attr: str, t: torch.Tensor) -> None:
        setattr(self.module, attr, nn.Parameter(t, requires_grad=False))

    def _decode(self, *_):
        for attr, full in self.names.items():
            shape = self.pm.layout.cmap.shapes[full]
            w = torch.zeros(shape[0] if shape else 1, int(np.prod(shape[1:])) if len(shape) > 1 else 1)
            for seg, idx, data, scale in self.bufs[attr]:
                if scale is not None:
                    c = self.pm.segment_codes(seg, unpack_torch(data, seg.bits, seg.count))
                    w.index_copy_(0, idx, c.to(torch.float32) * scale)
                else:
                    w.index_copy_(0, idx, data.to(torch.float32).view(len(idx), -1))
            self._set(attr, w.reshape(shape))

    def _drop(self, *_):
        for attr in self.names:
            self._set(attr, torch.empty(0))


def to_packed_in_memory(module: nn.Module, pm: PackedModel) -> None:
    """Replace the coded weights of Embedding / Linear / LSTM modules by on-the-fly decoding."""
    for mname, mod in module.named_modules():
        if not isinstance(mod, (nn.Embedding, nn.Linear, nn.LSTM)):
            continue
        names = {}
        for attr, p in mod.named_parameters(recurse=False):
            full = f"{mname}.{attr}" if mname else attr
            if full in pm.layout.coded:
                names[attr] = full
            elif full not in pm.layout.cmap.rows and attr == "weight":
                # a tied weight: decode it here too, from its owner's name
                owner = _owner_name(module, p, pm.layout)
                if owner is not None:
                    names[attr] = owner
        if names:
            _OnTheFly(pm, mod, names)


# -- loading --------------------------------------------------------------------------------------------
def load_packed(ckpt_dir, runtime: str = "auto", device: Optional[torch.device] = None,
                config: Optional[dict] = None, symbols=None):
    """Load a packed directory as a :class:`~kaldi_mpq.lm.neural.NeuralLM` in a runtime mode
    (:func:`kaldi_mpq.lm_loading.load_lm` calls it for directories whose format is ``packed``)."""
    ckpt_dir = Path(ckpt_dir)
    config = config if config is not None else read_config(ckpt_dir)
    symbols = symbols if symbols is not None else read_words(ckpt_dir)
    pm = read_packed(ckpt_dir, config, symbols)
    module = pm.layout.model
    mode = choose_runtime(pm.layout, runtime)
    if mode == "packed":
        pm.decode_all()  # fp32 / fp16 rows and biases; coded weights are then replaced by hooks
        to_packed_in_memory(module, pm)
    else:
        pm.decode_all()
        if mode == "int8":
            if device is not None and torch.device(device).type != "cpu":
                raise CheckpointError("the int8 runtime runs on CPU only")
            device = torch.device("cpu")
            n = to_int8(module, pm)
            logger.info("%s: %d layers run with int8 kernels", ckpt_dir, n)
    # requires_grad stays as load_float leaves it (measured: scoring is ~7% slower on CPU with it off)
    # packed: the output layer decodes its weights on every call, so it is called once per pass
    return NeuralLM(module, symbols, device=device, output_chunk=0 if mode == "packed" else None)
