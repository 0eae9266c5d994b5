from kaldi_mpq.cli import main
from kaldi_mpq.scoring import sclite_dir
from kaldi_mpq.scoring.decode_dir import ScoreOptions
from kaldi_mpq.scoring.nist_files import read_ctm
from kaldi_mpq.scoring.sclite_dir import ScliteOptions, score_decode_dir_sclite
from tests.scoring.test_decode_dir import link_decode_dir

YESNO = "kaldi-lattices-yesno"


def yesno_dirs(shared_data, tmp_path):
    dec = link_decode_dir(shared_data(YESNO, "exp", "mono0a", "decode_test_yesno"), tmp_path / "decode")
    data = tmp_path / "test_yesno"
    data.mkdir()
    text = shared_data(YESNO, "data", "test_yesno", "text").read_text().splitlines()
    (data / "stm").write_text("".join(f"{u} 1 {u} 0.00 100.00 {' '.join(w)}\n" for u, *w in map(str.split, text)))
    return data, shared_data(YESNO, "data", "lang_test_tg"), dec


def test_ctm_and_scores_sclite_and_python_agree(shared_data, tmp_path):
    from tests.conftest import sclite_path

    sclite_path("sclite")
    data, lang, dec = yesno_dirs(shared_data, tmp_path)
    opts = ScoreOptions(7, 8, ("0.0", "1.0"))
    real = score_decode_dir_sclite(data, lang, dec, opts)
    py = score_decode_dir_sclite(data, lang, dec, opts, ScliteOptions(python_scorer=True))
    assert real.keys() == py.keys() and len(real) == 4
    for k in real:
        assert real[k]["all"] == py[k]["all"]
    assert real[(7, "0.0")]["all"].err == 0.0 and real[(7, "0.0")]["all"].words == 232
    ctm = read_ctm(dec / "score_7_0.0" / "test_yesno.ctm")
    assert ctm[0].file == "1_0_0_0_0_0_0_0" and ctm[0].word == "YES" and 0 < ctm[0].duration < 2
    # chain models: 3x the frame shift
    score_decode_dir_sclite(data, lang, dec, ScoreOptions(7, 7, ("0.0",)), ScliteOptions(frame_subsampling_factor=3))
    ctm3 = read_ctm(dec / "score_7_0.0" / "test_yesno.ctm")
    assert abs(ctm3[0].duration - 3 * ctm[0].duration) < 1e-6


def test_falls_back_to_python_scorer_and_says_so(shared_data, tmp_path, monkeypatch, capsys):
    data, lang, dec = yesno_dirs(shared_data, tmp_path)
    monkeypatch.setattr(sclite_dir, "find_sctk_tool", lambda tool: None)
    assert main(["score", "--sclite", "--min-lmwt", "7", "--max-lmwt", "7", "--word-ins-penalty", "0.0",
                 str(data), str(lang), str(dec)]) == 0
    assert "sclite not found (SCTK not installed)" in capsys.readouterr().err
    assert (dec / "score_7_0.0" / "test_yesno.ctm.py.sys").read_text().startswith("| Sum/Avg| 29 232 | 100.0")


def test_missing_stm(shared_data, tmp_path):
    data, lang, dec = yesno_dirs(shared_data, tmp_path)
    (data / "stm").unlink()
    assert main(["score", "--sclite", str(data), str(lang), str(dec)]) == 1
