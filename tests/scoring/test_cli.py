from kaldi_mpq import cli


def test_compute_wer_cli(tmp_path, capsys):
    (tmp_path / "ref").write_text("a X Y [noise]\nb Z\n")
    (tmp_path / "hyp").write_text("a X W\n")
    rc = cli.main(["compute-wer", "--text", "--mode=present", "--ref-filter", "noise",
                   f"ark:{tmp_path / 'ref'}", f"ark,p:{tmp_path / 'hyp'}"])
    assert rc == 0
    assert capsys.readouterr().out == (
        "%WER 50.00 [ 1 / 2, 0 ins, 0 del, 1 sub ] [PARTIAL]\n%SER 100.00 [ 1 / 1 ]\n"
        "Scored 1 sentences, 1 not present in hyp.\n"
    )
    assert cli.main(["compute-wer", "--text", str(tmp_path / "ref"), str(tmp_path / "hyp")]) == 1
    assert "no hypothesis for 'b'" in capsys.readouterr().err
