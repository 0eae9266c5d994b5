"""The bulk binary reader gives exactly what the per-lattice reader gives: lattices, errors, offsets."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kaldi_mpq.kaldi_io as kaldi_io
import kaldi_mpq.lattice.fst_bulk as fst_bulk
from kaldi_mpq.errors import LatticeFormatError
from kaldi_mpq.lattice import read_lattices, write_lattices
from kaldi_mpq.lattice.io import read_lattice_object, read_lattices_tolerant
from kaldi_mpq.testing.lattices import dummy_lattice

FIELDS = ("num_states", "src", "dst", "word", "graph_cost", "acoustic_cost", "ali_offsets", "ali_data",
          "final_graph", "final_acoustic", "final_ali_offsets", "final_ali_data", "header", "file_states")


def one_by_one(rspecifier):
    """The per-lattice reader alone (no bulk pass)."""
    return (lat for _, lat in kaldi_io.read_table(rspecifier, read_lattice_object, LatticeFormatError))


def outcome(read):
    """(keys and arrays of the lattices read, error message or None)."""
    got = []
    try:
        for lat in read():
            got.append(lat)
    except LatticeFormatError as e:
        return got, str(e)
    return got, None


def assert_identical(a, b):
    assert a.key == b.key
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert x.dtype == y.dtype, f
            np.testing.assert_array_equal(x, y, err_msg=f)
        else:
            assert x == y, f


def assert_same_outcome(rspecifier):
    bulk, bulk_err = outcome(lambda: read_lattices(rspecifier))
    single, single_err = outcome(lambda: one_by_one(rspecifier))
    assert bulk_err == single_err
    assert len(bulk) == len(single)
    for a, b in zip(bulk, single):
        assert_identical(a, b)
    return bulk, bulk_err


@pytest.mark.parametrize("chunk", [1 << 20, 40000])
def test_real_archives_bulk_equals_one_by_one(shared_data, monkeypatch, tmp_path, chunk):
    monkeypatch.setattr(kaldi_io, "CHUNK_BYTES", chunk)  # small: many lattices cross the buffer's end
    monkeypatch.setattr(fst_bulk, "CHUNK_BYTES", chunk)
    for corpus, decode in [("kaldi-lattices-tagalog-tri3a", "exp/tri3a/decode"),
                           ("kaldi-lattices-digits-fsdd", "exp/mono/decode")]:
        for f in sorted(shared_data(corpus, decode).glob("lat.*.gz"))[:2]:
            (tmp_path / "a.ark").write_bytes(gzip.open(f).read())
            lazy = [not lat.alignments_decoded for lat in read_lattices(f"ark:{tmp_path / 'a.ark'}")]
            assert sum(lazy) > (len(lazy) // 2 if chunk > 1e6 else 0)  # read in bulk
            lats, err = assert_same_outcome(f"ark:{tmp_path / 'a.ark'}")
            assert err is None and len(lats) == len(lazy)


def test_mixed_archive_takes_the_per_lattice_path_where_needed(tmp_path):
    """Sorted and unsorted states, text entries, Lattice (lattice4) entries, in one archive."""
    parts = []
    for i, (shuffle, text, compact) in enumerate([(False, False, True), (True, False, True), (False, True, True),
                                                  (False, False, False), (False, False, True)]):
        lat = dummy_lattice(7, 9, seed=i, key=f"u{i}", num_finals=2)
        if shuffle:  # states numbered in the file as 0, 6, 5, ..., 1: not in topological order
            write_lattices(f"ark:{tmp_path / 'p.ark'}", [lat])
            back = next(read_lattices(f"ark:{tmp_path / 'p.ark'}"))
            lat = back.replace(header=back.header, file_states=np.r_[0, np.arange(6, 0, -1)].astype(np.int32))
        write_lattices(f"ark:{tmp_path / 'p.ark'}", [lat], text=text, compact=compact)
        parts.append((tmp_path / "p.ark").read_bytes())
    (tmp_path / "mix.ark").write_bytes(b"".join(parts))
    lats, err = assert_same_outcome(f"ark:{tmp_path / 'mix.ark'}")
    assert err is None and [x.key for x in lats] == [f"u{i}" for i in range(5)]
    assert lats[1].file_states is not None  # renumbered by the per-lattice reader


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 2**32 - 1), st.sampled_from([0, 1, -1, 2, 7, -7, 1000, 2**31 - 1]))
def test_corrupted_archives_give_the_same_lattices_and_error(tmp_path_factory, seed, where, value):
    """A random int32 of the archive replaced: same lattices before the damage, same error message."""
    tmp = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(seed)
    lats = [dummy_lattice(int(rng.integers(1, 8)), int(rng.integers(0, 8)), seed=seed + i, key=f"utt{i}")
            for i in range(4)]
    write_lattices(f"ark:{tmp / 'a.ark'}", lats)
    data = bytearray((tmp / "a.ark").read_bytes())
    pos = where % (len(data) - 3)
    data[pos:pos + 4] = int(value).to_bytes(4, "little", signed=True)
    (tmp / "a.ark").write_bytes(bytes(data))
    good, _ = assert_same_outcome(f"ark:{tmp / 'a.ark'}")
    tolerant, _ = outcome(lambda: (lat for _, lat, _ in read_lattices_tolerant(f"ark:{tmp / 'a.ark'}", True)))
    assert [x.key for x in tolerant[:len(good)]] == [x.key for x in good]


def test_truncated_and_bad_lattice_in_the_middle(tmp_path):
    lats = [dummy_lattice(6, 5, seed=s, key=f"utt{s}") for s in range(5)]
    write_lattices(f"ark:{tmp_path / 'a.ark'}", lats)
    data = (tmp_path / "a.ark").read_bytes()
    (tmp_path / "t.ark").write_bytes(data[:-7])
    got, err = assert_same_outcome(f"ark:{tmp_path / 't.ark'}")
    assert [x.key for x in got] == ["utt0", "utt1", "utt2", "utt3"] and "key 'utt4'" in err
    # utt2: every arc points back to the start state -> a cycle, reported with its byte offset
    one = dummy_lattice(3, 0, seed=1, key="utt2", eps_prob=0.0)
    bad = one.replace(dst=np.zeros_like(one.dst))
    body = b"".join(_entry(tmp_path, x) for x in (lats[0], lats[1], bad, lats[3]))
    (tmp_path / "c.ark").write_bytes(body)
    got, err = assert_same_outcome(f"ark:{tmp_path / 'c.ark'}")
    assert [x.key for x in got] == ["utt0", "utt1"] and "key 'utt2': byte offset" in err


def _entry(tmp_path, lat) -> bytes:
    write_lattices(f"ark:{tmp_path / 'e.ark'}", [lat])
    return (tmp_path / "e.ark").read_bytes()


def test_lazy_alignments_pickle_and_replace(shared_data):
    f = shared_data("kaldi-lattices-yesno", "exp/mono0a/decode_test_yesno", "lat.1.gz")
    lat = next(read_lattices(f"ark:{f}"))
    assert not lat.alignments_decoded
    back = pickle.loads(pickle.dumps(lat))
    assert back.alignments_decoded
    assert_identical(lat, back)
    scaled = next(read_lattices(f"ark:{f}")).scale(acoustic_scale=0.1)
    assert not scaled.alignments_decoded and scaled.header is None  # still lazy after replace
    assert_identical(scaled, lat.scale(acoustic_scale=0.1))
    assert lat.replace(key="x").ali_data is lat.ali_data
    with pytest.raises(TypeError):
        scaled.replace(no_such_field=1)
    with pytest.raises(AttributeError):
        lat.no_such_field
