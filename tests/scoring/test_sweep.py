from kaldi_mpq.scoring.kaldi_wer import WerStats
from kaldi_mpq.scoring.sweep import lattice_hypotheses, tune_on_dev, write_kaldi_scoring, write_old_scoring
from kaldi_mpq.scoring.transcripts import read_transcripts, read_utt2spk
from kaldi_mpq.text.symbols import SymbolTable

YESNO = ("kaldi-lattices-yesno", "exp", "mono0a", "decode_test_yesno")
WIPS = ("0.0", "0.5", "1.0")


def test_yesno_scoring_kaldi_layout_reproduced(shared_data, tmp_path):
    dec = shared_data(*YESNO)
    sk = dec / "scoring_kaldi"
    ref = read_transcripts(sk / "test_filt.txt")
    hyps = {(l, p): read_transcripts(sk / f"penalty_{p}" / f"{l}.txt").words for p in WIPS for l in range(7, 18)}
    utt2spk = read_utt2spk(shared_data("kaldi-lattices-yesno", "data", "test_yesno", "utt2spk"))
    res = write_kaldi_scoring(tmp_path, ref, hyps, utt2spk, dir_name="exp/mono0a/decode_test_yesno")
    assert res.best == (7, "0.0")
    for rel in ["scoring_kaldi/best_wer", "scoring_kaldi/test_filt.txt", "wer_12_0.5", "scoring_kaldi/penalty_1.0/9.txt"] + [
        f"scoring_kaldi/wer_details/{f}" for f in ("lmwt", "wip", "per_utt", "per_spk", "ops", "wer_bootci")
    ]:
        assert (tmp_path / rel).read_text() == (dec / rel).read_text(), rel


def test_old_layout_from_tra(shared_data, tmp_path):
    dec = shared_data("kaldi-lattices-tagalog-tri3a", "exp", "tri3a", "decode")
    words = SymbolTable.read(shared_data("kaldi-lattices-tagalog-tri3a", "data", "lang", "words.txt"), unk=None)
    ref = read_transcripts(dec / "scoring" / "test_filt.txt")
    hyps = {(k, "0.0"): read_transcripts(dec / "scoring" / f"{k}.tra", symbols=words).words for k in (7, 17)}
    write_old_scoring(tmp_path, ref, hyps, words, dir_name="exp/tri3a/decode")
    for k in (7, 17):
        assert (tmp_path / f"wer_{k}").read_text() == (dec / f"wer_{k}").read_text()
        assert (tmp_path / "scoring" / f"{k}.tra").read_text() == (dec / "scoring" / f"{k}.tra").read_text()


def test_lattice_hypotheses_sweep():
    from kaldi_mpq.lattice.lattice import Lattice

    syms = SymbolTable({"<eps>": 0, "YES": 1, "NO": 2}, unk=None)
    # two competing words: YES is cheaper acoustically, NO cheaper in the graph
    lat = Lattice.from_arrays("u", 2, [0, 0], [1, 1], [1, 2], [2.0, 1.0], [1.0, 3.0], [float("inf"), 0.0], [float("inf"), 0.0])
    hyps = lattice_hypotheses([lat], syms, [1, 10], ["0.0"])
    assert hyps[(1, "0.0")]["u"] == ["YES"] and hyps[(10, "0.0")]["u"] == ["NO"]


def test_tune_on_dev_reports_honest_and_oracle():
    def st(e):
        return WerStats(100, 0, 0, e, 10, 1, 0)

    dev = {(7, "0.0"): st(10), (8, "0.0"): st(8), (9, "0.0"): st(8)}
    evl = {(7, "0.0"): st(9), (8, "0.0"): st(12), (9, "0.0"): st(11)}
    r = tune_on_dev(dev, evl)
    assert r["setting"] == (8, "0.0") and r["eval_wer"] == 12.0
    assert r["eval_oracle_setting"] == (7, "0.0") and r["eval_oracle_wer"] == 9.0


def _tiny_sweep_inputs():
    from kaldi_mpq.scoring.transcripts import Transcripts

    ref = Transcripts({"u1": ["a", "b"], "u2": ["c"]}, source="ref")
    hyps = {(lmwt, "0.0"): {"u1": ["a", "b"], "u2": ["d"]} for lmwt in (7, 8)}
    return ref, hyps


def test_failed_scoring_leaves_no_partial_scoring_kaldi(tmp_path):
    ref, hyps = _tiny_sweep_inputs()
    calls = []

    def failing_filter(words):
        calls.append(words)
        if len(calls) > 2:
            raise OSError(28, "No space left on device")
        return words

    try:
        write_kaldi_scoring(tmp_path, ref, hyps, hyp_filter=failing_filter)
    except OSError:
        pass
    else:
        raise AssertionError("the filter's error should propagate")
    assert not (tmp_path / "scoring_kaldi").exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_rescoring_keeps_a_kaldi_scoring_log(tmp_path):
    ref, hyps = _tiny_sweep_inputs()
    (tmp_path / "scoring_kaldi" / "log").mkdir(parents=True)
    (tmp_path / "scoring_kaldi" / "log" / "best_path.7.log").write_text("kaldi's log\n")
    (tmp_path / "scoring_kaldi" / "best_wer").write_text("stale\n")
    res = write_kaldi_scoring(tmp_path, ref, hyps)
    assert (tmp_path / "scoring_kaldi" / "log" / "best_path.7.log").read_text() == "kaldi's log\n"
    assert (tmp_path / "scoring_kaldi" / "best_wer").read_text() == res.best_wer_line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scoring_kaldi", "wer_7_0.0", "wer_8_0.0"]
