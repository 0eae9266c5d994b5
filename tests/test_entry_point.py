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


def _make_vocab(tmp_path, out, preexec=None):
    text = tmp_path / "corpus.txt"
    text.write_text("the cat sat on the mat\n" * 2000)
    return subprocess.run([sys.executable, "-m", "kaldi_mpq", "make-vocab", "--text", str(text), "--out", str(out),
                           "--write-text", str(out) + ".txt"],
                          capture_output=True, text=True, preexec_fn=preexec)


def test_unwritable_output_is_one_line_error(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    r = _make_vocab(tmp_path, blocker / "words.txt")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("kaldi-mpq make-vocab: error: ")
    assert str(blocker) in r.stderr


def test_full_disk_is_one_line_error_and_leaves_nothing(tmp_path):
    import resource
    import signal

    def small_disk():  # writes past 4 KiB fail with EFBIG, as ENOSPC would on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = _make_vocab(tmp_path, out_dir / "words.txt", preexec=small_disk)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and "error:" in r.stderr
    assert list(out_dir.iterdir()) == []  # no partial output, no temp file left behind
