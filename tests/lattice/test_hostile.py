"""Hostile lattice input: every failure is one LatticeFormatError naming file, key and byte offset;
memory stays bounded and nothing hangs; --skip-bad skips exactly the bad lattices."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kaldi_mpq import cli
from kaldi_mpq.errors import LatticeFormatError
from kaldi_mpq.lattice import read_lattices, write_lattices
from kaldi_mpq.lattice.io import read_lattices_tolerant
from kaldi_mpq.testing.lattices import dummy_lattice

from tests.conftest import REPO_ROOT

ARCHIVES = [("kaldi-lattices-tagalog-tri3a", "exp/tri3a/decode", "lat.1.gz"),
            ("kaldi-lattices-yesno", "exp/mono0a/decode_test_yesno", "lat.1.gz")]


def test_fuzzed_archives_fail_cleanly_within_memory_and_time(shared_data):
    """300 mutated binary, text, gzip archives and scp files built from real Kaldi archives, read
    strictly and with skip_bad in a subprocess limited to 768 MB of address space beyond start-up
    and 20 s per case (a reader that asks numpy for terabytes or loops fails the case)."""
    archives = [str(shared_data(*a)) for a in ARCHIVES]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "kaldi_mpq.testing.lattice_fuzz", "--cases", "300", "--seed", "14",
                           "--memory-mb", "768", "--case-timeout", "20", *archives],
                          capture_output=True, text=True, timeout=900, env=env)
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    bad = [r for r in records if "problem" in r]
    assert proc.returncode == 0 and not bad, "\n".join(map(str, bad[:10])) + proc.stderr[-2000:]
    assert records[-1] == {"cases": 300, "bad": 0}


def _entry(tmp_path, lat, text=False) -> bytes:
    write_lattices(f"ark:{tmp_path / 'e.ark'}", [lat], text=text)
    return (tmp_path / "e.ark").read_bytes()


def _corrupt_body(entry: bytes, how: str) -> bytes:
    """A binary entry whose body is damaged so that its end cannot be known."""
    body = entry.index(b"compactlattice44") + 16 + 40  # after the header
    b = bytearray(entry)
    if how == "arc count":
        b[body + 12:body + 20] = (-5).to_bytes(8, "little", signed=True)  # state 0's arc count
    elif how == "alignment length":
        b[body + 8:body + 12] = (10**8).to_bytes(4, "little", signed=True)  # runs past the archive
    else:  # the magic
        b[entry.index(b" ") + 1] ^= 0xFF
    return bytes(b)


@pytest.mark.parametrize("how", ["arc count", "alignment length", "magic"])
def test_skip_bad_resyncs_to_the_next_key(tmp_path, capsys, how):
    lats = [dummy_lattice(6, 5, seed=s, key=f"utt{s}") for s in range(9)]
    parts = [_entry(tmp_path, lat) for lat in lats]
    parts[2] = _corrupt_body(parts[2], how)
    parts[6] = _entry(tmp_path, lats[6].replace(final_graph=np.full(6, np.inf)))  # parses; no final state
    parts[7] = _corrupt_body(parts[7], how)
    (tmp_path / "a.ark").write_bytes(b"".join(parts))
    got = [(k, lat is not None) for k, lat, _ in read_lattices_tolerant(f"ark:{tmp_path / 'a.ark'}", True)]
    good = [f"utt{i}" for i in (0, 1, 3, 4, 5, 8)]
    assert [k for k, ok in got if ok] == good
    assert len([k for k, ok in got if not ok]) == 3
    with pytest.raises(LatticeFormatError, match=r"a.ark: key 'utt2': byte offset \d+: "):
        list(read_lattices(f"ark:{tmp_path / 'a.ark'}"))
    out = tmp_path / "out.ark"
    assert cli.main(["lattice-copy", "--skip-bad", f"ark:{tmp_path / 'a.ark'}", f"ark:{out}"]) == 1
    assert "Done 6 lattices, failed for 3" in capsys.readouterr().err
    assert [x.key for x in read_lattices(f"ark:{out}")] == good
    assert cli.main(["lattice-copy", "--skip-bad", "--allow-failures", f"ark:{tmp_path / 'a.ark'}",
                     f"ark:{out}"]) == 0
    assert cli.main(["lattice-best-path", "--skip-bad", f"ark:{tmp_path / 'a.ark'}", f"ark,t:{tmp_path / 'tra'}"]) == 1
    assert [line.split()[0] for line in (tmp_path / "tra").read_text().splitlines()] == good


def test_skip_bad_in_text_and_after_a_bad_key(tmp_path):
    lats = [dummy_lattice(5, 4, seed=s, key=f"utt{s}") for s in range(4)]
    text = [_entry(tmp_path, lat, text=True) for lat in lats]
    text[1] = text[1].replace(b"\t", b"\tnan,", 1)
    binary = [_entry(tmp_path, lat) for lat in lats]
    binary[2] = b"utt\x002" + binary[2][4:]  # a NUL in the key
    (tmp_path / "m.ark").write_bytes(b"".join(text[:2] + binary[2:]))
    got = [(k, lat is not None) for k, lat, _ in read_lattices_tolerant(f"ark:{tmp_path / 'm.ark'}", True)]
    assert [k for k, ok in got if ok] == ["utt0", "utt3"] and len(got) == 4


def _text_error(tmp_path, text: str) -> str:
    (tmp_path / "t.ark").write_bytes(text.encode())
    with pytest.raises(LatticeFormatError) as e:
        list(read_lattices(f"ark:{tmp_path / 't.ark'}"))
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 't.ark'}: key ") and "byte offset" in msg and "\n" not in msg
    return msg


@pytest.mark.parametrize("text,reason", [
    ("u1 \n0\t1\t5\t1,2,\n1\t0,0,\n-1\t0,0,\n\n", "bad lattice line '-1"),  # would mark state 1 final
    ("u1 \n0\t2147483648\t5\n1\n\n", "is not an id"),
    ("u1 \n0\t1\t2147483648\n1\n\n", "is not an id"),
    ("u1 \n0\t1\t5\t1,2,3_-4\n1\n\n", "is not an id"),
    ("u1 \n0\t1\t5\t1_0,2,\n1\n\n", "is not a number"),
    ("u1 \n0\t1000000000\t5\n1000000000\n\n", "ids must be dense"),  # ~30 bytes asking for 16 GB
    ("u1 \n0\t1\t5\tnan,2,\n1\n\n", "NaN, -inf or a half-infinite weight"),
    ("u1 \n0\t1\t5\t1,-Infinity,\n1\n\n", "NaN, -inf or a half-infinite weight"),
    ("u1 \n0\t1\t5\t1,2,\n1\tInfinity,0,\n\n", "NaN, -inf or a half-infinite weight"),
    ("u1 \n0\t1\t5\t1,2,\n1\t0,0,", "truncated"),
    ("u\x01 \n0\t1\t5\n1\n\n", "bad key"),
])
def test_text_lattices_kaldi_would_not_accept(tmp_path, text, reason):
    assert reason in _text_error(tmp_path, text)


def test_zero_final_weight_and_zero_arc_weight_are_accepted(tmp_path):
    """Infinity,Infinity is Kaldi's Zero: a legal (non-)final weight and a legal, useless arc weight."""
    (tmp_path / "t.ark").write_text("u1 \n0\t1\t5\t1,2,\n0\t1\t6\tInfinity,Infinity,\n1\t0,0,\n0\tInfinity,Infinity,\n\n")
    (lat,) = read_lattices(f"ark:{tmp_path / 't.ark'}")
    assert lat.is_final.tolist() == [False, True] and lat.best_path().words == (5,)


def test_binary_nan_cost_and_corrupt_gzip_name_key_and_offset(tmp_path):
    lats = [dummy_lattice(5, 4, seed=s, key=f"utt{s}") for s in range(3)]
    data = bytearray(b"".join(_entry(tmp_path, lat) for lat in lats))
    start = data.index(b"utt1 ") + 5 + 4 + 10 + 4 + 16 + 40
    data[start:start + 4] = np.float32(np.nan).tobytes()  # state 0's final graph cost
    (tmp_path / "n.ark").write_bytes(bytes(data))
    with pytest.raises(LatticeFormatError, match=r"n.ark: key 'utt1': byte offset \d+: final weight of state 0"):
        list(read_lattices(f"ark:{tmp_path / 'n.ark'}"))
    many = [dummy_lattice(8, 10, seed=s, key=f"utt{s}") for s in range(300)]
    write_lattices(f"ark:{tmp_path / 'many.ark'}", many)
    z = bytearray(gzip.compress((tmp_path / "many.ark").read_bytes(), mtime=0))
    z[len(z) * 3 // 4] ^= 0x55
    (tmp_path / "c.gz").write_bytes(bytes(z))
    with pytest.raises(LatticeFormatError, match=r"c.gz: key '\w+': byte offset \d+: corrupt or truncated gzip"):
        list(read_lattices(f"ark:{tmp_path / 'c.gz'}"))
    got = list(read_lattices_tolerant(f"ark:{tmp_path / 'c.gz'}", True))
    assert got[-1][1] is None and "gzip" in got[-1][2]


def test_scp_errors_name_the_scp_line_and_key(tmp_path):
    lats = [dummy_lattice(5, 4, seed=s, key=f"utt{s}") for s in range(2)]
    write_lattices(f"ark,scp:{tmp_path / 'a.ark'},{tmp_path / 'a.scp'}", lats)
    lines = (tmp_path / "a.scp").read_bytes().splitlines(keepends=True)
    (tmp_path / "b.scp").write_bytes(lines[0] + b"utt1 " + str(tmp_path / "missing.ark").encode() + b":5\n")
    with pytest.raises(LatticeFormatError, match=r"b.scp: byte offset \d+ \(line 2\): key 'utt1': .*cannot open"):
        list(read_lattices(f"scp:{tmp_path / 'b.scp'}"))
    (tmp_path / "c.scp").write_bytes(lines[0] + b"utt\xff1 x.ark:5\n")
    with pytest.raises(LatticeFormatError, match=r"c.scp: byte offset \d+ \(line 2\): key"):
        list(read_lattices(f"scp:{tmp_path / 'c.scp'}"))
    (tmp_path / "d.scp").write_bytes(lines[0] + b"utt1 " + str(tmp_path / "a.ark").encode() + b":3\n")
    got = [(k, lat is not None) for k, lat, _ in read_lattices_tolerant(f"scp:{tmp_path / 'd.scp'}", True)]
    assert got == [("utt0", True), ("utt1", False)]
