from kaldi_mpq.scoring.edit_distance import align
from kaldi_mpq.scoring.transcripts import read_transcripts, read_utt2spk
from kaldi_mpq.scoring.wer_details import (
    UttAlignment, align_all, bootstrap_wer_ci, format_bootci, format_ops, format_per_spk, format_per_utt,
)

YESNO = ("kaldi-lattices-yesno",)


def test_yesno_details_reproduced(shared_data):
    sk = shared_data(*YESNO, "exp", "mono0a", "decode_test_yesno", "scoring_kaldi")
    ref = read_transcripts(sk / "test_filt.txt")
    hyp = read_transcripts(sk / "penalty_0.0" / "7.txt")
    al = align_all(ref.words, hyp.words)
    assert format_per_utt(al) == (sk / "wer_details" / "per_utt").read_text()
    utt2spk = read_utt2spk(shared_data(*YESNO, "data", "test_yesno", "utt2spk"))
    assert format_per_spk(al, utt2spk) == (sk / "wer_details" / "per_spk").read_text()
    assert format_ops(al) == (sk / "wer_details" / "ops").read_text()
    assert format_bootci(*bootstrap_wer_ci([0] * 29, [8] * 29)) == (sk / "wer_details" / "wer_bootci").read_text()


def test_per_utt_with_errors_matches_kaldi_doc_example():
    # the example in wer_per_utt_details.pl's documentation
    pairs = (("word-A", "word-A"), ("<eps>", "word-A"), ("word-B", "word-B"), ("word-C", "<eps>"),
             ("word-D", "word-D"), ("word-E", "word-X"))
    text = format_per_utt([UttAlignment("UTT-A", pairs)], eps="<eps>")
    assert text == (
        "UTT-A ref  word-A   <eps>  word-B  word-C  word-D  word-E\n"
        "UTT-A hyp  word-A  word-A  word-B   <eps>  word-D  word-X\n"
        "UTT-A op      C       I       C       D       C       S  \n"
        "UTT-A #csid 3 1 1 1\n"
    )
    spk = format_per_spk([UttAlignment("UTT-A", pairs)], {"UTT-A": "A"}, eps="<eps>")
    assert spk.splitlines()[1:3] == [
        "A               raw          1          5          3          1          1          1          3          1",
        "A               sys          1          5      60.00      20.00      20.00      20.00      60.00     100.00",
    ]
    ops = format_ops([UttAlignment("UTT-A", pairs)], eps="<eps>").splitlines()
    assert [o.split() for o in ops] == [
        ["correct", "word-A", "word-A", "1"], ["correct", "word-B", "word-B", "1"],
        ["correct", "word-D", "word-D", "1"], ["deletion", "word-C", "<eps>", "1"],
        ["insertion", "<eps>", "word-A", "1"], ["substitution", "word-E", "word-X", "1"],
    ]


def test_bootci_interval_contains_point():
    point, low, high = bootstrap_wer_ci([1, 0, 3, 2, 0], [10, 8, 12, 9, 7])
    assert low <= point <= high and abs(point - 600 / 46) < 1e-9
    assert align(["a"], ["b"], "***") == [("a", "b")]
