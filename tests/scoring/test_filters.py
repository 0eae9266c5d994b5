import pytest

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.scoring.filters import FILTERS, filter_transcripts, make_filter

WORDS = "[noise] HELLO uh <UNK> TH- WORLD [LAUGHTER] hmm %HESITATION um-hum <unk>".split()


@pytest.mark.parametrize(
    "name, expected",
    [
        ("none", WORDS),
        ("noise", "HELLO uh <UNK> TH- WORLD hmm %HESITATION um-hum <unk>".split()),
        ("unk", "[noise] HELLO uh TH- WORLD [LAUGHTER] hmm %HESITATION um-hum".split()),
        ("hesitation", "[noise] HELLO <UNK> TH- WORLD [LAUGHTER] hmm um-hum <unk>".split()),
        ("partial", "[noise] HELLO uh <UNK> WORLD [LAUGHTER] hmm %HESITATION um-hum <unk>".split()),
        ("swbd", "HELLO WORLD hmm um-hum".split()),
        ("ami", "HELLO TH- WORLD um-hum".split()),
    ],
)
def test_each_filter(name, expected):
    assert FILTERS[name](WORDS) == expected


def test_compose_and_unknown():
    f = make_filter("noise,unk")
    assert filter_transcripts({"u": WORDS}, f)["u"] == "HELLO uh TH- WORLD hmm %HESITATION um-hum".split()
    assert make_filter([])(WORDS) == WORDS
    with pytest.raises(ConfigError, match="unknown word filter 'nosie'"):
        make_filter("nosie")
