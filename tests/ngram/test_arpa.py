"""ARPA reading and NgramLM scoring against a brute-force reading of the same file."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest

from kaldi_mpq.errors import ArpaFormatError
from kaldi_mpq.ngram.arpa import NgramLM, read_arpa
from kaldi_mpq.ngram.load import load_ngram_lm
from kaldi_mpq.ngram.train import train_arpa
from kaldi_mpq.text.symbols import SymbolTable

VOCAB = "a b c d e f g h".split()


def random_corpus(rng: np.random.Generator, n: int = 300) -> list[str]:
    """Sentences from a random bigram chain, so higher-order n-grams are sparse but present."""
    trans = rng.dirichlet(np.full(len(VOCAB), 0.3), size=len(VOCAB))
    out = []
    for _ in range(n):
        w = rng.integers(len(VOCAB))
        words = [VOCAB[w]]
        for _ in range(rng.integers(0, 7)):
            w = rng.choice(len(VOCAB), p=trans[w])
            words.append(VOCAB[w])
        out.append(" ".join(words))
    return out


def brute_force_logprob(arpa_path, words: list[str]) -> float:
    """Sum of natural-log P over words + </s>, by the textbook back-off recursion on full histories."""
    table = {}
    order = 0
    with open(arpa_path) as f:
        k = 0
        for line in f:
            s = line.split()
            if line.startswith("\\") and line.strip().endswith("-grams:"):
                k = int(line.strip()[1:].split("-")[0])
                order = max(order, k)
                continue
            if k and len(s) >= k + 1:
                table[tuple(s[1 : k + 1])] = (float(s[0]), float(s[k + 1]) if len(s) == k + 2 else 0.0)

    def p(hist: tuple, w: str) -> float:
        if (hist + (w,)) in table:
            return table[hist + (w,)][0]
        if not hist:
            if ("<unk>",) in table:
                return table[("<unk>",)][0]
            return min(v[0] for k, v in table.items() if len(k) == 1 and k != ("<s>",))
        bow = table[hist][1] if hist in table else 0.0
        return bow + p(hist[1:], w)

    seq = ["<s>"] + words + ["</s>"]
    total = 0.0
    for i in range(1, len(seq)):
        w = seq[i] if (seq[i],) in table else "<unk>"
        total += p(tuple(seq[max(0, i - order + 1) : i]), w)
    return total * math.log(10)


@pytest.fixture(scope="module", params=[2, 3, 4])
def lm_and_path(request, tmp_path_factory):
    rng = np.random.default_rng(request.param)
    path = tmp_path_factory.mktemp("arpa") / f"lm{request.param}.arpa"
    train_arpa(random_corpus(rng), path, order=request.param)
    symbols = SymbolTable.from_words(VOCAB + ["zz"])  # zz: in words.txt, not in the ARPA
    return load_ngram_lm(path, symbols), path


def test_matches_brute_force(lm_and_path):
    lm, path = lm_and_path
    rng = np.random.default_rng(7)
    words = VOCAB + ["zz"]
    sents = [[words[i] for i in rng.integers(0, len(words), rng.integers(0, 9))] for _ in range(200)]
    ids = [lm.symbols.ids(s) for s in sents]
    scores = lm.score_sentences(ids)
    for s, sc in zip(sents, scores):
        assert len(sc) == len(s) + 1
        ref = brute_force_logprob(path, s)
        assert abs(sc.sum() - ref) < 1e-6, (s, sc.sum(), ref)
    assert lm.num_missing_words == 2  # zz and <unk> itself


def test_equal_states_mean_equal_futures(lm_and_path):
    lm, _ = lm_and_path
    ids = np.array(lm.symbols.ids(VOCAB), dtype=np.int64)
    states = lm.initial_state(len(ids))
    _, s1 = lm.advance(states, ids)
    _, s2 = lm.advance(s1, ids[::-1].copy())
    # from every reached state, the next-word scores depend only on the state id
    all_states = np.concatenate([s1, s2])
    for w in ids:
        lp, _ = lm.advance(all_states, np.full(all_states.size, w))
        for st in np.unique(all_states):
            assert np.ptp(lp[all_states == st]) == 0.0
    assert lm.select_states(all_states, [0, 0]).tolist() == [all_states[0]] * 2
    assert lm.concat_states([s1, s2]).tolist() == all_states.tolist()


def test_gzip_and_unk(tmp_path):
    text = "\\data\\\nngram 1=4\nngram 2=1\n\n\\1-grams:\n-1.0\t<s>\t-0.5\n-0.5\ta\n-0.7\t</s>\n-2.0\t<unk>\n\n" \
           "\\2-grams:\n-0.1\t<s> a\n\n\\end\\\n"
    gz = tmp_path / "lm.arpa.gz"
    with gzip.open(gz, "wt") as f:
        f.write(text)
    lm = load_ngram_lm(gz, SymbolTable.from_words(["a", "b"]))
    lp = lm.score_sentences([lm.symbols.ids(["a", "b"])])[0]
    ln10 = math.log(10)
    # a after <s>: listed bigram; b: unk via backoff from 'a' (no bow) -> -2.0; </s> from 'b'-state root
    np.testing.assert_allclose(lp, [-0.1 * ln10, -2.0 * ln10, -0.7 * ln10])
    lp2 = lm.score_sentences([lm.symbols.ids(["b"])])[0]
    np.testing.assert_allclose(lp2, [(-0.5 - 2.0) * ln10, -0.7 * ln10])


@pytest.mark.parametrize(
    "body, message",
    [
        ("ngram 1=2\n\\1-grams:\n-1 <s>\n-1 </s>\n", "without"),
        ("ngram 1=3\n\\1-grams:\n-1 <s>\n-1 </s>\n\\end\\\n", "ngram 1=3 but the section has 2"),
        ("ngram 1=2\n\\1-grams:\n-1 <s>\nxx </s>\n\\end\\\n", ":5: bad number"),
        ("ngram 1=2\n\\2-grams:\n", "expected the \\1-grams: section"),
        ("ngram 1=2\nngram 2=1\n\\1-grams:\n-1 <s>\n-1 </s>\n\\end\\\n", "announces 2-grams"),
        ("ngram 1=2\n\\1-grams:\n-1 <s> a b\n-1 </s>\n\\end\\\n", ":4: expected 'log10p"),
        ("ngram 1=1\n\\1-grams:\n-1 <s>\n\\end\\\n", "</s> is not among"),
    ],
)
def test_format_errors(tmp_path, body, message):
    path = tmp_path / "bad.arpa"
    path.write_text("\\data\\\n" + body)
    with pytest.raises(ArpaFormatError, match=str(path) + ".*" + __import__("re").escape(message)):
        read_arpa(path)


def test_missing_header(tmp_path):
    path = tmp_path / "bad.arpa"
    path.write_text("ngram 1=2\n")
    with pytest.raises(ArpaFormatError, match=r"bad.arpa:1: expected '\\data\\'"):
        read_arpa(path)
    with pytest.raises(ArpaFormatError, match="no such ARPA"):
        read_arpa(tmp_path / "nope.arpa")


def test_eval_lm_gives_an_arpa_perplexity(lm_and_path, tmp_path, capsys):
    """kaldi-mpq eval-lm on an ARPA file: the sentence-mode perplexity of the brute-force log-probs, the
    same token count as for a neural LM (words + </s>); stream mode is refused with the file's name."""
    import json

    from kaldi_mpq.cli import main

    lm, path = lm_and_path
    sents = ["a b c", "d e", "h g f a", "zz a"]
    (tmp_path / "t.txt").write_text("\n".join(sents) + "\n")
    (tmp_path / "words.txt").write_text("".join(f"{w} {i}\n" for w, i in lm.symbols.id_of.items()))
    capsys.readouterr()
    assert main(["eval-lm", "--lm", str(path), "--words", str(tmp_path / "words.txt"), "--text",
                 str(tmp_path / "t.txt"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    total = sum(brute_force_logprob(path, s.split()) for s in sents)
    tokens = sum(len(s.split()) + 1 for s in sents)
    assert r["type"] == "ngram" and r["tokens"] == tokens
    assert abs(r["ppl"] - math.exp(-total / tokens)) < 1e-3 * r["ppl"]
    assert main(["eval-lm", "--lm", str(path), "--words", str(tmp_path / "words.txt"), "--text",
                 str(tmp_path / "t.txt"), "--mode", "stream"]) != 0
    assert "sentence mode only" in capsys.readouterr().err
