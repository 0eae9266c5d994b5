import subprocess
import sys

from kaldi_mpq import cli


def test_help_lists_commands(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "usage: kaldi-mpq" in out


def test_help_does_not_import_torch():
    code = "import sys; from kaldi_mpq import cli; cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
