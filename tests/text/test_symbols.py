from pathlib import Path

import pytest

from kaldi_mpq.errors import SymbolTableError
from kaldi_mpq.text.symbols import SymbolTable


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "words.txt"
    p.write_text(text)
    return p


def test_round_trip_and_specials(tmp_path):
    t = SymbolTable.from_words(["B", "A", "B"], unk="<unk>")
    assert t["<eps>"] == 0 and t.word(0) == "<eps>"
    assert [t.word(i) for i in range(len(t))] == ["<eps>", "<unk>", "B", "A", "#0", "<s>", "</s>"]
    assert t.non_predictable_ids() == [0, 4, 5]
    t.write(tmp_path / "w.txt")
    assert SymbolTable.read(tmp_path / "w.txt") == t


def test_configurable_unk(tmp_path):
    p = write(tmp_path, "<eps> 0\n<UNK> 1\nYES 2\n</s> 3\n")
    t = SymbolTable.read(p, unk="<UNK>")
    assert t.ids(["YES", "MAYBE"]) == [2, 1]
    with pytest.raises(SymbolTableError, match="unk symbol '<unk>' is not in the table"):
        SymbolTable.read(p)


@pytest.mark.parametrize(
    "text, message",
    [
        ("<eps> 0\nA 1\nA 2\n", r"words.txt:3: duplicate symbol 'A'"),
        ("<eps> 0\nA 1\nB 1\n", r"words.txt:3: duplicate id 1 for 'B' \(line 2 gives it to 'A'\)"),
        ("<eps> 0\nA\n", r"words.txt:2: expected '<symbol> <integer id>'"),
        ("", r"empty symbol table"),
    ],
)
def test_bad_tables(tmp_path, text, message):
    with pytest.raises(SymbolTableError, match=message):
        SymbolTable.read(write(tmp_path, text), unk=None)


def test_word_lists_mismatch_names_first_difference():
    a = SymbolTable.from_words(["A", "B"], source="lm/words.txt")
    b = SymbolTable.from_words(["A", "C"], source="lang/words.txt")
    with pytest.raises(SymbolTableError, match=r"word lists mismatch: id 3 is 'B' in lm/words.txt but 'C' in lang/words.txt"):
        a.check_same(b)
    a.check_same(SymbolTable.from_words(["A", "B"]))


def test_real_kaldi_table(shared_data):
    t = SymbolTable.read(shared_data("kaldi-lattices-tagalog-tri3a", "data", "lang", "words.txt"), unk="<UNK>")
    assert len(t) == 1965 and t.eps_id == 0 and t.eos_id == t["</s>"]
