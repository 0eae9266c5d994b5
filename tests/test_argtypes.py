"""Numeric options are checked when the command line is parsed (kaldi_mpq/bin/argtypes.py)."""

from __future__ import annotations

import argparse
import math

import pytest

from kaldi_mpq import cli
from kaldi_mpq.bin.argtypes import finite_float, non_negative_float, positive_beam, positive_int, unit_float


def test_type_functions():
    assert positive_int("3") == 3 and non_negative_float("0") == 0.0 and unit_float("1") == 1.0
    assert positive_beam("inf") == math.inf and finite_float("-2.5") == -2.5
    for fn, bad in [(positive_int, "0"), (positive_int, "2.5"), (positive_int, "x"), (finite_float, "nan"),
                    (finite_float, "inf"), (non_negative_float, "-0.1"), (non_negative_float, "nan"),
                    (unit_float, "1.5"), (unit_float, "nan"), (positive_beam, "0"), (positive_beam, "nan")]:
        with pytest.raises(argparse.ArgumentTypeError, match=f"got '{bad}'"):
            fn(bad)


@pytest.mark.parametrize("command,option,value", [
    ("nbest-rescore", "--n", "0"), ("nbest-rescore", "--acwt", "nan"), ("nbest-rescore", "--weight", "2"),
    ("nbest-rescore", "--max-batch", "-1"), ("lattice-rescore", "--max-arcs", "0"),
    ("lattice-rescore", "--lattice-prune-beam", "nan"), ("lattice-rescore", "--max-ngram-order", "0"),
    ("lattice-rescore", "--job", "0"), ("lattice-to-nbest", "--n", "0"), ("lattice-to-nbest", "--acoustic-scale", "nan"),
])
def test_rescoring_commands_reject_bad_numbers_at_parse_time(command, option, value, capsys):
    if command == "lattice-to-nbest":
        argv = [command, option, value, "ark:in.ark", "ark:out.ark"]
    else:
        argv = [command, "--lm", "lm", "--words", "words.txt", option, value, "in", "out"]
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert f"argument {option}: expected" in capsys.readouterr().err
