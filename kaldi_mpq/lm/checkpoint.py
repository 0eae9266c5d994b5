"""LM checkpoint directories: build, save and load.

A checkpoint is a directory::

    config.yaml         version: 1
                        format: float           # packed: a quantized model (kaldi_mpq.quant.packed)
                        model: {type: lstm, embed_dim: 200, hidden_dim: 200, num_layers: 2, ...}
                        train: {...}            # how it was trained (informational)
                        state: {epoch: 3, valid_ppl: 141.2, finished: true, ...}   # optional
    words.txt           the Kaldi symbol table the ids refer to
    model.safetensors   the parameters (tied weights stored once)

It is written atomically (built under a temporary name, then renamed), so a kill never leaves a half
checkpoint. ``train-lm`` rewrites it after every epoch with ``state.finished: false`` until the run
ends, so a killed run leaves a checkpoint that :func:`load_module` refuses by name (see
:func:`check_finished`). This module loads float checkpoints only; :func:`kaldi_mpq.lm_loading.load_lm`, above
``lm`` and ``quant``, loads any LM directory, float or packed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional, Union

import torch
import yaml
from torch import nn

from kaldi_mpq.errors import CheckpointError, ConfigError, SymbolTableError
from kaldi_mpq.fileio import Pathlike, atomic_dir, atomic_write, write_safetensors
from kaldi_mpq.lm.lstm import LstmLM
from kaldi_mpq.lm.neural import NeuralLM
from kaldi_mpq.lm.transformer import TransformerLM
from kaldi_mpq.text.symbols import SymbolTable

logger = logging.getLogger(__name__)

CONFIG_VERSION = 1
CONFIG_FILE, WORDS_FILE, WEIGHTS_FILE = "config.yaml", "words.txt", "model.safetensors"
#: set to 1 to load the weights of a training run that did not finish (with a warning)
ALLOW_PARTIAL_ENV = "KALDI_MPQ_ALLOW_PARTIAL"

MODEL_TYPES: dict[str, type[nn.Module]] = {"lstm": LstmLM, "transformer": TransformerLM}
# Options of each model type (the keyword arguments of its class, less vocab_size and mask_ids).
_MODEL_OPTIONS = {
    "lstm": ("embed_dim", "hidden_dim", "num_layers", "dropout", "tie_weights", "init_range"),
    "transformer": ("d_model", "num_layers", "num_heads", "ff_dim", "dropout", "max_len", "positions",
                    "norm", "tie_weights"),
}

def build_model(model_config: dict, symbols: SymbolTable) -> nn.Module:
    """A freshly initialised module from a ``model:`` config section (``type`` + options).

    Raises:
        ConfigError: unknown type or option, or an invalid value.
    """
    cfg = dict(model_config)
    mtype = cfg.pop("type", None)
    if mtype not in MODEL_TYPES:
        raise ConfigError(f"model.type must be one of {', '.join(MODEL_TYPES)}, got {mtype!r}")
    unknown = set(cfg) - set(_MODEL_OPTIONS[mtype])
    if unknown:
        raise ConfigError(
            f"unknown {mtype} option(s) {', '.join(sorted(unknown))}; known: {', '.join(_MODEL_OPTIONS[mtype])}"
        )
    try:
        return MODEL_TYPES[mtype](vocab_size=symbols.size, mask_ids=symbols.non_predictable_ids(), **cfg)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model config {model_config}: {e}") from None


def model_type_of(module: nn.Module) -> str:
    for name, cls in MODEL_TYPES.items():
        if isinstance(module, cls):
            return name
    raise CheckpointError(f"cannot save a {type(module).__name__}: not an LSTM or Transformer LM")


def _unique_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with tied (shared-storage) tensors kept once, under their first name."""
    seen: set[int] = set()
    out = {}
    for name, t in module.state_dict().items():
        key = t.data_ptr()
        if key in seen:
            continue
        seen.add(key)
        out[name] = t.detach().to("cpu").contiguous()
    return out


def save_checkpoint(
    out_dir: Pathlike,
    module: nn.Module,
    config: dict,
    symbols: SymbolTable,
    extra_files: Optional[dict[str, bytes]] = None,
) -> Path:
    """Write a checkpoint directory atomically.

    Args:
        out_dir: the directory (replaced as a whole if it exists).
        module: an :class:`LstmLM` or :class:`TransformerLM`.
        config: the full config (with a ``model:`` section) or only the model section (with ``type``).
            ``version`` and ``format: float`` are added.
        symbols: the vocabulary.
        extra_files: other files to put in the directory (e.g. a training state), name -> bytes.
    """
    from safetensors.torch import save

    config = dict(config)
    if "model" not in config:
        config = {"model": config}
    config["model"] = dict(config["model"])
    config["model"].setdefault("type", model_type_of(module))
    config = {"version": CONFIG_VERSION, "format": "float", **config}
    with atomic_dir(out_dir) as tmp:
        with atomic_write(tmp / CONFIG_FILE) as f:
            yaml.safe_dump(config, f, sort_keys=False)
        symbols.write(tmp / WORDS_FILE)
        write_safetensors(tmp / WEIGHTS_FILE, save(_unique_state_dict(module), metadata={"format": "pt"}))
        for name, data in (extra_files or {}).items():
            with atomic_write(tmp / name, "wb") as f:
                f.write(data)
        _make_readable(tmp)
    return Path(out_dir)


def _make_readable(directory: Path) -> None:
    """Temporary files are created private; give the checkpoint the usual permissions (umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(directory, 0o777 & ~umask)
    for f in directory.iterdir():
        os.chmod(f, 0o666 & ~umask)


def read_config(ckpt_dir: Pathlike) -> dict:
    """The ``config.yaml`` of a checkpoint directory."""
    path = Path(ckpt_dir) / CONFIG_FILE
    if not Path(ckpt_dir).is_dir():
        raise CheckpointError(f"{ckpt_dir}: no such checkpoint directory")
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (not an LM checkpoint directory)")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt YAML ({e})") from None
    if not isinstance(config, dict) or "model" not in config:
        raise CheckpointError(f"{path}: expected a mapping with a 'model' section")
    if int(config.get("version", 0)) > CONFIG_VERSION:
        raise CheckpointError(
            f"{path}: config version {config['version']} is newer than this kaldi-mpq understands ({CONFIG_VERSION})"
        )
    return config


def check_finished(ckpt_dir: Pathlike, config: dict, allow_partial: Optional[bool] = None) -> None:
    """Refuse the checkpoint of a training run that stopped before its end (``state.finished: false``):
    its weights are a mid-run epoch's, which every later stage would otherwise use without a word.

    ``allow_partial`` (default: the ``KALDI_MPQ_ALLOW_PARTIAL`` environment variable is ``1``) loads it
    anyway, with a warning. Checkpoints without a ``state`` (not written by ``train-lm``) pass.

    Raises:
        CheckpointError: names the directory, the epochs done and planned, and how to resume.
    """
    state = config.get("state") or {}
    if state.get("finished", True) is not False:
        return
    planned = (config.get("train") or {}).get("epochs", "?")
    what = (f"{ckpt_dir}: training did not finish (epoch {state.get('epoch', '?')} of {planned} done, "
            f"best epoch {state.get('best_epoch', '?')})")
    if allow_partial is None:
        allow_partial = os.environ.get(ALLOW_PARTIAL_ENV, "") == "1"
    if allow_partial:
        logger.warning("%s; using its weights anyway (%s=1)", what, ALLOW_PARTIAL_ENV)
        return
    raise CheckpointError(f"{what}; finish it with `kaldi-mpq train-lm ... --resume --out {ckpt_dir}` "
                          f"(same options), or set {ALLOW_PARTIAL_ENV}=1 to use these weights anyway")


def load_module(ckpt_dir: Pathlike, config: dict, symbols: SymbolTable,
                allow_partial: Optional[bool] = None) -> nn.Module:
    """Build the module of a float checkpoint and load its weights (on CPU); an unfinished training
    run's checkpoint is refused (:func:`check_finished`)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    check_finished(ckpt_dir, config, allow_partial)
    path = Path(ckpt_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        module = build_model(config["model"], symbols)
    except ConfigError as e:
        raise CheckpointError(f"{Path(ckpt_dir) / CONFIG_FILE}: {e}") from None
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: corrupt weights file ({e})") from None
    expected = module.state_dict()
    names = {n for n, t in _unique_state_dict(module).items()}
    missing = sorted(names - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match config.yaml (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for n, t in tensors.items():
        if t.shape != expected[n].shape:
            raise CheckpointError(f"{path}: {n} has shape {list(t.shape)}, config.yaml implies {list(expected[n].shape)}")
    module.load_state_dict(tensors, strict=False)
    return module


def read_words(ckpt_dir: Pathlike) -> SymbolTable:
    path = Path(ckpt_dir) / WORDS_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        # unk: whichever of the usual symbols the table has
        with open(path, encoding="utf-8") as f:
            present = {line.split()[0] for line in f if line.strip()}
    except (UnicodeDecodeError, IndexError) as e:
        raise CheckpointError(f"{path}: corrupt word list ({e})") from None
    unk = next((u for u in ("<unk>", "<UNK>", "<SPOKEN_NOISE>") if u in present), None)
    try:
        return SymbolTable.read(path, unk=unk)
    except SymbolTableError as e:
        raise CheckpointError(str(e)) from None


def open_checkpoint(ckpt_dir: Pathlike, words: Union[None, Pathlike, SymbolTable] = None
                    ) -> tuple[dict, SymbolTable]:
    """``(config, symbols)`` of an LM directory of any format, its word list checked against ``words``
    (a lang dir's ``words.txt``, path or table; ``None``: no check).

    Raises:
        SymbolTableError: "word lists mismatch: id N is 'A' in X but 'B' in Y".
        CheckpointError: a missing or corrupt ``config.yaml`` or ``words.txt`` (named).
    """
    config = read_config(ckpt_dir)
    symbols = read_words(ckpt_dir)
    if words is not None:
        given = words if isinstance(words, SymbolTable) else SymbolTable.read(words, unk=None)
        symbols.check_same(given)
    return config, symbols


def load_float(ckpt_dir: Pathlike, config: dict, symbols: SymbolTable,
               device: Optional[Union[str, torch.device]] = None) -> NeuralLM:
    """The :class:`NeuralLM` of a float checkpoint whose config and words are already read."""
    return NeuralLM(load_module(ckpt_dir, config, symbols), symbols, device=device)


def load_float_lm(
    ckpt_dir: Pathlike,
    words: Union[None, Pathlike, SymbolTable] = None,
    device: Optional[Union[str, torch.device]] = None,
) -> NeuralLM:
    """Load a float checkpoint directory as a :class:`NeuralLM`: :func:`kaldi_mpq.lm_loading.load_lm`
    (same arguments, same errors) for the float format only; a directory of another format (e.g. a
    packed model) is a :class:`CheckpointError`."""
    config, symbols = open_checkpoint(ckpt_dir, words)
    fmt = str(config.get("format", "float"))
    if fmt != "float":
        raise CheckpointError(f"{Path(ckpt_dir) / CONFIG_FILE}: a {fmt!r} checkpoint, not a float one "
                              f"(kaldi_mpq.lm_loading.load_lm loads every format)")
    return load_float(ckpt_dir, config, symbols, device)
