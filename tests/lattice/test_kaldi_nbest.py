"""lattice-to-nbest output lattices: Kaldi's arc merging and its scaled-then-unscaled float32 weights."""

from __future__ import annotations

import numpy as np
import pytest

from kaldi_mpq import cli
from kaldi_mpq.errors import ConfigError
from kaldi_mpq.lattice import Lattice, read_lattices, write_lattices
from kaldi_mpq.lattice.fst_binary import expand_to_single_tids
from kaldi_mpq.lattice.kaldi_nbest import lattice_to_nbest

f32 = np.float32


def chain_lattice(final_tids):
    """0 -eps[1,2]-> 1 -w5[3]-> 2 -eps[4]-> 3 -w6[]-> 4, final weight (0.5, 2.25) with ``final_tids``."""
    return Lattice.from_arrays(
        "utt", 5, [0, 1, 2, 3], [1, 2, 3, 4], [0, 5, 0, 6], [1.5, 2.0, 0.25, 3.0], [20.1, 30.7, 4.3, 10.9],
        [np.inf] * 4 + [0.5], [np.inf] * 4 + [2.25], ali=[[1, 2], [3], [4], []],
        final_ali=[[], [], [], [], final_tids])


def rt(x, scale):
    """Kaldi's value after ScaleLattice(scale) then ScaleLattice(1/scale)."""
    s = float(f32(scale))
    return float(f32(float(f32(float(f32(x)) * s)) * (1.0 / s)))


def arcs_of(lat):
    return [(int(lat.word[i]), lat.ali(i).tolist()) for i in range(lat.num_arcs)]


@pytest.mark.parametrize("n", [1, 2])
def test_factor_merges_epsilon_arcs_and_final_weight(n):
    (one,) = lattice_to_nbest(chain_lattice([7, 8]), n, acoustic_scale=0.1)[:1]
    assert one.key == "utt-1"
    assert arcs_of(one) == [(0, [1, 2]), (5, [3, 4]), (6, [7, 8])]
    ac = lambda *xs: float(sum((f32(rt(x, 0.1)) for x in xs), f32(0)))
    np.testing.assert_array_equal(one.acoustic_cost, [ac(20.1), ac(30.7, 4.3), ac(10.9, 2.25)])
    np.testing.assert_array_equal(one.graph_cost, [1.5, 2.25, 3.5])
    assert (one.final_graph[-1], one.final_acoustic[-1], len(one.final_ali(one.num_states - 1))) == (0, 0, 0)


def test_final_weight_stays_on_the_final_state_only_for_n_1():
    one = lattice_to_nbest(chain_lattice([]), 1, acoustic_scale=0.1)[0]
    assert arcs_of(one)[-1] == (6, []) and one.final_acoustic[-1] == rt(2.25, 0.1) and one.final_graph[-1] == 0.5
    two = lattice_to_nbest(chain_lattice([]), 2, acoustic_scale=0.1)[0]
    assert two.acoustic_cost[-1] == float(f32(rt(10.9, 0.1)) + f32(rt(2.25, 0.1)))
    assert two.final_acoustic[-1] == 0 and two.final_graph[-1] == 0


def test_leading_epsilon_arc_for_n_above_1_when_the_path_starts_with_a_word():
    lat = Lattice.from_arrays("u", 2, [0], [1], [9], [1.0], [2.0], [np.inf, 0.0], [np.inf, 0.0], ali=[[4]])
    assert arcs_of(lattice_to_nbest(lat, 1)[0]) == [(9, [4])]
    got = lattice_to_nbest(lat, 3)[0]
    assert arcs_of(got) == [(0, []), (9, [4])] and got.graph_cost.tolist() == [0.0, 1.0]


def test_weights_are_unscaled_scaled_weights_not_the_originals():
    lat = chain_lattice([])
    outs = lattice_to_nbest(lat, 1, acoustic_scale=1 / 13, lm_scale=0.7)
    got = outs[0]
    assert got.graph_cost.tolist() == [rt(1.5, 0.7), float(f32(rt(2.0, 0.7)) + f32(rt(0.25, 0.7))), rt(3.0, 0.7)]
    assert rt(122.92, 1 / 13) != float(f32(122.92))  # Kaldi does not give every original back
    assert lattice_to_nbest(lat, 1)[0].acoustic_cost.tolist() == [float(f32(20.1)), float(f32(30.7) + f32(4.3)),
                                                                      float(f32(10.9))]


def test_penalty_stays_in_and_zero_scales_are_refused():
    got = lattice_to_nbest(chain_lattice([]), 1, word_ins_penalty=1.0)[0]
    assert got.graph_cost.tolist() == [1.5, float(f32(f32(2.0) + f32(1.0)) + f32(0.25)), 4.0]
    for kw in ({"acoustic_scale": 0.0}, {"lm_scale": 0.0}):
        with pytest.raises(ConfigError, match="zero acoustic or LM scale"):
            lattice_to_nbest(chain_lattice([]), 1, **kw)


def _openfst_nbest(lat, n, ac, lm):
    """Steps 1-3 with the real OpenFst/Kaldi code (kaldifst), then Factor's merge rule."""
    kaldifst = pytest.importorskip("kaldifst")
    x = expand_to_single_tids(lat)
    fst = kaldifst.Lattice()
    for _ in range(x.num_states):
        fst.add_state()
    fst.start = 0
    for i in range(x.num_arcs):
        t = x.ali(i).tolist()
        fst.add_arc(int(x.src[i]), kaldifst.LatticeArc(t[0] if t else 0, int(x.word[i]), kaldifst.LatticeWeight(
            float(x.graph_cost[i]), float(x.acoustic_cost[i])), int(x.dst[i])))
    for s in np.flatnonzero(x.is_final).tolist():
        fst.set_final(s, kaldifst.LatticeWeight(float(x.final_graph[s]), float(x.final_acoustic[s])))
    acs, lms = float(f32(ac)), float(f32(lm))
    kaldifst.scale_lattice(kaldifst.lattice_scale(lms, acs), fst)
    out = []
    for path in kaldifst.convert_nbest_to_vector(kaldifst.shortest_path(fst, n=n)):
        kaldifst.scale_lattice(kaldifst.lattice_scale(1.0 / lms, 1.0 / acs), path)
        arcs, s = [], path.start
        while True:
            it = kaldifst.lib._kaldifst._ArcIteratorLattice(path, s)
            if it.done:
                break
            a = it.value
            if not arcs or a.olabel:
                arcs.append([a.olabel, [], f32(a.weight.value1), f32(a.weight.value2)])
            else:
                arcs[-1][2] += f32(a.weight.value1)
                arcs[-1][3] += f32(a.weight.value2)
            if a.ilabel:
                arcs[-1][1].append(a.ilabel)
            s = a.nextstate
        fw = path.final(s)
        out.append(([(w, t, float(g), float(c)) for w, t, g, c in arcs], (fw.value1, fw.value2)))
    return out


@pytest.mark.parametrize("n", [1, 4])
def test_matches_openfst_shortest_path_on_tagalog(shared_data, n):
    f = shared_data("kaldi-lattices-tagalog-tri3a", "exp/tri3a/decode", "lat.1.gz")
    for lat in list(read_lattices(f"ark:{f}"))[:6]:
        ours = lattice_to_nbest(lat, n, acoustic_scale=1 / 11, lm_scale=0.9)
        ref = _openfst_nbest(lat, n, 1 / 11, 0.9)
        assert len(ours) == len(ref)
        for got, (arcs, final) in zip(ours, ref):
            mine = [(int(got.word[i]), got.ali(i).tolist(), float(got.graph_cost[i]), float(got.acoustic_cost[i]))
                    for i in range(got.num_arcs)]
            assert mine == arcs and (got.final_graph[-1], got.final_acoustic[-1]) == final


def test_command_writes_kaldi_nbest(tmp_path):
    write_lattices(f"ark:{tmp_path / 'in.ark'}", [chain_lattice([7])])
    assert cli.main(["lattice-to-nbest", "--n=2", "--acoustic-scale=0.1", f"ark:{tmp_path / 'in.ark'}",
                     f"ark,t:{tmp_path / 'nb.txt'}"]) == 0
    (got,) = read_lattices(f"ark,t:{tmp_path / 'nb.txt'}")
    assert got.key == "utt-1" and arcs_of(got) == [(0, [1, 2]), (5, [3, 4]), (6, [7])]
    assert cli.main(["lattice-to-nbest", "--acoustic-scale=0", f"ark:{tmp_path / 'in.ark'}",
                     f"ark:{tmp_path / 'x.ark'}"]) == 1
    assert not (tmp_path / "x.ark").exists()
