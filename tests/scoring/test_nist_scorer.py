import pytest

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.scoring.mapsswe import mapsswe
from kaldi_mpq.scoring.nist_files import (
    CtmWord, StmSegment, exclude_prefix, read_ctm, read_stm, subsets_for,
)
from kaldi_mpq.scoring.nist_scorer import score_stm_ctm
from kaldi_mpq.scoring.sclite_io import run_sc_stats_mapsswe, run_sclite


def test_python_scorer_agrees_with_sclite(ami_pair, sclite_path_fixture):
    stm = read_stm(ami_pair / "ref.stm")
    for name in ("sys1", "sys2"):
        ours, _ = score_stm_ctm(stm, read_ctm(ami_pair / f"{name}.ctm"))
        theirs, alignments = run_sclite(ami_pair / "ref.stm", ami_pair / f"{name}.ctm", ami_pair, name)
        assert (ours.segments, ours.words) == (theirs.sentences, theirs.words) == (348, 2473)
        for mine, sclite in zip((ours.pct(ours.corr), ours.pct(ours.sub), ours.pct(ours.dele), ours.pct(ours.ins)),
                                (theirs.corr, theirs.sub, theirs.dele, theirs.ins)):
            assert round(mine, 1) == sclite
        # per segment error split equals sclite's
        assert [a.counts() for a in _by_segment(stm, ami_pair, name)] == [a.counts() for a in alignments]


def _by_segment(stm, d, name):
    return score_stm_ctm(stm, read_ctm(d / f"{name}.ctm"))[1]


def test_mapsswe_agrees_with_sc_stats(ami_pair, sclite_path_fixture):
    _, a = run_sclite(ami_pair / "ref.stm", ami_pair / "sys1.ctm", ami_pair, "sys1")
    _, b = run_sclite(ami_pair / "ref.stm", ami_pair / "sys2.ctm", ami_pair, "sys2")
    z, p = run_sc_stats_mapsswe([ami_pair / "sys1.sgml", ami_pair / "sys2.sgml"], ami_pair)
    res = mapsswe(a, b)
    assert round(res.z, 3) == z and round(res.p_value, 3) == round(p, 3)
    # the same test on our own alignments
    stm = read_stm(ami_pair / "ref.stm")
    ours = mapsswe(_by_segment(stm, ami_pair, "sys1"), _by_segment(stm, ami_pair, "sys2"))
    assert round(ours.p_value, 3) == round(p, 3)
    assert ours.mark() == "~" and ours.better == 0


def test_mapsswe_significant_and_sign():
    from kaldi_mpq.scoring.sclite_io import AlignedWord, SegmentAlignment

    C = AlignedWord("C", "a", "a")
    S = AlignedWord("S", "a", "b")
    good = [SegmentAlignment(str(i), "s", (C, C, C, C, C)) for i in range(60)]
    bad = [SegmentAlignment(str(i), "s", (C, S, C, S, C) if i % 5 == 0 else (C, C, S if i % 3 else C, C, C))
           for i in range(60)]
    res = mapsswe(good, bad)
    assert res.mean < 0 and res.better == 1 and res.mark() == "***" and res.num_segments == 44
    assert mapsswe(bad, good).better == 2
    # zero variance of the differences: sc_stats reports Z = 0, so do we
    assert mapsswe(good, [SegmentAlignment(str(i), "s", (C, C, S, C, C)) for i in range(60)]).z == 0.0
    with pytest.raises(ScoringError, match="no segment in common"):
        mapsswe(good, [SegmentAlignment("x", "s", (C,))])


def test_optional_deletable_and_case(tmp_path):
    stm = [StmSegment("f", "1", "s", 0.0, 2.0, "", ("I", "(UH)", "SEE", "IT"))]
    ctm = [CtmWord("f", "1", 0.1, 0.2, "i"), CtmWord("f", "1", 0.5, 0.2, "see"), CtmWord("f", "1", 0.9, 0.2, "it"),
           CtmWord("f", "1", 5.0, 0.2, "stray")]
    tot, _ = score_stm_ctm(stm, ctm)
    assert (tot.words, tot.corr, tot.dele, tot.ins) == (4, 4, 0, 1)
    tot, _ = score_stm_ctm(stm, ctm, opt_del=False, case_sensitive=True)
    assert (tot.corr, tot.sub, tot.dele) == (0, 4, 0)  # "stray" after the last segment joins it (sclite)


def test_subsets_like_kaldi_grep():
    assert subsets_for("eval2000_hires") == {"swbd": "en_", "callhm": "sw_"}
    assert subsets_for("rt03") == {"swbd": "fsh_", "fsh": "sw_"} and subsets_for("dev") == {}
    segs = [StmSegment(f, "A", "s", 0, 1, "", ("X",)) for f in ("en_4156", "sw_4390", "sw_4484")]
    assert [s.file for s in exclude_prefix(segs, "en_")] == ["sw_4390", "sw_4484"]
    assert [s.file for s in exclude_prefix(segs, "sw_")] == ["en_4156"]


@pytest.mark.parametrize(
    "reader, content, message",
    [
        (read_stm, "f 1 s 0.0\n", r"x:1: expected '<file> <chan> <spk>"),
        (read_stm, ";; c\nf 1 s 2.0 1.0 W\n", r"x:2: segment ends \(1.0\) before it starts"),
        (read_stm, "f 1 s a b W\n", r"x:1: times 'a' 'b' are not numbers"),
        (read_ctm, "f 1 0.0 0.1\n", r"x:1: expected '<file> <chan> <start> <dur> <word>"),
        (read_ctm, "f 1 0.0 zz W\n", r"x:1: non-numeric"),
    ],
)
def test_bad_stm_ctm(tmp_path, reader, content, message):
    (tmp_path / "x").write_text(content)
    with pytest.raises(ScoringError, match=message):
        reader(tmp_path / "x")
