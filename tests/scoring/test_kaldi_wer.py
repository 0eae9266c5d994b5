import pytest

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.scoring.kaldi_wer import best_wer_line, compute_wer, compute_wer_command, wer_file_text
from kaldi_mpq.scoring.transcripts import Transcripts, read_transcripts
from kaldi_mpq.text.symbols import SymbolTable

TAGALOG = ("kaldi-lattices-tagalog-tri3a", "exp", "tri3a", "decode")


def T(d, source="<memory>"):
    return Transcripts({k: v.split() for k, v in d.items()}, source=source)


@pytest.mark.parametrize("lmwt", range(7, 18))
def test_tagalog_tra_reproduces_wer_files(shared_data, lmwt):
    dec = shared_data(*TAGALOG)
    words = SymbolTable.read(shared_data(TAGALOG[0], "data", "lang", "words.txt"), unk=None)
    ref = read_transcripts(dec / "scoring" / "test_filt.txt")
    hyp = read_transcripts(f"ark,p:{dec / 'scoring' / f'{lmwt}.tra'}", symbols=words)
    text = wer_file_text(compute_wer(ref, hyp), compute_wer_command("exp/tri3a/decode/scoring/test_filt.txt"))
    assert text == (dec / f"wer_{lmwt}").read_text()


def test_modes():
    ref = T({"a": "x y z", "b": "p q", "c": "r"})
    hyp = T({"a": "x z z", "c": "r s"})
    present = compute_wer(ref, hyp, "present")
    assert present.format() == (
        "%WER 50.00 [ 2 / 4, 1 ins, 0 del, 1 sub ] [PARTIAL]\n%SER 100.00 [ 2 / 2 ]\n"
        "Scored 2 sentences, 1 not present in hyp.\n"
    )
    everything = compute_wer(ref, hyp, "all")
    assert (everything.dels, everything.num_words, everything.num_sent, everything.num_absent) == (2, 6, 3, 1)
    assert everything.format().startswith("%WER 66.67 [ 4 / 6, 1 ins, 2 del, 1 sub ] [PARTIAL]")
    with pytest.raises(ScoringError, match="no hypothesis for 'b'.*strict"):
        compute_wer(ref, hyp, "strict")
    full = compute_wer(ref, T({"a": "x y z", "b": "p q", "c": "r"}), "strict")
    assert full.format().splitlines()[0] == "%WER 0.00 [ 0 / 6, 0 ins, 0 del, 0 sub ]"
    with pytest.raises(ScoringError, match="--mode invalid"):
        compute_wer(ref, hyp, "some")


def test_missing_hyps_are_reported(caplog):
    compute_wer(T({"a": "x", "b": "y"}), T({"a": "x"}), "all")
    assert "1 of 2 reference utterances have no hypothesis" in caplog.text


def test_unknown_utterance_names_file_and_line(tmp_path):
    (tmp_path / "hyp").write_text("a x\nzz y\n")
    hyp = read_transcripts(tmp_path / "hyp")
    with pytest.raises(ScoringError, match=r"hyp:2: utterance 'zz' is not in the reference"):
        compute_wer(T({"a": "x"}), hyp)


def test_empty_reference(tmp_path):
    (tmp_path / "ref").write_text("")
    with pytest.raises(ScoringError, match="the reference has no utterances"):
        compute_wer(read_transcripts(tmp_path / "ref"), T({}))
    # an utterance with no words is legal (Kaldi scores it); zero reference words gives Kaldi's inf/nan
    stats = compute_wer(T({"a": ""}), T({"a": "x"}))
    assert stats.format().startswith("%WER inf [ 1 / 0, 1 ins")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"a x\n\nb y\n", r"ref:2: empty line"),
        (b"a x\na y\n", r"ref:2: utterance 'a' repeated \(first at line 1\)"),
        (b"a x\nb \xff\xfe\n", r"ref:2: bytes not valid utf-8 at column 3"),
    ],
)
def test_bad_transcripts(tmp_path, content, message):
    (tmp_path / "ref").write_bytes(content)
    with pytest.raises(ScoringError, match=message):
        read_transcripts(tmp_path / "ref")


def test_bad_integer_transcripts(tmp_path):
    syms = SymbolTable({"<eps>": 0, "A": 1}, unk=None)
    (tmp_path / "t").write_text("u 1 X\n")
    with pytest.raises(ScoringError, match=r"t:1: utterance 'u': 'X' is not an integer"):
        read_transcripts(tmp_path / "t", symbols=syms)
    (tmp_path / "t").write_text("u 1\nv 7\n")
    with pytest.raises(ScoringError, match=r"t:2: utterance 'v': word id 7 is not in"):
        read_transcripts(tmp_path / "t", symbols=syms)


def test_missing_file_and_pipes(tmp_path):
    with pytest.raises(ScoringError, match="no such transcript file"):
        read_transcripts(tmp_path / "nope")
    with pytest.raises(ScoringError, match="piped rspecifiers"):
        read_transcripts("ark:gunzip -c x.gz |")
    with pytest.raises(ScoringError, match="only ark:"):
        read_transcripts("scp:x.scp")


def test_best_wer_picks_first_strictly_lowest(tmp_path):
    lines = {"wer_7_0.0": "5.00 [ 5 / 100", "wer_8_0.0": "4.00 [ 4 / 100", "wer_7_0.5": "4.00 [ 4 / 100"}
    for name, w in lines.items():
        (tmp_path / name).write_text(f"compute-wer x \n%WER {w}, 0 ins, 0 del, 4 sub ]\n%SER 1.00 [ 1 / 2 ]\n")
    files = [tmp_path / n for n in lines]
    assert best_wer_line(files, names=list(lines)) == "%WER 4.00 [ 4 / 100, 0 ins, 0 del, 4 sub ] wer_8_0.0\n"
    (tmp_path / "bad").write_text("nothing\n")
    with pytest.raises(ScoringError, match="no %WER line"):
        best_wer_line([tmp_path / "bad"])
