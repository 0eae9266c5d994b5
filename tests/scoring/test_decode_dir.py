import os
import shutil

import pytest

from kaldi_mpq.errors import KaldiMpqError
from kaldi_mpq.rescoring.decode_dir import lattice_files
from kaldi_mpq.scoring.decode_dir import ScoreOptions, score_decode_dir

TAGALOG = "kaldi-lattices-tagalog-tri3a"
YESNO = "kaldi-lattices-yesno"


def link_decode_dir(src, dst):
    """A writable decode dir whose lattices and num_jobs are links to the read-only data."""
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.name == "num_jobs" or f.name.startswith("lat."):
            os.symlink(f, dst / f.name)
    return dst


@pytest.fixture
def tagalog_dirs(shared_data, tmp_path, monkeypatch):
    dec = shared_data(TAGALOG, "exp", "tri3a", "decode")
    link_decode_dir(dec, tmp_path / "exp" / "tri3a" / "decode")
    (tmp_path / "data" / "test").mkdir(parents=True)
    shutil.copy(dec / "scoring" / "test_filt.txt", tmp_path / "data" / "test" / "text")
    monkeypatch.chdir(tmp_path)
    return dec, shared_data(TAGALOG, "data", "lang")


def test_tagalog_every_wer_k_from_lattices(tagalog_dirs, tmp_path):
    dec, lang = tagalog_dirs
    stats = score_decode_dir("data/test", lang, "exp/tri3a/decode", ScoreOptions(layout="old", hyp_filter="unk"))
    assert sorted(k for k, _ in stats) == list(range(7, 18))
    out = tmp_path / "exp" / "tri3a" / "decode"
    for k in range(7, 18):
        assert (out / f"wer_{k}").read_text() == (dec / f"wer_{k}").read_text(), k
        assert (out / "scoring" / f"{k}.tra").read_text() == (dec / "scoring" / f"{k}.tra").read_text(), k
    assert stats[(17, "0.0")].errors == 198


def test_tagalog_cli_kaldi_layout(tagalog_dirs, tmp_path):
    from kaldi_mpq.cli import main

    _, lang = tagalog_dirs
    assert main(["score", "--word-ins-penalty", "0.0", "data/test", str(lang / "words.txt"), "exp/tri3a/decode"]) == 0
    out = tmp_path / "exp" / "tri3a" / "decode"
    assert (out / "scoring_kaldi" / "best_wer").read_text().startswith("%WER 3.92 [ 198 / 5056, 32 ins, 45 del, 121 sub ]")
    assert (out / "wer_10_0.0").read_text().splitlines()[1] == "%WER 4.65 [ 235 / 5056, 51 ins, 41 del, 143 sub ]"


def test_yesno_scoring_kaldi_from_lattices(shared_data, tmp_path, monkeypatch):
    dec = shared_data(YESNO, "exp", "mono0a", "decode_test_yesno")
    link_decode_dir(dec, tmp_path / "exp" / "mono0a" / "decode_test_yesno")
    monkeypatch.chdir(tmp_path)
    score_decode_dir(shared_data(YESNO, "data", "test_yesno"), shared_data(YESNO, "data", "lang_test_tg"),
                     "exp/mono0a/decode_test_yesno")
    expected = [p.relative_to(dec) for p in dec.rglob("*") if p.is_file() and not p.name.startswith("lat.")
                and p.name != "num_jobs"]
    assert len(expected) == 74
    for rel in expected:
        assert (tmp_path / "exp" / "mono0a" / "decode_test_yesno" / rel).read_text() == (dec / rel).read_text(), rel


def test_missing_job_archive_is_named(tmp_path):
    (tmp_path / "num_jobs").write_text("2\n")
    (tmp_path / "lat.1.gz").write_bytes(b"")
    with pytest.raises(KaldiMpqError, match="lat.2.gz missing"):
        lattice_files(tmp_path)


def test_glob_order_of_archives(tmp_path):
    (tmp_path / "num_jobs").write_text("11\n")
    for j in range(1, 12):
        (tmp_path / f"lat.{j}.gz").write_bytes(b"")
    assert [f.name for f in lattice_files(tmp_path)][:4] == ["lat.1.gz", "lat.10.gz", "lat.11.gz", "lat.2.gz"]


def test_local_score_kaldi_wrapper(shared_data, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    dec = link_decode_dir(shared_data(YESNO, "exp", "mono0a", "decode_test_yesno"), tmp_path / "decode")
    script = Path(__file__).resolve().parents[2] / "local" / "score_kaldi.sh"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", str(script), "--word-ins-penalty", "0.0", "--max-lmwt", "9",
                          str(shared_data(YESNO, "data", "test_yesno")), str(shared_data(YESNO, "data", "lang_test_tg")),
                          str(dec)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("%WER 0.00 [ 0 / 232, 0 ins, 0 del, 0 sub ]")
    assert (dec / "scoring_kaldi" / "log" / "score.log").exists()
