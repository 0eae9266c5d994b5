"""LM configs: YAML presets shipped in ``kaldi_mpq/conf/lm/`` or user files, plus ``key=value`` overrides.

A config has two sections::

    model:                      # kaldi_mpq.lm.checkpoint.build_model options
      type: lstm
      hidden_dim: 200
    train:                      # kaldi_mpq.lm.train.TrainConfig fields
      lr: 1.0
      epochs: 13

``--config lstm_2x200`` names a preset (``kaldi-mpq train-lm --list-presets`` lists them);
``--config my.yaml`` is a path. Overrides are ``section.key=value`` with YAML values
(``train.lr=0.5``, ``model.tie_weights=true``); a bare ``key`` is looked up in both sections.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Sequence

import yaml

from kaldi_mpq.errors import ConfigError

def _preset_dir():
    """Where the shipped presets are (``kaldi_mpq/conf/lm``, inside the installed package)."""
    return resources.files("kaldi_mpq") / "conf" / "lm"


def preset_names() -> list[str]:
    """Names of the shipped presets."""
    return sorted(p.name[:-5] for p in _preset_dir().iterdir() if p.name.endswith(".yaml"))


def _read_yaml(text: str, where: str) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: invalid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping with 'model' and 'train' sections")
    unknown = set(data) - {"model", "train"}
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(sorted(unknown))} (expected model, train)")
    if "model" not in data:
        raise ConfigError(f"{where}: no 'model' section")
    return {"model": dict(data["model"] or {}), "train": dict(data.get("train") or {})}


def load_config(name_or_path: str, overrides: Sequence[str] = ()) -> dict:
    """Read a preset (by name) or a YAML file (by path) and apply ``overrides``.

    Raises:
        ConfigError: unknown preset, missing file, bad YAML, malformed or unknown override key.
    """
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        config = _read_yaml(path.read_text(encoding="utf-8"), str(path))
    else:
        res = _preset_dir() / f"{name_or_path}.yaml"
        if not res.is_file():
            raise ConfigError(
                f"unknown config preset {name_or_path!r} (presets: {', '.join(preset_names())}; or give a .yaml path)"
            )
        config = _read_yaml(res.read_text(encoding="utf-8"), f"preset {name_or_path}")
    for item in overrides:
        apply_override(config, item)
    return config


def apply_override(config: dict, item: str) -> None:
    """Apply one ``section.key=value`` (or ``key=value``) override in place."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected key=value, e.g. train.lr=0.5")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):  # YAML 1.1 reads "1e30" as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if "." in key:
        section, name = key.split(".", 1)
        if section not in ("model", "train"):
            raise ConfigError(f"override {item!r}: section must be model or train")
    else:
        from kaldi_mpq.lm.train import TrainConfig

        name = key
        section = "train" if name in TrainConfig.__dataclass_fields__ else "model"
    config[section][name] = value
