import subprocess

import pytest

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.scoring.glm import Alternation, GlmRule, GlmMapper, filter_text, parse_alternations, read_glm

GLMS = ("en20000405_hub5.glm", "en20030506.glm", "en20090415.glm", "kaldi-ami-english.glm")
SWB_LINES = [
    "i'm gonna uh tell you it's okay ok can't he's uh-huh um mhm",
    "so [laughter] you know (uh) i- i think that's alright cannot catalogue",
    "we're they're you've she'll won't didn't it's hmm well all right",
    "the website's airbags mm-hm huh-uh %hesitation o k o. k. t. shirt",
]


def mapper(text: str) -> GlmMapper:
    return GlmMapper([GlmRule(*r, line=i) for i, r in enumerate(text)])


@pytest.mark.parametrize("text, expected", [
    ("ab a ba", "XB X BX"),      # first rule in file order at a position wins (A before AB)
    ("cd xcd cdx", "Z XCD ZX"),  # left context [ ] = a space before; output is never rewritten (no Z => Q)
    ("h i hi", "H H J HJ"),      # right context checked on the input, not consumed
    ("mk m k", "ML M K"),
])
def test_rfilter1_semantics(text, expected):
    m = mapper([("A", "X", "", ""), ("AB", "Y", "", ""), ("CD", "Z", " ", ""), ("Z", "Q", "", ""),
                ("H", "H H", "", " I"), ("I", "J", "", ""), ("K", "L", "M", "")])
    assert filter_text(m, text) == expected


def test_contexts_use_input_text():
    m = mapper([("C", "D", "", ""), ("X", "Y", "D", ""), ("P", "R", "", ""), ("Q", "S", "", "R")])
    assert filter_text(m, "cx pq") == "DX RQ"


def test_hub5_glm_parse_and_ctm_section(shared_data):
    g = read_glm(shared_data("scoring-glm", "en20000405_hub5.glm"))
    assert not g.case_sensitive and g.header["copy_no_hit"] == "T"
    assert filter_text(g.mapper("stm", "ref"), "he's (uh) ok") == "HE'S (%HESITATION) OKAY"
    assert filter_text(g.mapper("ctm", "hyp"), "he's") == "{HE IS / HE HAS}"
    assert parse_alternations("WE {THAT / IT / @} X") == ["WE", Alternation((("THAT",), ("IT",), ())), "X"]
    with pytest.raises(ScoringError, match="without"):
        parse_alternations("{ A / B")


def test_bad_rule_names_line(tmp_path):
    (tmp_path / "g.glm").write_text("* name 'x'\nA => B\nC D E\n")
    with pytest.raises(ScoringError, match=r"g.glm:3: not a GLM rule"):
        read_glm(tmp_path / "g.glm")


@pytest.mark.parametrize("glm_name", GLMS)
@pytest.mark.parametrize("opts, purpose", [((), "hyp"), (("-dh",), "ref")])
def test_agrees_with_csrfilt(shared_data, ami_texts, glm_name, opts, purpose):
    from tests.conftest import sclite_path

    tool = sclite_path("csrfilt.sh")
    glm = shared_data("scoring-glm", glm_name)
    lines = ami_texts + SWB_LINES
    env = {"PATH": f"{tool.parent}:/usr/bin:/bin"}
    out = subprocess.run([str(tool), *opts, "-i", "txt", "-t", purpose, str(glm)], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, env=env).stdout.splitlines()
    m = read_glm(glm).mapper("txt", purpose)
    assert [filter_text(m, x, split_hyphens=bool(opts)) for x in lines] == out
