"""Archive I/O: byte-identical round trips, text/binary agreement, specifiers, bad inputs."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from kaldi_mpq.errors import LatticeFormatError
from kaldi_mpq.lattice import LatticeTable, read_lattices, write_lattices
from kaldi_mpq.lattice.io import read_lattices_tolerant
from kaldi_mpq.testing.lattices import dummy_lattice
from kaldi_mpq.text.symbols import SymbolTable

ARCHIVES = [
    ("kaldi-lattices-tagalog-tri3a", "exp/tri3a/decode"),
    ("kaldi-lattices-yesno", "exp/mono0a/decode_test_yesno"),
    ("kaldi-lattices-digits-fsdd", "exp/mono/decode"),
]


def assert_same(a, b, tol=0.0):
    assert a.key == b.key and a.num_states == b.num_states
    for f in ("src", "dst", "word", "ali_offsets", "ali_data", "final_ali_offsets", "final_ali_data"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    for f in ("graph_cost", "acoustic_cost", "final_graph", "final_acoustic"):
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=tol, err_msg=f)


@pytest.mark.parametrize("corpus,decode", ARCHIVES)
def test_binary_round_trip_is_byte_identical(shared_data, tmp_path, corpus, decode):
    for f in sorted(shared_data(corpus, decode).glob("lat.*.gz")):
        raw = gzip.open(f).read()
        out = tmp_path / "rt.ark"
        write_lattices(f"ark:{out}", read_lattices(f"ark:{f}"))
        assert out.read_bytes() == raw, f


def test_text_binary_conversions_agree(shared_data, tmp_path):
    f = shared_data("kaldi-lattices-tagalog-tri3a", "exp/tri3a/decode", "lat.2.gz")
    lats = list(read_lattices(f"ark:gunzip -c {f}|"))
    write_lattices(f"ark,t:{tmp_path / 't.ark'}", lats)
    back = list(read_lattices(f"ark:{tmp_path / 't.ark'}"))
    assert len(back) == len(lats)
    for a, b in zip(lats, back):
        assert_same(a, b, tol=5e-6)  # text keeps 6 significant digits
        assert a.best_path(0.1).words == b.best_path(0.1).words
    write_lattices(f"ark:{tmp_path / 'b.ark'}", back)
    for a, b in zip(back, read_lattices(f"ark:{tmp_path / 'b.ark'}")):
        assert_same(a, b, tol=1e-7)


@pytest.mark.parametrize("shuffle", [False, True])
def test_lattice_form_round_trip(tmp_path, shuffle):
    lats = [dummy_lattice(8, 8, seed=s, key=f"u{s}", shuffle_states=shuffle) for s in range(5)]
    for text in (False, True):
        write_lattices(f"ark:{tmp_path / 'l.ark'}", lats, text=text, compact=False)
        for a, b in zip(lats, read_lattices(f"ark:{tmp_path / 'l.ark'}")):
            assert b.num_states >= a.num_states
            pa, pb = a.best_path(0.1), b.best_path(0.1)
            assert pa.words == pb.words and pa.cost == pytest.approx(pb.cost, rel=1e-6)
            ali = lambda lat, p: [t for x in p.arcs for t in lat.ali(x)] + list(lat.final_ali(p.final_state))
            assert ali(a, pa) == ali(b, pb)


def test_gzip_scp_and_random_access(tmp_path):
    lats = [dummy_lattice(6, 5, seed=s, key=f"utt{s}") for s in range(4)]
    write_lattices(f"ark,scp:{tmp_path / 'a.ark'},{tmp_path / 'a.scp'}", lats)
    table = LatticeTable(f"scp:{tmp_path / 'a.scp'}")
    assert table.keys() == [lat.key for lat in lats]
    assert_same(table["utt2"], lats[2])
    write_lattices(f"ark:{tmp_path / 'a.gz'}", lats)
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    for a, b in zip(lats, read_lattices(f"ark:{tmp_path / 'a.gz'}")):
        assert_same(a, b)
    write_lattices(f"ark:| gzip -c > {tmp_path / 'p.gz'}", lats)
    assert [x.key for x in read_lattices(f"ark:gunzip -c {tmp_path / 'p.gz'}|")] == [x.key for x in lats]
    with pytest.raises(LatticeFormatError, match="no such key"):
        table["nope"]


def test_unsorted_states_are_sorted_and_written_back_identically(tmp_path):
    lat = dummy_lattice(9, 10, seed=3, shuffle_states=True)
    assert lat.file_states is not None
    assert (lat.src < lat.dst).all()
    write_lattices(f"ark:{tmp_path / 'a.ark'}", [lat])
    again = next(read_lattices(f"ark:{tmp_path / 'a.ark'}"))
    write_lattices(f"ark:{tmp_path / 'b.ark'}", [again])
    assert (tmp_path / "a.ark").read_bytes() == (tmp_path / "b.ark").read_bytes()


# -- bad input ----------------------------------------------------------------------------------------

@pytest.fixture
def good_ark(tmp_path):
    path = tmp_path / "good.ark"
    write_lattices(f"ark:{path}", [dummy_lattice(5, 4, seed=s, key=f"utt{s}") for s in range(3)])
    return path


def _bad(tmp_path, data: bytes, name="bad.ark"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_truncated_gzip(tmp_path, good_ark):
    data = gzip.compress(good_ark.read_bytes())
    p = _bad(tmp_path, data[: len(data) // 2], "t.gz")
    with pytest.raises(LatticeFormatError, match="t.gz"):
        list(read_lattices(f"ark:{p}"))
    with pytest.raises(LatticeFormatError, match="failed with status"):
        list(read_lattices(f"ark:gunzip -c {p}|"))


def test_truncated_archive_names_key_and_offset(tmp_path, good_ark):
    data = good_ark.read_bytes()
    p = _bad(tmp_path, data[:-10])
    with pytest.raises(LatticeFormatError, match=r"key 'utt2': byte offset \d+: lattice truncated"):
        list(read_lattices(f"ark:{p}"))


def test_wrong_magic_and_arc_type(tmp_path, good_ark):
    data = good_ark.read_bytes()
    i = data.index(b" ") + 1
    p = _bad(tmp_path, data[:i] + b"\xd6\xfd\xb2\x7f" + data[i + 4:])
    with pytest.raises(LatticeFormatError, match="key 'utt0': byte offset 5: not a lattice"):
        list(read_lattices(f"ark:{p}"))
    p = _bad(tmp_path, data.replace(b"compactlattice44", b"compactlattice84", 1))
    with pytest.raises(LatticeFormatError, match="arc type 'compactlattice84'"):
        list(read_lattices(f"ark:{p}"))


def test_cyclic_no_final_empty_and_missing_lattice(tmp_path):
    cases = {
        "the lattice has a cycle": "utt1 \n0\t1\t5\t1,2,\n1\t0\t6\t1,2,\n1\t0,0,\n\n",
        "no final state": "utt1 \n0\t1\t5\t1,2,\n\n",
        "empty lattice": "utt1 \n\n",
        "no lattice after the key": "utt1 ",
        "bad lattice line": "utt1 \n0\t1\tfive\t1,2,\n\n",
    }
    for msg, text in cases.items():
        p = _bad(tmp_path, text.encode())
        with pytest.raises(LatticeFormatError, match=f"bad.ark: key 'utt1'.*{msg}"):
            list(read_lattices(f"ark,t:{p}"))


def test_word_ids_outside_words_txt(tmp_path):
    lat = dummy_lattice(5, 4, vocab=10, seed=1)
    syms = SymbolTable.from_words(["a", "b"], unk=None)
    with pytest.raises(LatticeFormatError, match="not in"):
        lat.check_words(syms, source="x.ark")


def test_skip_bad_goes_on_after_recoverable_errors(tmp_path):
    text = ("utt1 \n0\t1\t5\t1,2,\n1\t0,0,\n\n" "utt2 \n0\t1\t5\t1,2,\n\n" "utt3 \n0\t1\tx\t1,2,\n1\n\n"
            "utt4 \n0\t1\t7\t1,2,\n1\t0,0,\n\n")
    p = _bad(tmp_path, text.encode())
    got = [(k, lat is not None) for k, lat, _ in read_lattices_tolerant(f"ark,t:{p}", skip_bad=True)]
    assert got == [("utt1", True), ("utt2", False), ("utt3", False), ("utt4", True)]


def test_bad_specifier(tmp_path):
    with pytest.raises(LatticeFormatError, match="bad specifier"):
        list(read_lattices(str(tmp_path / "x")))
    with pytest.raises(LatticeFormatError, match="cannot open"):
        list(read_lattices(f"ark:{tmp_path / 'missing'}"))


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    def gen():
        yield dummy_lattice(4, 2)
        raise LatticeFormatError("boom")

    with pytest.raises(LatticeFormatError):
        write_lattices(f"ark:{tmp_path / 'o.ark'}", gen())
    assert not list(tmp_path.iterdir())

