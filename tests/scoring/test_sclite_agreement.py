"""The Python scorer against real SCTK on hand-built Switchboard-style inputs (GLM, alternations,
fragments, optional words, words between segments)."""

import pytest

from kaldi_mpq.scoring.glm import read_glm
from kaldi_mpq.scoring.nist_files import read_ctm, read_stm
from kaldi_mpq.scoring.nist_scorer import score_stm_ctm
from kaldi_mpq.scoring.sclite_io import read_sclite_sgml, run_hubscr, run_sclite

LABELS = ';; CATEGORY "0" "" ""\n' + "".join(
    f';; LABEL "{x}" "{x}" ""\n' for x in ("O", "en", "F", "M", "en-F", "en-M"))
SWB_STM = LABELS + """\
en_4156 A en_4156_A 10.00 13.00 <O,en,F,en-F> (%hesitation) i'm going to the store
en_4156 A en_4156_A 14.00 17.00 <O,en,F,en-F> it's okay uh-huh you know
en_4156 B en_4156_B 10.50 12.50 <O,en,M,en-M> yeah (th-) that's right
en_4156 B en_4156_B 13.00 16.00 <O,en,M,en-M> we can't do { that / it } today
sw_4390 A sw_4390_A 5.00 8.00 <O,en,F,en-F> i don't know (uh) what he's doing
sw_4390 A sw_4390_A 9.00 11.00 <O,en,F,en-F> alright mhm
sw_4390 B sw_4390_B 5.00 7.00 <O,en,M,en-M> hello there
"""
SWB_HYP = {
    ("en_4156", "A"): [(10.1, "um"), (10.5, "i'm"), (10.8, "going"), (11.1, "to"), (11.4, "a"), (11.7, "store"),
                       (14.1, "it"), (14.4, "is"), (14.7, "ok"), (15.0, "uh-huh"), (15.3, "you")],
    ("en_4156", "B"): [(10.6, "yeah"), (11.0, "that"), (11.3, "is"), (11.6, "right"), (13.1, "we"), (13.4, "cannot"),
                       (13.7, "do"), (14.0, "it"), (14.3, "to"), (14.6, "day")],
    ("sw_4390", "A"): [(5.1, "i"), (5.4, "don't"), (5.7, "know"), (6.0, "what"), (6.3, "he's"), (6.6, "doing"),
                       (9.1, "all"), (9.4, "right"), (9.7, "uh"), (12.0, "extra")],
    ("sw_4390", "B"): [(5.1, "hello")],
}


def swb_pair(tmp_path):
    (tmp_path / "ref.stm").write_text(SWB_STM)
    (tmp_path / "hyp.ctm").write_text("".join(
        f"{f} {c} {t:.2f} 0.20 {w} 1.0\n" for (f, c), words in SWB_HYP.items() for t, w in words))
    return tmp_path / "ref.stm", tmp_path / "hyp.ctm"


def test_agrees_with_hubscr_hub5_glm(shared_data, tmp_path):
    from tests.conftest import sclite_path

    sclite_path("hubscr.pl")
    glm = shared_data("scoring-glm", "en20000405_hub5.glm")
    stm, ctm = swb_pair(tmp_path)
    theirs = run_hubscr(stm, ctm, glm)
    ours, segs = score_stm_ctm(read_stm(stm), read_ctm(ctm), glm=read_glm(glm), fragments=True)
    assert (ours.segments, ours.words) == (theirs.sentences, theirs.words) == (7, 33)
    assert [round(ours.pct(x), 1) for x in (ours.corr, ours.sub, ours.dele, ours.ins)] == \
        [theirs.corr, theirs.sub, theirs.dele, theirs.ins]
    sgml = read_sclite_sgml(f"{ctm}.filt.sgml")
    assert [s.counts() for s in segs] == [s.counts() for s in sgml]


EDGE_STM = ';; LABEL "O" "" ""\n' + "".join(f"f1 {c} s1 1.00 4.00 <O> {text}\n" for c, text in [
    ("A", "a th- b"), ("B", "a th- b"), ("C", "a th- b"), ("D", "a -at b"), ("E", "a (x) b"),
    ("F", "a { x / y z / @ } b"), ("G", "a (uh) (um) b")]) + "f1 H s1 1.00 2.00 <O> a b\nf1 H s1 5.00 6.00 <O> c d\n"
EDGE_CTM = {"A": "a b", "B": "a that b", "C": "a x b", "D": "a that b", "E": "a b", "F": "a y b", "G": "a uh x b"}


@pytest.mark.parametrize("stray", [0.2, 1.90, 1.91, 2.5, 4.8, 7.0])
def test_fragments_alternations_optional_and_between_segments(tmp_path, stray):
    from tests.conftest import sclite_path

    sclite_path("sclite")
    (tmp_path / "r.stm").write_text(EDGE_STM)
    lines = [f"f1 {c} {1.1 + 0.2 * i:.2f} 0.10 {w}\n" for c, text in EDGE_CTM.items() for i, w in enumerate(text.split())]
    lines += [f"f1 H {t:.2f} 0.10 {w}\n" for t, w in [(1.1, "a"), (1.5, "b"), (5.1, "c"), (5.5, "d"), (stray, "x")]]
    (tmp_path / "h.ctm").write_text("".join(sorted(lines, key=lambda x: (x.split()[1], float(x.split()[2])))))
    theirs, al = run_sclite(tmp_path / "r.stm", tmp_path / "h.ctm", tmp_path, "h", extra=("-F", "-D"))
    ours, segs = score_stm_ctm(read_stm(tmp_path / "r.stm"), read_ctm(tmp_path / "h.ctm"), fragments=True)
    assert [s.counts() for s in segs] == [s.counts() for s in al]
    assert (ours.words, round(ours.wer, 1)) == (theirs.words, theirs.err)
