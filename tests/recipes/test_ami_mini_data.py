"""The committed first pass of recipes/ami_mini (data/ami_mini): data dirs, lattices, the 3-gram they
were decoded with, and the first-pass WER its README states."""

import hashlib
import re
import shutil

import numpy as np
import pytest

from kaldi_mpq.cli import main
from kaldi_mpq.ngram.load import load_ngram_lm
from kaldi_mpq.ngram.train import train_arpa
from kaldi_mpq.rescoring.decode_dir import read_decode_lattices, read_num_jobs
from kaldi_mpq.text.corpus import read_sentences
from kaldi_mpq.text.symbols import SymbolTable
from tests.conftest import REPO_ROOT

DATA = REPO_ROOT / "data" / "ami_mini"
AMI = REPO_ROOT / "data" / "ami"
SETS = ("dev", "eval")


def _kaldi_map(path):
    return [tuple(line.split(maxsplit=1)) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def symbols():
    return SymbolTable.read(DATA / "lang" / "words.txt", unk="<UNK>")


@pytest.fixture(scope="module")
def lattices():
    return {s: read_decode_lattices(DATA / f"decode_{s}") for s in SETS}


@pytest.fixture(scope="module")
def lm_3gram(tmp_path_factory, symbols):
    """The first-pass 3-gram rebuilt as recipes/ami_mini stage 0 builds it."""
    train = [" ".join(words) for m in (AMI / "lists" / "train.txt").read_text().split()
             for words in read_sentences(AMI / "transcripts" / f"{m}.transcript.txt", "raw", "ami")]
    path = tmp_path_factory.mktemp("lm") / "lm_3gram.arpa.gz"
    train_arpa(train, path, order=3, symbols=symbols, unk="<UNK>")
    return path


def test_meeting_lists_and_transcripts():
    lists = {s: (AMI / "lists" / f"{s}.txt").read_text().split() for s in ("train", "dev", "eval")}
    assert {s: len(v) for s, v in lists.items()} == {"train": 137, "dev": 18, "eval": 16}
    every = [m for v in lists.values() for m in v]
    assert len(set(every)) == 171
    assert {p.name for p in (AMI / "transcripts").iterdir()} == {f"{m}.transcript.txt" for m in every}


def test_data_dirs(symbols):
    assert symbols.id_of["<eps>"] == 0 and symbols.id_of["<UNK>"] == 1
    assert all(w == w.upper() for w in symbols.id_of if w not in ("<eps>", "<s>", "</s>", "#0"))
    for s in SETS:
        text = _kaldi_map(DATA / s / "text")
        utt2spk = _kaldi_map(DATA / s / "utt2spk")
        keys = [k for k, _ in text]
        assert len(keys) == {"dev": 200, "eval": 600}[s] and keys == sorted(keys) and [k for k, _ in utt2spk] == keys
        assert all(k.startswith(spk + "-") for k, spk in utt2spk)
        meetings = set((AMI / "lists" / f"{s}.txt").read_text().split())
        assert all(k.split("-")[1] in meetings for k in keys)
        assert all(4 <= len(t.split()) <= 20 for _, t in text)
        spk2utt = {spk: utts.split() for spk, utts in _kaldi_map(DATA / s / "spk2utt")}
        assert spk2utt == {spk: [k for k, v in utt2spk if v == spk] for spk in sorted({v for _, v in utt2spk})}


def test_lattices_cover_the_text_with_ids_of_words_txt(symbols, lattices):
    non_words = {symbols[w] for w in ("<s>", "</s>", "#0")}
    for s in SETS:
        assert read_num_jobs(DATA / f"decode_{s}") == 2
        keys = [lat.key for lat in lattices[s]]
        assert sorted(keys) == [k for k, _ in _kaldi_map(DATA / s / "text")]
        for lat in lattices[s]:
            lat.check_words(symbols, source=f"decode_{s}")
            assert not non_words & set(lat.word.tolist())
            assert np.isfinite(lat.graph_cost).all() and np.isfinite(lat.acoustic_cost).all()
    assert sum(f.stat().st_size for f in DATA.rglob("*") if f.is_file()) < 4_000_000


@pytest.mark.slow  # trains the 3-gram on the 137 train meetings (about 10-20 s)
def test_the_3gram_is_the_committed_one_and_gives_the_graph_costs(symbols, lattices, lm_3gram):
    expected = (DATA / "lm_3gram.arpa.gz.sha256").read_text().split()[0]
    assert hashlib.sha256(lm_3gram.read_bytes()).hexdigest() == expected
    assert expected in (DATA / "README").read_text()
    lm = load_ngram_lm(lm_3gram, symbols)
    for s in SETS:
        for lat in lattices[s]:
            for path in (lat.best_path(0.1), lat.best_path(1.0)):
                words = [w for w in path.words if w]
                assert path.graph_cost == pytest.approx(-lm.sentence_log_prob(words), abs=2e-3), lat.key


@pytest.mark.parametrize("part", SETS)
def test_first_pass_wer_is_the_readme_figure(tmp_path, capsys, part):
    m = re.search(rf"^\s+{part}\s+%WER ([\d.]+) \[ (\d+) / (\d+),", (DATA / "README").read_text(), re.M)
    assert m, f"no {part} WER line in {DATA / 'README'}"
    (tmp_path / "lang").mkdir()
    shutil.copy(DATA / "lang" / "words.txt", tmp_path / "lang" / "words.txt")
    shutil.copytree(DATA / f"decode_{part}", tmp_path / "decode")
    assert main(["score", "--min-lmwt", "10", "--max-lmwt", "10", "--word-ins-penalty", "0.0",
                 str(DATA / part), str(tmp_path / "lang"), str(tmp_path / "decode")]) == 0
    best = (tmp_path / "decode" / "scoring_kaldi" / "best_wer").read_text()
    assert f"%WER {m.group(1)} [ {m.group(2)} / {m.group(3)}," in best
