"""Smoke tests of lattice-copy, lattice-best-path and lattice-to-nbest through cli.main."""

from __future__ import annotations

from kaldi_mpq import cli
from kaldi_mpq.lattice import read_lattices, write_lattices
from kaldi_mpq.testing.lattices import dummy_lattice


def _ark(tmp_path):
    lats = [dummy_lattice(7, 8, seed=s, key=f"utt{s}") for s in range(3)]
    write_lattices(f"ark:{tmp_path / 'in.ark'}", lats)
    return lats


def test_lattice_best_path(tmp_path):
    lats = _ark(tmp_path)
    out = tmp_path / "1best.tra"
    assert cli.main(["lattice-best-path", "--acoustic-scale=0.1", f"ark:{tmp_path / 'in.ark'}",
                     f"ark,t:{out}", f"ark,t:{tmp_path / 'ali'}"]) == 0
    lines = out.read_text().splitlines()
    assert lines == [lat.key + " " + "".join(f"{w} " for w in lat.best_path(0.1).words) for lat in lats]
    assert len((tmp_path / "ali").read_text().splitlines()) == 3


def test_lattice_to_nbest_keys_and_order(tmp_path):
    lats = _ark(tmp_path)
    assert cli.main(["lattice-to-nbest", "--n=3", "--acoustic-scale=0.1", f"ark:{tmp_path / 'in.ark'}",
                     f"ark:{tmp_path / 'nbest.ark'}"]) == 0
    got = list(read_lattices(f"ark:{tmp_path / 'nbest.ark'}"))
    assert got[0].key == "utt0-1"
    first = {x.key: x for x in got if x.key.endswith("-1")}
    for lat in lats:
        assert first[f"{lat.key}-1"].best_path().words == lat.best_path(0.1).words


def test_lattice_copy_skip_bad_and_failure(tmp_path, capsys):
    text = "utt1 \n0\t1\t5\t1,2,\n1\t0,0,\n\nutt2 \n0\t1\t5\t1,2,\n\n"
    (tmp_path / "in.txt").write_text(text)
    assert cli.main(["lattice-copy", f"ark,t:{tmp_path / 'in.txt'}", f"ark:{tmp_path / 'o.ark'}"]) == 1
    assert "no final state" in capsys.readouterr().err
    assert not (tmp_path / "o.ark").exists()
    # --skip-bad: the good lattices are written, the bad one counted, and the exit status says so
    assert cli.main(["lattice-copy", "--skip-bad", f"ark,t:{tmp_path / 'in.txt'}", f"ark:{tmp_path / 'o.ark'}"]) == 1
    assert "Done 1 lattices, failed for 1" in capsys.readouterr().err
    assert [x.key for x in read_lattices(f"ark:{tmp_path / 'o.ark'}")] == ["utt1"]
    assert cli.main(["lattice-copy", "--skip-bad", "--allow-failures", f"ark,t:{tmp_path / 'in.txt'}",
                     f"ark:{tmp_path / 'o.ark'}"]) == 0
    assert cli.main(["lattice-copy", "--write-compact=false", f"ark:{tmp_path / 'o.ark'}",
                     f"ark,t:{tmp_path / 'l.txt'}"]) == 0
    assert "\t5\t" in (tmp_path / "l.txt").read_text()


def test_lattice_copy_include_exclude(tmp_path):
    """Kaldi's --include / --exclude: the first field of each line names an utterance (a text file works)."""
    _ark(tmp_path)
    (tmp_path / "list").write_text("utt2 some words\n\nutt0\nutt9 absent\n")
    for opt, keys in (("--include", ["utt0", "utt2"]), ("--exclude", ["utt1"])):
        assert cli.main(["lattice-copy", f"{opt}={tmp_path / 'list'}", f"ark:{tmp_path / 'in.ark'}",
                         f"ark:{tmp_path / 'o.ark'}"]) == 0
        assert [x.key for x in read_lattices(f"ark:{tmp_path / 'o.ark'}")] == keys
    assert cli.main(["lattice-copy", f"--include={tmp_path / 'nothing'}", f"ark:{tmp_path / 'in.ark'}",
                     f"ark:{tmp_path / 'o.ark'}"]) != 0
