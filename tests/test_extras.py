"""Optional dependencies: a missing one is a one-line error naming the extra to install."""

import sys

import pytest

from kaldi_mpq.cli import main as cli_main
from kaldi_mpq.errors import MissingExtraError
from kaldi_mpq.extras import import_extra


def test_a_missing_module_names_the_extra():
    with pytest.raises(MissingExtraError, match=r"plotting needs no_such_pkg_xyz, .*pip install 'kaldi-mpq\[plot\]'"):
        import_extra("no_such_pkg_xyz.sub", extra="plot", feature="plotting")
    assert import_extra("json", extra="none", feature="x") is sys.modules["json"]


def test_a_command_without_its_extra_says_which_to_install(tmp_path, monkeypatch, capsys):
    manifest = tmp_path / "sups.jsonl"
    manifest.write_text('{"id": "u1", "recording_id": "r", "start": 0, "duration": 1, "channel": 0, "text": "A B"}\n')
    monkeypatch.setitem(sys.modules, "lhotse", None)  # as if not installed: importing it raises ImportError
    assert cli_main(["prepare-text", str(manifest), "--out", str(tmp_path / "out.txt")]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if " INFO " not in line]
    assert len(err) == 1 and "pip install 'kaldi-mpq[lhotse]'" in err[0] and "sups.jsonl" in err[0]
    assert not (tmp_path / "out.txt").exists()


def test_quant_report_says_plot_extra_before_evaluating(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    missing_lm = tmp_path / "no_such_lm"  # never opened: the extra is checked first
    assert cli_main(["quant-report", "--text", str(tmp_path / "t.txt"), "--plot", str(tmp_path / "p.png"),
                     str(missing_lm)]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if " INFO " not in line]
    assert len(err) == 1 and "pip install 'kaldi-mpq[plot]'" in err[0] and "quant-report --plot" in err[0]
