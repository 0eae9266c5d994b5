import pytest

from kaldi_mpq.cli import main
from kaldi_mpq.errors import ScoringError
from kaldi_mpq.scoring.significance import compare_texts, text_alignments
from kaldi_mpq.scoring.transcripts import Transcripts


def test_cli_ctms_agree_with_sc_stats(ami_pair, sclite_path_fixture, capsys):
    d = ami_pair
    assert main(["significance", "--stm", str(d / "ref.stm"), "--sc-stats", str(d / "sys1.ctm"), str(d / "sys2.ctm")]) == 0
    out = capsys.readouterr().out
    ours = float(out.split(" p ")[1].split()[0])
    theirs = float(out.split("sc_stats: Z")[1].split("p ")[1])
    assert ours == theirs and "~ (no significant difference at 0.05)" in out


def test_texts_and_missing_hypotheses(tmp_path, caplog):
    (tmp_path / "ref").write_text("u1 a b c d\nu2 e f g h\nu3 i j\n")
    (tmp_path / "h1").write_text("u1 a b c d\nu2 e f g h\n")
    (tmp_path / "h2").write_text("u1 a x c d\nu2 e f g h\nu3 i j\n")
    res = compare_texts(tmp_path / "ref", tmp_path / "h1", tmp_path / "h2")
    assert (res.errors1, res.errors2, res.num_segments) == (2, 1, 2)
    assert "1 reference utterances have no hypothesis" in caplog.text
    with pytest.raises(ScoringError, match="'u9' is not in the reference"):
        text_alignments(Transcripts({"u1": ["a"]}, "ref"), Transcripts({"u9": ["a"]}, "hyp"))


def test_decode_dirs_need_scoring(tmp_path):
    (tmp_path / "ref").write_text("u1 a\n")
    assert main(["significance", "--ref", str(tmp_path / "ref"), "--lmwt", "9", str(tmp_path), str(tmp_path)]) == 1
