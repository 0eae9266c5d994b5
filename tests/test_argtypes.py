"""Numeric options are checked when the command line is parsed (kaldi_mpq/bin/argtypes.py)."""

from __future__ import annotations

import argparse
import math

import pytest

from kaldi_mpq import cli
from kaldi_mpq.bin.argtypes import band_edges, finite_float, non_negative_float, positive_beam, positive_int, unit_float


def test_type_functions():
    assert positive_int("3") == 3 and non_negative_float("0") == 0.0 and unit_float("1") == 1.0
    assert positive_beam("inf") == math.inf and finite_float("-2.5") == -2.5
    for fn, bad in [(positive_int, "0"), (positive_int, "2.5"), (positive_int, "x"), (finite_float, "nan"),
                    (finite_float, "inf"), (non_negative_float, "-0.1"), (non_negative_float, "nan"),
                    (unit_float, "1.5"), (unit_float, "nan"), (positive_beam, "0"), (positive_beam, "nan")]:
        with pytest.raises(argparse.ArgumentTypeError, match=f"got '{bad}'"):
            fn(bad)


def test_band_edges():
    assert band_edges("1000,3000") == [1000, 3000] and band_edges("5") == [5]
    for bad in ("0,10", "3000,1000", "10,10", "1e3", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="rising comma-separated word counts"):
            band_edges(bad)


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


# -- every command ------------------------------------------------------------------------------------
from kaldi_mpq.bin import argtypes  # noqa: E402

#: bad values per type function: each must be refused at parse time
BAD_VALUES = {
    argtypes.positive_int: ["abc", "0", "-1", "2.5", "nan"],
    argtypes.non_negative_int: ["abc", "-1", "1.5", "inf"],
    argtypes.finite_float: ["abc", "nan", "inf", "-inf"],
    argtypes.non_negative_float: ["abc", "nan", "inf", "-1"],
    argtypes.positive_float: ["abc", "nan", "inf", "0", "-1"],
    argtypes.unit_float: ["abc", "nan", "-1", "2"],
    argtypes.positive_beam: ["abc", "nan", "0", "-1"],
    argtypes.bit_width: ["abc", "0", "7", "32", "-1"],
    argtypes.bit_widths: ["abc", "1,7", "1,,2", "2,nan"],
}


def _command_actions(command):
    sub = next(a for a in cli.build_parser(command)._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]._actions


def _numeric_options():
    """``(command, option, type function)`` of every option of every command that takes a number, read
    from the parsers themselves, so a new option cannot slip past the table."""
    out, unchecked = [], []
    for command in cli.COMMANDS:
        for a in _command_actions(command):
            if a.type in BAD_VALUES:
                out.append((command, a.option_strings[0] if a.option_strings else a.dest, a.type))
            elif a.type in (int, float) or (type(a.default) in (int, float) and a.type is None):
                unchecked.append(f"{command} {a.option_strings or a.dest}")
    return out, unchecked


def test_every_numeric_option_uses_an_argtypes_type():
    options, unchecked = _numeric_options()
    assert not unchecked, f"numeric options without a kaldi_mpq.bin.argtypes type: {unchecked}"
    assert len({c for c, _, _ in options}) >= 14 and len(options) > 50  # the walk found the commands


@pytest.mark.parametrize("command,option,fn", _numeric_options()[0], ids=lambda x: getattr(x, "__name__", x))
def test_every_command_rejects_bad_numbers_at_parse_time(command, option, fn, capsys):
    for value in BAD_VALUES[fn]:
        argv = [command, option, value] if option.startswith("-") else [command, value]
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2, (argv, err)
        assert f"argument {option}: expected" in err and "Traceback" not in err, (argv, err)
