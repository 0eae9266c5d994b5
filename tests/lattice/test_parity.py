"""Best paths against Kaldi's own 1-best outputs in ../shared/data (tagalog, yesno, digits)."""

from __future__ import annotations

import pytest

from kaldi_mpq.lattice import PathSearch, read_lattices
from kaldi_mpq.text.symbols import SymbolTable


def _read_tra(path):
    out = {}
    for line in open(path, encoding="utf-8"):
        f = line.split()
        if f:
            out[f[0]] = tuple(f[1:])
    return out


def _lattices(decode_dir, pattern="lat.*.gz"):
    lats = [lat for f in sorted(decode_dir.glob(pattern)) for lat in read_lattices(f"ark:{f}")]
    assert lats
    return lats


@pytest.mark.parametrize("corpus,decode,lmwts", [
    ("kaldi-lattices-tagalog-tri3a", "exp/tri3a/decode", range(7, 18)),
    ("kaldi-lattices-digits-fsdd", "exp/mono/decode", range(7, 18)),
])
def test_best_path_equals_kaldi_tra(shared_data, corpus, decode, lmwts):
    d = shared_data(corpus, decode)
    lats = _lattices(d)
    search = PathSearch(lats)
    for k in lmwts:
        ref = _read_tra(d / "scoring" / f"{k}.tra")
        assert set(ref) == {lat.key for lat in lats}
        for lat, path in zip(lats, search.best_paths(acoustic_scale=1.0 / k)):
            assert tuple(map(str, path.words)) == ref[lat.key], (k, lat.key)


def test_yesno_every_lmwt_and_penalty(shared_data):
    d = shared_data("kaldi-lattices-yesno", "exp/mono0a/decode_test_yesno")
    words = SymbolTable.read(shared_data("kaldi-lattices-yesno", "data/lang_test_tg/words.txt"), unk=None)
    lats = _lattices(d)
    search = PathSearch(lats)
    penalties = sorted(p.name.split("_", 1)[1] for p in (d / "scoring_kaldi").glob("penalty_*"))
    assert penalties == ["0.0", "0.5", "1.0"]
    for wip in penalties:
        for k in range(7, 18):
            ref = _read_tra(d / "scoring_kaldi" / f"penalty_{wip}" / f"{k}.txt")
            got = search.best_paths(acoustic_scale=1.0 / k, word_ins_penalty=float(wip))
            assert {lat.key: tuple(words.words(p.words)) for lat, p in zip(lats, got)} == ref


def test_penalty_via_lattice_methods_matches_search(shared_data):
    d = shared_data("kaldi-lattices-tagalog-tri3a", "exp/tri3a/decode")
    lats = list(read_lattices(f"ark:{d / 'lat.3.gz'}"))
    search = PathSearch(lats)
    for lat, p in zip(lats, search.best_paths(acoustic_scale=0.1, word_ins_penalty=1.0)):
        q = lat.scale(acoustic_scale=0.1).add_word_insertion_penalty(1.0).best_path()
        assert q.words == p.words and q.cost == p.cost
