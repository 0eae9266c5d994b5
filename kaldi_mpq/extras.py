"""Optional dependencies: a feature that needs one imports it here, so a plain ``pip install kaldi-mpq``
stays light and a missing one is a one-line error naming the extra to install.

Example::

    plt = import_extra("matplotlib.pyplot", extra="plot", feature="quant-report --plot")

The extras are declared in ``setup.py``: ``plot`` (matplotlib) and ``lhotse`` (lhotse manifests as text
input); ``test`` brings both.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from kaldi_mpq.errors import MissingExtraError


def import_extra(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` saying which extra ``feature`` needs."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"{feature} needs {module.split('.')[0]}, which is not installed ({e}): "
            f"pip install 'kaldi-mpq[{extra}]'") from None
