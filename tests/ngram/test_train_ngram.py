"""kaldi-mpq train-ngram: reproducible output, the words.txt restriction, bad input."""

import gzip

import pytest

from kaldi_mpq.cli import main
from kaldi_mpq.errors import SymbolTableError, TextFormatError
from kaldi_mpq.ngram.arpa import read_arpa
from kaldi_mpq.ngram.train import train_arpa
from kaldi_mpq.text.symbols import SymbolTable

LINES = [" ".join("the cat sat on a mat while the dog ran to a big red house".split()[i % 5: i % 5 + 3 + i % 6])
         for i in range(80)] + ["a zebra ran", "the zebra sat on a quokka"]


def _run(capsys, *argv):
    rc = main(list(map(str, argv)))
    return rc, capsys.readouterr().err


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("\n".join(LINES) + "\n")
    return path


@pytest.fixture
def words(tmp_path):
    vocab = sorted({w for line in LINES for w in line.split()} - {"zebra", "quokka"})
    table = SymbolTable.from_words(["<eps>", "<UNK>"] + vocab + ["#0", "<s>", "</s>"], unk="<UNK>")
    path = tmp_path / "words.txt"
    table.write(path)
    return path


@pytest.mark.parametrize("name", ["lm.arpa", "lm.arpa.gz"])
def test_the_same_text_gives_the_same_bytes(capsys, tmp_path, text, name):
    outs = []
    for run in range(2):
        out = tmp_path / str(run) / name
        assert _run(capsys, "train-ngram", "--text", text, "--order", 3, "--out", out)[0] == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    if name.endswith(".gz"):
        assert outs[0][4:8] == b"\0\0\0\0"  # no time stamp in the gzip header
        content = gzip.decompress(outs[0]).decode()
    else:
        content = outs[0].decode()
    assert content.startswith("\\data\\\nngram 1=") and content.rstrip().endswith("\\end\\")
    assert read_arpa(tmp_path / "0" / name).order == 3


def test_words_outside_words_txt_become_unk(capsys, tmp_path, text, words):
    out = tmp_path / "lm.arpa"
    assert _run(capsys, "train-ngram", "--text", text, "--words", words, "--unk", "<UNK>", "--order", 2,
                "--out", out)[0] == 0
    arpa = read_arpa(out)
    table = SymbolTable.read(words, unk="<UNK>")
    vocab = arpa.vocabulary
    assert "zebra" not in vocab and "quokka" not in vocab and "<UNK>" in vocab
    assert vocab == {w for w in table.id_of if w not in ("<eps>", "#0")}
    assert ("a", "<UNK>") in arpa.ngrams[1] and ("<UNK>", "</s>") in arpa.ngrams[1]
    # without the restriction the words are the LM's own
    train_arpa(LINES, tmp_path / "free.arpa", order=2)
    assert {"zebra", "quokka"} <= read_arpa(tmp_path / "free.arpa").vocabulary


def test_bad_input(capsys, tmp_path, text, words):
    (tmp_path / "empty.txt").write_text("\n\n")
    out = tmp_path / "lm.arpa"
    rc, err = _run(capsys, "train-ngram", "--text", tmp_path / "empty.txt", "--out", out)
    assert rc == 1 and "empty.txt: no sentences" in err and not out.exists()
    rc, err = _run(capsys, "train-ngram", "--text", text, "--words", words, "--unk", "<unk>", "--out", out)
    assert rc == 1 and "'<unk>'" in err and not out.exists()
    rc, err = _run(capsys, "train-ngram", "--text", tmp_path / "missing.txt", "--out", out)
    assert rc == 1 and "missing.txt" in err and not out.exists()
    with pytest.raises(SystemExit):
        main(["train-ngram", "--text", str(text), "--order", "0", "--out", str(out)])
    assert "expected an integer >= 1, got '0'" in capsys.readouterr().err
    with pytest.raises(TextFormatError, match="no text to train the 3-gram on"):
        train_arpa(["", "  "], out)
    with pytest.raises(SymbolTableError, match="no unk symbol"):
        train_arpa(LINES, out, symbols=SymbolTable.from_words(["<eps>", "a", "<s>", "</s>"], unk=None))
    assert list(tmp_path.glob(".lm.arpa*")) == []  # no temporary left behind
