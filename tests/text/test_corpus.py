"""Text readers, AMI normalisation, vocabulary building and OOV counting."""

import gzip
from collections import Counter

import pytest

from kaldi_mpq.errors import TextFormatError
from kaldi_mpq.text.corpus import detect_format, read_kaldi_text, read_sentences, write_sentences
from kaldi_mpq.text.normalize import normalize_ami
from kaldi_mpq.text.vocab import build_vocab, count_words, oov_stats, sentences_to_ids


def test_plain_text_gzip_and_blank_lines(tmp_path):
    p = tmp_path / "a.txt.gz"
    p.write_bytes(gzip.compress(b" the cat  sat\n\n a dog \n"))
    assert read_sentences(p) == [["the", "cat", "sat"], ["a", "dog"]]


def test_kaldi_text_with_empty_transcript(tmp_path):
    p = tmp_path / "text"
    p.write_text("utt1 HELLO WORLD\nutt2\nutt3 BYE\n")
    assert list(read_kaldi_text(p)) == [("utt1", ["HELLO", "WORLD"]), ("utt2", []), ("utt3", ["BYE"])]
    assert read_sentences(p) == [["HELLO", "WORLD"], ["BYE"]]  # auto: a file named text is Kaldi's


def test_lhotse_supervisions(shared_data):
    sups = shared_data("ami", "lhotse-ES2011a", "ES2011a_sups.jsonl.gz")
    sents = read_sentences(sups)
    assert len(sents) == 348 and sents[0] == "I'M KRISTA AND I'M THE INDUSTRIAL DESIGNER".split()
    assert sum(map(len, sents)) == 2473


def test_ami_normalisation():
    text = "Um I'm Craig and I'm User Interface. Yeah. Is it a T_V_, right? Mm-hmm. Uh - well, okay!"
    assert normalize_ami(text) == [
        ["UM", "I'M", "CRAIG", "AND", "I'M", "USER", "INTERFACE"], ["YEAH"],
        ["IS", "IT", "A", "T", "V", "RIGHT"], ["MM-HMM"], ["UH", "WELL", "OKAY"],
    ]
    assert normalize_ami("  . , ? ") == []


def test_ami_transcripts_raw_format(shared_data, tmp_path):
    import tarfile

    tar = shared_data("ami", "meeting-transcripts-gcunhase", "ami-transcripts.tar.gz")
    with tarfile.open(tar) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("ES2011a.transcript.txt"))
        (tmp_path / "ES2011a.txt").write_bytes(t.extractfile(member).read())
    sents = read_sentences(tmp_path / "ES2011a.txt", format="raw", normalize="ami")
    words = [w for s in sents for w in s]
    assert len(sents) > 100 and all(w == w.upper() for w in words)
    assert not any(c in w for w in words for c in ".,?!\"")


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_text_is_an_error(tmp_path, content):
    p = tmp_path / "empty.txt"
    p.write_text(content)
    with pytest.raises(TextFormatError, match=r"empty.txt: no sentences"):
        read_sentences(p)


def test_missing_text_is_an_error(tmp_path):
    with pytest.raises(TextFormatError, match="no such text file"):
        read_sentences(tmp_path / "nope.txt")


def test_write_sentences_roundtrip(tmp_path):
    s = [["A", "B"], ["C"]]
    write_sentences(tmp_path / "x.txt.gz", s)
    assert read_sentences(tmp_path / "x.txt.gz") == s


def test_vocab_cutoff_topk_ties_and_specials():
    counts = Counter({"b": 3, "a": 3, "c": 2, "d": 1, "<s>": 9, "</s>": 9, "<unk>": 5, "#0": 1, "<eps>": 1})
    full = build_vocab(counts)
    assert [full.word(i) for i in range(len(full))] == ["<eps>", "<unk>", "a", "b", "c", "d", "#0", "<s>", "</s>"]
    assert [w for w in build_vocab(counts, min_count=2).id_of][2:5] == ["a", "b", "c"]
    assert list(build_vocab(counts, top_k=2).id_of) == ["<eps>", "<unk>", "a", "b", "#0", "<s>", "</s>"]
    upper = build_vocab(counts, top_k=1, unk="<UNK>")  # "<unk>" is then an ordinary (frequent) word
    assert list(upper.id_of) == ["<eps>", "<UNK>", "<unk>", "#0", "<s>", "</s>"] and upper.unk == "<UNK>"
    with pytest.raises(TextFormatError, match="no word has count >= 10"):
        build_vocab(counts, min_count=10)
    with pytest.raises(TextFormatError):
        build_vocab(counts, top_k=0)


def test_oov_counting_and_ids():
    sym = build_vocab(count_words([["a", "b", "a"]]))
    sents = [["a", "x", "b"], ["y", "x", "<unk>"]]
    st = oov_stats(sents, sym)
    assert (st.words, st.oov, st.oov_types) == (6, 4, 3) and st.oov_rate == pytest.approx(4 / 6)
    assert sentences_to_ids(sents, sym) == [[sym["a"], sym.unk_id, sym["b"]], [sym.unk_id] * 3]


def test_auto_format_recognises_kaldi_text_by_its_utterance_ids(tmp_path, caplog):
    f = tmp_path / "dev_text.txt"
    f.write_text("AMI_ES2011a_0001 hello there\nAMI_ES2011a_0002 hello again\nAMI_ES2011a_0003 bye\n")
    with caplog.at_level("WARNING"):
        assert read_sentences(f) == [["hello", "there"], ["hello", "again"], ["bye"]]
    assert "Kaldi text" in caplog.text and "--format plain" in caplog.text
    assert read_sentences(f, format="plain")[0] == ["AMI_ES2011a_0001", "hello", "there"]


def test_auto_format_recognises_a_file_in_a_kaldi_data_dir(tmp_path):
    (tmp_path / "utt2spk").write_text("u1 s1\n")
    f = tmp_path / "text.orig"
    f.write_text("u1 the cat\n")
    assert read_sentences(f) == [["the", "cat"]]


@pytest.mark.parametrize("content", [
    "the cat sat\nthe dog ran\n",              # first words repeat
    "a1 b c\nd e a1\n",                         # a first field reused as a word
    "one line only with 2 words\n",             # too little to tell
    "cat sat\ndog ran\n",                       # no digits: words, not ids
])
def test_auto_format_keeps_plain_text_plain(tmp_path, content):
    f = tmp_path / "corpus.txt"
    f.write_text(content)
    assert detect_format(f) == "plain"
