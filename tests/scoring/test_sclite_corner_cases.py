"""The Python scorer against the installed sclite on SCTK-style corner cases: equal-cost alignments,
CTM alternations, reference alternations, ``WORD;tag``, fragments, optional words, ignore segments in
every spelling, and words whose midpoint falls on a segment boundary."""

import random

import pytest

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.scoring.nist_files import CtmWord, read_ctm, read_stm, write_ctm
from kaldi_mpq.scoring.nist_scorer import score_stm_ctm
from kaldi_mpq.scoring.sclite_io import run_sclite

LABEL = ';; LABEL "O" "" ""\n'


def _both(tmp_path, stm: str, ctm: str):
    from tests.conftest import sclite_path

    sclite_path("sclite")
    (tmp_path / "r.stm").write_text(stm)
    (tmp_path / "h.ctm").write_text(ctm)
    theirs, al = run_sclite(tmp_path / "r.stm", tmp_path / "h.ctm", tmp_path, "h", extra=("-F", "-D"))
    ours, segs = score_stm_ctm(read_stm(tmp_path / "r.stm"), read_ctm(tmp_path / "h.ctm"), fragments=True)
    return theirs, al, ours, segs


def _random_case(seed: int, n: int) -> tuple[str, str]:
    """``n`` one-segment files over a 4-word vocabulary (many equal-cost alignments), with optional
    words, fragments, reference alternations, CTM ``<ALT_BEGIN>`` groups and ``WORD;tag`` words."""
    rng = random.Random(seed)
    stm, ctm = [LABEL], []
    for i in range(n):
        f = f"f{i:04d}"
        ref = []
        for _ in range(rng.randint(0, 6)):
            r = rng.random()
            if r < 0.1:
                ref.append("(uh)")
            elif r < 0.2:
                ref.append("{ " + " / ".join(rng.choice(["a", "b c", "@", "d a"]) for _ in range(rng.randint(2, 3))) + " }")
            elif r < 0.25:
                ref.append(rng.choice(["a-", "-b"]))
            else:
                ref.append(rng.choice("abcd"))
        stm.append(f"{f} A s 1.00 9.00 <O> {' '.join(ref)}\n")
        t = 1.1
        for _ in range(rng.randint(0, 6)):
            if rng.random() < 0.15:
                ctm.append(f"{f} A * * <ALT_BEGIN>\n")
                for j in range(rng.randint(2, 3)):
                    if j:
                        ctm.append(f"{f} A * * <ALT>\n")
                    for w in rng.choice([["a"], ["b", "c"], ["@"], ["uh"]]):
                        ctm.append(f"{f} A {t:.2f} 0.10 {w}\n")
                        t += 0.2
                ctm.append(f"{f} A * * <ALT_END>\n")
            else:
                ctm.append(f"{f} A {t:.2f} 0.10 {rng.choice(['a', 'b', 'c', 'd', 'ab', 'uh', 'a;x'])}\n")
                t += 0.2
    return "".join(stm), "".join(ctm)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_segments_agree_with_sclite(tmp_path, seed):
    theirs, al, ours, segs = _both(tmp_path, *_random_case(seed, 250))
    assert len(segs) == len(al) == 250
    assert [s.counts() for s in segs] == [s.counts() for s in al]
    assert (ours.words, round(ours.wer, 1)) == (theirs.words, theirs.err)


def test_ties_prefer_substitution_and_tags_are_stripped(tmp_path):
    stm = LABEL + "f1 A s 1.00 4.00 <O> a b c\nf1 B s 1.00 4.00 <O> hello world\n"
    ctm = "f1 A 1.1 0.1 c\nf1 A 1.3 0.1 x\nf1 A 1.5 0.1 y\nf1 B 1.1 0.1 hello;x\nf1 B 1.3 0.1 world\n"
    _, al, _, segs = _both(tmp_path, stm, ctm)
    # equal cost 12: three substitutions (sclite), not two deletions, a match and two insertions
    assert [s.counts() for s in segs] == [s.counts() for s in al] == [(0, 3, 0, 0), (2, 0, 0, 0)]


def test_ignore_segments_in_every_spelling(tmp_path):
    texts = ["ignore_time_segment_in_scoring", "IGNORETIMESEGMENTINSCORING", "x IGNORE_TIME_SEGMENT_IN_SCORING y",
             "(ignore_time_segment_in_scoring)", "ignoretimesegmentinscoring_x"]
    stm = LABEL + "".join(f"f1 {chr(65 + i)} s 1.00 4.00 <O> {t}\n" for i, t in enumerate(texts))
    stm += "f1 Z s 1.00 4.00 <O> kept\n"
    ctm = "".join(f"f1 {chr(65 + i)} 1.1 0.1 q\n" for i in range(len(texts))) + "f1 Z 1.1 0.1 kept\n"
    theirs, al, ours, segs = _both(tmp_path, stm, ctm)
    assert theirs.sentences == ours.segments == 1
    assert [s.counts() for s in segs] == [s.counts() for s in al] == [(1, 0, 0, 0)]


def test_midpoint_on_a_segment_end(tmp_path):
    rng = random.Random(11)
    stm, ctm = [LABEL], []
    for i in range(200):
        e, d = rng.randint(100, 99999) / 100, rng.randint(1, 60) / 100
        stm.append(f"f{i:04d} A s {e - 5:.2f} {e:.2f} <O> a\nf{i:04d} A s {e:.2f} {e + 5:.2f} <O> b\n")
        ctm.append(f"f{i:04d} A {e - d / 2:.3f} {d:.2f} x\n")  # midpoint written on the boundary
    stm.append("g A s 1.00 4.00 <O> a\ng A s 4.00 6.00 <O> b\ng B s 1.00 1.20 <O> a\ng B s 1.20 2.00 <O> b\n")
    ctm.append("g A 3.90 0.20 b\ng B 1.15 0.10 a\n")
    _, al, _, segs = _both(tmp_path, "".join(stm), "".join(ctm))
    assert [s.counts() for s in segs] == [s.counts() for s in al]
    firsts = [s.counts()[1] for s in al[0:400:2]]
    assert 0 < sum(firsts) < 200  # both sides of the boundary occur
    assert [s.counts() for s in segs[-4:]] == [(0, 0, 1, 0), (1, 0, 0, 0), (1, 0, 0, 0), (0, 0, 1, 0)]


def test_ctm_alternations_read_and_written(tmp_path):
    (tmp_path / "a.ctm").write_text(
        "f A 1.0 0.1 WE\nf A * * <ALT_BEGIN>\nf A 1.20 0.10 IT\nf A * * <ALT>\nf A 1.20 0.10 AT\nf A 1.30 0.20 ALL\n"
        "f A * * <ALT>\nf A * * @\nf A * * <ALT_END>\nf A 2.0 0.1 HOME 0.9\n")
    words = read_ctm(tmp_path / "a.ctm")
    assert [w.word for w in words] == ["WE", "", "HOME"]
    alt = words[1]
    assert alt.alternative_words() == (("IT",), ("AT", "ALL"), ()) and (alt.start, alt.duration) == (1.2, 0.3)
    assert [(x.start, x.duration) for x in alt.alternatives[1]] == [(1.2, 0.1), (1.3, 0.2)]
    write_ctm(tmp_path / "b.ctm", words)
    again = read_ctm(tmp_path / "b.ctm")
    assert [w.alternatives for w in again] == [w.alternatives for w in words]
    assert [w.word for w in again] == ["WE", "", "HOME"]


@pytest.mark.parametrize("content, message", [
    ("f A * * <ALT_BEGIN>\nf A 1.0 0.1 X\n", "has no <ALT_END>"),
    ("f A 1.0 0.1 X\nf A * * <ALT>\n", "without <ALT_BEGIN>"),
    ("f A * * <ALT_BEGIN>\nf A * * <ALT_BEGIN>\n", "inside the group opened on line 1"),
    ("f A * * <ALT_BEGIN>\nf A * * <ALT>\nf A * * <ALT_END>\n", "has no timed word"),
    ("f A * * <ALT_BEGIN>\ng A 1.0 0.1 X\nf A * * <ALT_END>\n", "inside the <ALT_BEGIN> group of line 1"),
])
def test_bad_alternations_are_named(tmp_path, content, message):
    (tmp_path / "x.ctm").write_text(content)
    with pytest.raises(ScoringError, match=message):
        read_ctm(tmp_path / "x.ctm")


def test_alternation_scored_without_sclite():
    from kaldi_mpq.scoring.nist_files import StmSegment

    stm = [StmSegment("f", "A", "s", 0.0, 5.0, "", ("WE", "AT", "HOME"))]
    alts = ((CtmWord("f", "A", 1.2, 0.1, "it"),), (CtmWord("f", "A", 1.3, 0.1, "at"),))
    ctm = [CtmWord("f", "A", 1.0, 0.1, "we"), CtmWord("f", "A", 1.2, 0.2, "", None, alts),
           CtmWord("f", "A", 1.6, 0.1, "home")]
    tot, segs = score_stm_ctm(stm, ctm)
    assert (tot.corr, tot.sub, tot.dele, tot.ins) == (3, 0, 0, 0)


def test_batched_alignment_equals_one_by_one():
    from kaldi_mpq.scoring.glm import parse_alternations
    from kaldi_mpq.scoring.network_align import align_many, align_tokens

    rng = random.Random(5)
    pairs = []
    for _ in range(300):
        ref = [rng.choice(["a", "b", "c", "(uh)", "a-", "{ a / b c / @ }"] if rng.random() < 0.3 else "abcd")
               for _ in range(rng.randint(0, 12))]
        hyp = [rng.choice("abcde") for _ in range(rng.randint(0, 12))]
        pairs.append((parse_alternations(" ".join(ref)), hyp))
    assert align_many(pairs, group_size=16) == [align_tokens(r, h) for r, h in pairs]


HUB5_STM = """;; CATEGORY "0" "" ""
;; LABEL "O" "Overall" ""
;; LABEL "WA" "With Alt" ""
;; LABEL "NA" "No Alt" ""
4021 A 4021-A 1.00 3.50 <O,WA> we've { um / uh } been told it's fine
4021 A 4021-A 3.50 11.00 <O,WA> the old bridge has closed { -a / @ } since may
4021 A 4021-A 11.00 15.80 <O,NA>
4021 A 4021-A 15.90 20.00 <O,NA> p q r
4021 A 4021-A 20.00 24.00 <O,NA> ignore_time_segment_in_scoring
4021 A 4021-A 24.00 28.00 <O,WA> it's { a forty-two / forty two } { t v / t_v } set
4021 B 4021-B 0.00 5.00 <O,WA> { um / uh } okay uhhuh so then
4021 B 4021-B 5.00 9.00 <O,NA> IGNORETIMESEGMENTINSCORING
4021 B 4021-B 9.00 14.00 <O,NA> they want to stay at home
4021 B 4021-B 14.00 18.00 <O,WA> as { a- / @ } an author
"""
HUB5_CTM = "".join(f"4021 {line}\n" for line in """\
A 1.10 0.20 WE'VE
A 1.40 0.20 UH
A 1.70 0.20 BEEN
A 2.00 0.20 TOLD
A 2.60 0.20 IT'S;x
A 2.90 0.20 FINE
A 3.40 0.14 THE
A 4.00 0.20 OLD
A 4.40 0.20 BRIDGES
A 4.80 0.20 HAS
A 5.20 0.20 CLOSED
A 6.00 0.20 MAY
A 12.00 0.20 HUH
A 16.00 0.20 R
A 16.30 0.20 S
A 16.60 0.20 T
A 21.00 0.20 NOISE
A 24.10 0.20 IT'S
A 24.40 0.20 A
A 24.70 0.20 FORTY
A 25.00 0.20 TWO
A 25.30 0.20 T_V
A 25.60 0.20 SET
B 0.10 0.20 OKAY
B 0.70 0.20 UH-HUH
B 1.00 0.20 SO
B 1.30 0.20 THEN
B 6.00 0.20 WHATEVER
B 9.10 0.20 THEY
B 9.40 0.20 WANT
B 9.70 0.20 TO
B 10.00 0.20 STAY
B * * <ALT_BEGIN>
B 10.24 0.14 IT
B * * <ALT>
B 10.38 0.20 AT
B * * <ALT_END>
B 10.58 0.40 HOME
B 13.90 0.20 AS
B 14.50 0.20 AN
B 14.80 0.20 AUTHOR""".splitlines())


@pytest.mark.parametrize("case", ["hand", "random"])
def test_hubscr_with_glm(shared_data, tmp_path, case):
    """hubscr.pl sorts the CTM by time before filtering, so a CTM alternation's marker lines go to the
    front of the channel and its words are scored as plain words (both IT and AT below)."""
    from kaldi_mpq.scoring.glm import read_glm
    from kaldi_mpq.scoring.sclite_io import read_sclite_sgml, run_hubscr
    from tests.conftest import sclite_path

    sclite_path("hubscr.pl")
    glm = shared_data("scoring-glm", "en20000405_hub5.glm")
    stm, ctm = (HUB5_STM, HUB5_CTM) if case == "hand" else _random_case(3, 200)
    (tmp_path / "r.stm").write_text(stm)
    (tmp_path / "h.ctm").write_text(ctm)
    theirs = run_hubscr(tmp_path / "r.stm", tmp_path / "h.ctm", glm)
    ours, segs = score_stm_ctm(read_stm(tmp_path / "r.stm"), read_ctm(tmp_path / "h.ctm"), glm=read_glm(glm),
                               fragments=True)
    assert [s.counts() for s in segs] == [s.counts() for s in read_sclite_sgml(tmp_path / "h.ctm.filt.sgml")]
    assert (ours.segments, ours.words, round(ours.wer, 1)) == (theirs.sentences, theirs.words, theirs.err)
    if case == "hand":
        assert (ours.segments, ours.words) == (8, 37)
