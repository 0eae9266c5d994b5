"""Lattice operations on random DAGs (hypothesis) and the SLF fixture."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaldi_mpq.lattice import Lattice, PathSearch, read_lattices, write_lattices
from kaldi_mpq.lattice.slf import read_slf
from kaldi_mpq.testing.lattices import brute_force_paths, dummy_lattice
from kaldi_mpq.text.symbols import SymbolTable

lattice_args = st.fixed_dictionaries({
    "num_states": st.integers(1, 9), "extra_arcs": st.integers(0, 10), "seed": st.integers(0, 10**6),
    "shuffle_states": st.booleans(), "num_finals": st.integers(1, 3),
})


@settings(max_examples=40, deadline=None)
@given(lattice_args, st.booleans(), st.booleans())
def test_random_lattices_survive_write_read(tmp_path_factory, args, text, compact):
    lat = dummy_lattice(**args)
    path = tmp_path_factory.mktemp("rt") / "a.ark"
    write_lattices(f"ark:{path}", [lat], text=text, compact=compact)
    back = next(read_lattices(f"ark:{path}"))
    if compact:
        for f in ("src", "dst", "word", "ali_offsets", "ali_data", "final_ali_data"):
            np.testing.assert_array_equal(getattr(lat, f), getattr(back, f))
        for f in ("graph_cost", "acoustic_cost", "final_graph", "final_acoustic"):
            np.testing.assert_allclose(getattr(lat, f), getattr(back, f), rtol=1e-5 if text else 0)
    assert back.best_path(0.1).words == lat.best_path(0.1).words


@settings(max_examples=60, deadline=None)
@given(lattice_args, st.sampled_from([1.0, 0.1, 1 / 13]), st.sampled_from([0.0, 0.5, 2.0]))
def test_best_path_equals_brute_force(args, acwt, wip):
    lat = dummy_lattice(**args)
    best_cost, _ = brute_force_paths(lat, acwt, 1.0, wip)[0]
    path = lat.best_path(acwt, 1.0, wip)
    assert path.cost == pytest.approx(best_cost, abs=1e-9)
    costs = lat.arc_costs(acwt, 1.0, wip)
    assert costs[path.arcs].sum() + lat.final_costs(acwt)[path.final_state] == pytest.approx(best_cost)


@settings(max_examples=40, deadline=None)
@given(lattice_args, st.integers(1, 8))
def test_nbest_distinct_sorted_first_is_best(args, n):
    lat = dummy_lattice(**args)
    got = lat.nbest(n, acoustic_scale=0.1)
    brute = brute_force_paths(lat, 0.1)
    distinct = []
    for c, w in brute:
        if w not in [d[1] for d in distinct]:
            distinct.append((c, w))
    assert len(got) == min(n, len(distinct))
    assert [p.cost for p in got] == pytest.approx([c for c, _ in distinct[: len(got)]])
    assert len({p.words for p in got}) == len(got)
    assert all(a.cost <= b.cost for a, b in zip(got, got[1:]))
    assert got[0].words == lat.best_path(0.1).words


def test_batched_search_equals_single_and_sweeps():
    lats = [dummy_lattice(7, 9, seed=s, key=f"u{s}", shuffle_states=s % 2 == 1) for s in range(20)]
    search = PathSearch(lats)
    for acwt in (1.0, 0.1):
        for lat, p in zip(lats, search.best_paths(acwt, 1.0, 0.5)):
            q = lat.best_path(acwt, 1.0, 0.5)
            assert p.words == q.words and p.cost == q.cost and (p.arcs == q.arcs).all()


def test_scale_and_penalty_are_new_lattices_with_float32_values():
    lat = dummy_lattice(6, 6, seed=4)
    scaled = lat.scale(acoustic_scale=0.1, lm_scale=2.0)
    assert scaled is not lat and (lat.graph_cost == dummy_lattice(6, 6, seed=4).graph_cost).all()
    np.testing.assert_allclose(scaled.acoustic_cost, lat.acoustic_cost * 0.1, rtol=1e-6)
    assert (scaled.graph_cost.astype(np.float32) == scaled.graph_cost).all()
    pen = lat.add_word_insertion_penalty(1.5)
    np.testing.assert_allclose(pen.graph_cost - lat.graph_cost, np.where(lat.word != 0, 1.5, 0), atol=1e-5)


def test_prune_keeps_best_path_and_drops_far_arcs():
    lat = dummy_lattice(9, 14, seed=7, num_finals=2)
    best = lat.best_path(0.1)
    tight = lat.prune(0.0, acoustic_scale=0.1)
    assert tight.best_path(0.1).words == best.words
    assert tight.num_arcs <= lat.num_arcs
    assert lat.prune(1e9, acoustic_scale=0.1).num_arcs == lat.num_arcs
    for c, _ in brute_force_paths(tight, 0.1):
        assert c <= best.cost + 1e-9


def test_word_alignment_from_alignment_lengths():
    lat = dummy_lattice(5, 0, seed=2, eps_prob=0.0)  # a chain
    path = lat.best_path()
    frames = lat.state_times()
    assert lat.word_alignment(path) == [
        (int(lat.word[a]), int(frames[lat.src[a]]), int(lat.ali_offsets[a + 1] - lat.ali_offsets[a]))
        for a in path.arcs]


def test_slf_and_kaldi_text_give_the_same_graph(shared_data, tmp_path):
    d = shared_data("lattice-fixtures-theanolm")
    symbols = SymbolTable.read(d / "words.txt", unk=None)
    slf = read_slf(d / "lattice.slf", symbols)
    # the fixture's header "utterance 123" is not a Kaldi key; make it one
    text = (d / "lattice.lat").read_text().replace("utterance 123", "utterance_123", 1)
    (tmp_path / "l.ark").write_text(text)
    kal = next(read_lattices(f"ark,t:{tmp_path / 'l.ark'}"))
    assert slf.key == kal.key and slf.num_states == kal.num_states

    def arcs(lat):  # in the states' original numbering (SLF nodes / Kaldi state ids)
        ids = lat.file_states if lat.file_states is not None else np.arange(lat.num_states)
        return sorted(zip(ids[lat.src].tolist(), ids[lat.dst].tolist(), lat.word.tolist(),
                          np.round(lat.graph_cost, 2).tolist(), np.round(lat.acoustic_cost, 2).tolist()))

    assert arcs(slf) == arcs(kal)
    fin = lambda lat: sorted(zip(lat.final_graph.tolist(), lat.final_acoustic.tolist()))
    assert fin(slf) == fin(kal)
    for acwt in (1.0, 1 / 12.3, 0.01):
        assert slf.best_path(acwt).words == kal.best_path(acwt).words
    wa = slf.word_alignment(slf.best_path(1 / 12.3))
    assert [w for w, _, _ in wa] == list(slf.best_path(1 / 12.3).words)
    assert all(n > 0 for _, _, n in wa)


def kaldi_shortest_path(lat, acwt):
    """Kaldi's CompactLatticeShortestPath, state by state: (arcs, final state) of the best path."""
    cost = lat.arc_costs(acwt).tolist()
    fin = lat.final_costs(acwt).tolist()
    off = lat.arc_offsets.tolist()
    best = [(0.0, -1)] + [(float("inf"), -1)] * (lat.num_states - 1)
    best_final, best_state = float("inf"), -1
    for s in range(lat.num_states):
        for a in range(off[s], off[s + 1]):
            d = int(lat.dst[a])
            if best[s][0] + cost[a] < best[d][0]:
                best[d] = (best[s][0] + cost[a], s)
        if best[s][0] + fin[s] < best_final:
            best_final, best_state = best[s][0] + fin[s], s
    arcs, cur = [], best_state
    while cur != 0:
        prev = best[cur][1]
        cands = [a for a in range(off[prev], off[prev + 1]) if lat.dst[a] == cur]
        arcs.append(min(cands, key=lambda a: cost[a]))  # first of the least
        cur = prev
    return arcs[::-1], best_state


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 12), st.integers(0, 25), st.booleans())
def test_best_path_ties_follow_kaldi(seed, num_states, extra, huge):
    """Integer costs (many equal totals), parallel arcs, and costs lost in the rounding of a huge
    total (equal totals from different own costs): arcs and final state exactly as Kaldi picks them."""
    rng = np.random.default_rng(seed)
    src = [int(rng.integers(0, i)) for i in range(1, num_states)]
    dst = list(range(1, num_states))
    for _ in range(extra):
        a, b = sorted(rng.choice(num_states, size=2, replace=False).tolist())
        src.append(a), dst.append(b)
    n = len(src)
    graph = rng.integers(0, 3, n).astype(float)
    acoustic = rng.integers(0, 3, n).astype(float) * 10
    if huge:  # every path starts with a 1e17 arc: own costs 0..4 vanish in the double sums
        src, dst = [0] + [s + 1 for s in src], [1] + [d + 1 for d in dst]
        graph, acoustic = np.r_[1e17, graph], np.r_[0.0, acoustic]
        num_states += 1
    fin = np.where(rng.random(num_states) < 0.4, rng.integers(0, 2, num_states).astype(float), np.inf)
    fin[-1] = 0.0
    lat = Lattice.from_arrays("t", num_states, src, dst, rng.integers(0, 4, len(src)), graph, acoustic,
                              fin, np.where(np.isinf(fin), np.inf, 0.0))
    arcs, final = kaldi_shortest_path(lat, 0.1)
    for path in (lat.best_path(0.1), PathSearch([dummy_lattice(3, 2, seed=seed), lat]).best_paths(0.1)[1]):
        assert path.arcs.tolist() == arcs and path.final_state == final


def test_lattices_without_a_complete_path_get_none():
    dead = Lattice.from_arrays("dead", 3, [0], [2], [4], [1.0], [1.0], [np.inf, 0.0, np.inf], [np.inf, 0.0, np.inf])
    nan = Lattice.from_arrays("nan", 2, [0], [1], [3], [np.nan], [1.0], [np.inf, 0.0], [np.inf, 0.0])
    assert PathSearch([dead]).best_paths() == [None] and dead.best_path() is None
    got = PathSearch([dummy_lattice(4, 3, seed=1), dead, nan, dummy_lattice(5, 3, seed=2)]).best_paths(0.1)
    assert got[1] is None and got[2] is None
    assert got[0].words == dummy_lattice(4, 3, seed=1).best_path(0.1).words
    assert got[3].words == dummy_lattice(5, 3, seed=2).best_path(0.1).words


def _sausage(slots: int, width: int, distinct_words: bool) -> Lattice:
    """``slots`` consecutive slots of ``width`` parallel arcs of equal cost: width**slots tied best
    paths (distinct word sequences, or one word per slot with different alignments); one extra
    arc of higher cost in the middle slot gives a second-best word sequence."""
    src, dst, word, ali = [], [], [], []
    for k in range(slots):
        for j in range(width):
            src.append(k), dst.append(k + 1), ali.append([j + 1])
            word.append(1 + k * width + j if distinct_words else 1 + k)
    mid = slots // 2
    src.append(mid), dst.append(mid + 1), ali.append([7]), word.append(10**6)
    graph = [1.0] * (len(src) - 1) + [2.0]
    fin = [np.inf] * slots + [0.0]
    return Lattice.from_arrays("ties", slots + 1, src, dst, word, graph, [0.0] * len(src), fin, fin, ali=ali)


@pytest.mark.parametrize("distinct_words", [True, False])
def test_nbest_with_massive_ties_stays_within_n_expansions_per_state(distinct_words):
    """2,000 slots x 5 tied arcs (5**2000 best paths, 10,001 arcs): the n best are found without
    enumerating ties, in memory O(n x arcs); stated bound: 500 bytes per (n x arc)."""
    import tracemalloc

    lat = _sausage(2_000, 5, distinct_words)
    for n in (1, 3):
        tracemalloc.start()
        got = lat.nbest(n)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 500 * n * lat.num_arcs, (n, peak)
        assert len(got) == (n if distinct_words else min(n, 2)) and len({p.words for p in got}) == len(got)
        assert got[0].cost == 2_000.0 and got[0].words == lat.best_path().words
        if not distinct_words:  # one best word sequence, then the one through the extra arc
            assert [p.cost for p in got] == [2_000.0, 2_001.0][:n]
