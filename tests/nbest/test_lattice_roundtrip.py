"""Lattices -> n-best lists -> lattices, with rescoring in between."""

from __future__ import annotations

import numpy as np
import pytest

from kaldi_mpq.nbest.lattice_roundtrip import nbest_from_lattice, nbest_to_lattice
from kaldi_mpq.nbest.nbest import NbestEntry, NbestList
from kaldi_mpq.nbest.rescore import rescore_nbest
from kaldi_mpq.testing.lattices import all_paths, random_lattice


@pytest.fixture(scope="module")
def lattices(symbols):
    return [random_lattice(np.random.default_rng(k), symbols, f"utt{k}") for k in range(5)]


def test_round_trip_keeps_paths(lattices):
    for lat in lattices:
        nb = nbest_from_lattice(lat, n=50, acwt=0.1)
        assert len({e.words for e in nb.entries}) == len(nb.entries) > 1
        back = nbest_to_lattice(nb)
        got = sorted((w, round(g, 9), round(a, 9), al) for w, g, a, al in all_paths(back))
        ref = {}
        for w, g, a, al in all_paths(lat):  # the best path of each distinct word sequence
            if w not in ref or g + 0.1 * a < ref[w][0] + 0.1 * ref[w][1]:
                ref[w] = (g, a, al)
        assert got == sorted((w, round(g, 9), round(a, 9), al) for w, (g, a, al) in ref.items())
        assert back.best_path(0.1).words == lat.best_path(0.1).words


def test_ngram_as_new_lm_equals_enumerated_paths(lattices, ngram):
    """N-best rescoring with the n-gram as new LM = applying it to the enumerated paths directly."""
    lists = [nbest_from_lattice(lat, n=10, acwt=0.1) for lat in lattices]
    out = rescore_nbest(lists, ngram, None, weight=1.0, interpolation="log-linear")
    for nb, lat in zip(out, lattices):
        back = nbest_to_lattice(nb)
        for w, g, a, _ in all_paths(back):
            assert abs(g - (-ngram.sentence_log_prob(w))) < 1e-6
    # removing it and adding it back changes nothing
    same = rescore_nbest(lists, ngram, ngram, weight=0.5)
    for a, b in zip(lists, same):
        assert [e.graph_cost for e in a.entries] == pytest.approx([e.graph_cost for e in b.entries], abs=1e-9)


def test_empty_lists(lattices):
    assert nbest_to_lattice(NbestList("u", [])) is None
    with pytest.raises(ValueError, match="without paths"):
        nbest_to_lattice(NbestList("u", [NbestEntry((1,), 0.0, 0.0)]))
