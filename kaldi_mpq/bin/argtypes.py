"""Argparse ``type=`` functions that reject bad numbers when the command line is parsed.

A NaN acoustic scale or ``--n 0`` would otherwise run to the end and quietly drop every utterance;
with these the command stops at once with argparse's usage line, e.g.
``kaldi-mpq nbest-rescore: error: argument --n: expected an integer >= 1, got '0'``.

Usage::

    parser.add_argument("--n", type=positive_int, default=20)
    parser.add_argument("--acwt", type=non_negative_float, default=0.1)
    parser.add_argument("--weight", type=unit_float, default=0.5)
    parser.add_argument("--lattice-prune-beam", type=positive_beam, default=8.0)
    parser.add_argument("--bits", type=bit_width)            # one of the quantizer's bit-widths
    parser.add_argument("--bits", type=bit_widths)           # "1,2,4,8" -> [1, 2, 4, 8]

Every numeric option of every command uses one of these (tests/test_argtypes.py checks it).
"""

from __future__ import annotations

import argparse
import math


def _number(text: str, kind: type, what: str, ok) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _number(text, int, "an integer >= 1", lambda v: v >= 1)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (a seed; a count where 0 means none)."""
    return _number(text, int, "an integer >= 0", lambda v: v >= 0)


def _supported_bits() -> tuple[int, ...]:
    from kaldi_mpq.quant.quantizer import SUPPORTED_BITS  # here: the other commands need no torch

    return SUPPORTED_BITS


def bit_width(text: str) -> int:
    """A bit-width the quantizer supports (1 2 3 4 5 6 8 16)."""
    bits = _supported_bits()
    return _number(text, int, f"a bit-width ({' '.join(map(str, bits))})", lambda v: v in bits)


def bit_widths(text: str) -> list[int]:
    """Comma-separated supported bit-widths, e.g. ``1,2,4,8``."""
    bits = _supported_bits()
    what = f"comma-separated bit-widths ({' '.join(map(str, bits))})"
    return [_number(b, int, what, lambda v: v in bits) for b in text.split(",")] if text else []


def band_edges(text: str) -> list[int]:
    """Rising comma-separated word ranks, e.g. ``1000,3000`` (word bands: the vocabulary size is checked
    where the LM is known)."""
    what = "rising comma-separated word counts, e.g. 1000,3000"
    edges = [_number(e, int, what, lambda v: v > 0) for e in text.split(",")]
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return edges


def finite_float(text: str) -> float:
    """Any finite number (no NaN, no infinity)."""
    return _number(text, float, "a finite number", math.isfinite)


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    return _number(text, float, "a finite number >= 0", lambda v: math.isfinite(v) and v >= 0)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return _number(text, float, "a finite number > 0", lambda v: math.isfinite(v) and v > 0)


def unit_float(text: str) -> float:
    """A number in [0, 1] (an interpolation weight)."""
    return _number(text, float, "a number in [0, 1]", lambda v: 0.0 <= v <= 1.0)


def positive_beam(text: str) -> float:
    """A pruning beam: a number > 0, ``inf`` meaning no pruning."""
    return _number(text, float, "a number > 0 (inf: no pruning)", lambda v: v > 0)
