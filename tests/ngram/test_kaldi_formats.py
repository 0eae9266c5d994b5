"""Kaldi's n-gram files (G.carpa, G.fst) and Kaldi's const-arpa history rule for words the LM lacks."""

import collections
import gzip
import random

import numpy as np
import pytest

from kaldi_mpq.errors import ArpaFormatError
from kaldi_mpq.ngram.arpa import LN10, NgramLM, read_arpa
from kaldi_mpq.ngram.const_arpa import read_const_arpa, write_const_arpa
from kaldi_mpq.ngram.load import load_ngram_lm, ngram_format
from kaldi_mpq.text.symbols import SymbolTable
from tests.ngram.kaldi_reference import KaldiConstArpaReference

WORDS = ["<eps>", "<unk>", "a", "b", "c", "d", "zz", "<s>", "</s>", "#0"]
# a 3-gram with <unk>, back-offs, a bigram without extensions (arpa2fst makes and then drops its state)
ARPA = """\\data\\
ngram 1=7
ngram 2=9
ngram 3=5

\\1-grams:
-99\t<s>\t-0.30
-0.60\t</s>
-1.20\t<unk>\t-0.20
-0.50\ta\t-0.25
-0.70\tb\t-0.15
-0.90\tc\t-0.10
-1.10\td

\\2-grams:
-0.40\t<s> a\t-0.05
-0.80\t<s> b
-0.30\ta b\t-0.12
-0.60\ta </s>
-0.50\tb c\t-0.07
-0.45\tb a
-0.90\tc </s>
-0.70\t<unk> a\t-0.02
-0.35\tc d

\\3-grams:
-0.20\t<s> a b
-0.25\ta b c
-0.15\tb c </s>
-0.33\t<unk> a b
-0.10\t<s> a </s>

\\end\\
"""


@pytest.fixture
def lang(tmp_path):
    (tmp_path / "lm.arpa").write_text(ARPA)
    (tmp_path / "words.txt").write_text("".join(f"{w} {i}\n" for i, w in enumerate(WORDS)))
    return tmp_path, SymbolTable.read(tmp_path / "words.txt", unk="<unk>")


def sentences(symbols, n=300, seed=0, vocab=("a", "b", "c", "d", "zz", "<unk>")):
    rng = random.Random(seed)
    return [[symbols[rng.choice(vocab)] for _ in range(rng.randint(0, 8))] for _ in range(n)]


def costs(lm, sents):
    return np.array([-s.sum() for s in lm.score_sentences(sents)])


def test_const_arpa_round_trip(lang):
    d, sym = lang
    arpa = read_arpa(d / "lm.arpa")
    for offset in (2**30 - 1, 3):  # the second puts most child addresses in the overflow table
        write_const_arpa(arpa, sym, d / "G.carpa", max_address_offset=offset)
        back = read_const_arpa(d / "G.carpa", sym)
        assert back.order == 3
        for mine, theirs in zip(back.ngrams, arpa.ngrams):
            assert mine.keys() == theirs.keys()
            for ng, (p, b) in theirs.items():
                assert mine[ng] == pytest.approx((p, b), rel=1e-6, abs=1e-6)  # float32 natural logs
        sents = sentences(sym)
        assert np.allclose(costs(load_ngram_lm(d / "G.carpa", sym), sents),
                           costs(load_ngram_lm(d / "lm.arpa", sym), sents), atol=1e-5)


def test_kaldi_rule_reproduces_const_arpa(lang):
    d, sym = lang
    write_const_arpa(read_arpa(d / "lm.arpa"), sym, d / "G.carpa")
    ref = KaldiConstArpaReference(d / "G.carpa")
    sents = sentences(sym, 400, seed=1)
    theirs = np.array([ref.sentence_cost(s) for s in sents])
    kaldi = costs(load_ngram_lm(d / "G.carpa", sym), sents)
    assert np.abs(kaldi - theirs).max() < 1e-5
    # keeping <unk> in the history is another LM: "zz a b" is "<unk> a b" (a 3-gram) there
    unk = costs(load_ngram_lm(d / "G.carpa", sym, oov_history="unk"), sents)
    differ = np.abs(unk - theirs) > 1e-3
    assert differ.any() and all(sym["zz"] in s for s, x in zip(sents, differ) if x)
    with pytest.raises(ValueError, match="oov_history"):
        load_ngram_lm(d / "lm.arpa", sym, oov_history="srilm")


def test_rule_is_logged(lang, caplog):
    d, sym = lang
    with caplog.at_level("INFO"):
        load_ngram_lm(d / "lm.arpa", sym)
    assert "restart the history (Kaldi const-arpa rule)" in caplog.text


def arpa2fst(arpa, symbols, path):
    """A G.fst as Kaldi's ``arpa2fst --disambig-symbol=#0`` builds it (ArpaLmCompiler: a state per
    history, highest-order arcs into the tail's state, </s> as final weight, #0:<eps> back-off arcs,
    then states with only a back-off arc removed), written by OpenFst through kaldifst."""
    kaldifst = pytest.importorskip("kaldifst")
    n, disambig = arpa.order, symbols["#0"]
    state, arcs, final, backoff = {(): 0}, collections.defaultdict(list), {}, {}

    def with_backoff(key, bow):
        if key not in state:
            state[key] = len(state)
            tail = key[1:]
            while tail not in state:
                tail = tail[1:]
            backoff[state[key]] = (-bow * LN10, state[tail])
        return state[key]

    start = None
    for k, table in enumerate(arpa.ngrams, 1):
        for ng, (p, b) in table.items():
            key = tuple(symbols[w] for w in ng)
            src = state[key[:-1]]
            if ng[-1] == "</s>":
                final[src] = -p * LN10
            elif ng[-1] == "<s>":
                start = with_backoff(key, b)
            else:
                arcs[src].append((key[-1], -p * LN10, with_backoff(key[1:] if k == n else key, b)))
    # RemoveRedundantStates: a non-final state whose only arc is its back-off is bypassed
    redundant = {s for s, _ in backoff.items() if not arcs[s] and s not in final and s != start}

    def target(s, w):
        while s in redundant:
            w, s = w + backoff[s][0], backoff[s][1]
        return s, w

    keep = [s for s in range(len(state)) if s not in redundant]
    new = {s: i for i, s in enumerate(keep)}
    fst = kaldifst.StdVectorFst()
    for _ in keep:
        fst.add_state()
    fst.start = new[start]
    for s in keep:
        for w, cost, d in arcs[s]:
            d2, c2 = target(d, cost)
            fst.add_arc(state=new[s], arc=kaldifst.StdArc(w, w, c2, new[d2]))
        if s in backoff:
            d2, c2 = target(backoff[s][1], backoff[s][0])
            fst.add_arc(state=new[s], arc=kaldifst.StdArc(disambig, 0, c2, new[d2]))
        if s in final:
            fst.set_final(state=new[s], weight=final[s])
    fst.write(str(path))
    return len(state) - len(keep)


def test_g_fst_scores_as_its_arpa(lang):
    d, sym = lang
    arpa = read_arpa(d / "lm.arpa")
    assert arpa2fst(arpa, sym, d / "G.fst") > 0  # some states were redundant
    assert ngram_format(d / "G.fst") == "fst"
    sents = sentences(sym, 400, seed=2)
    for rule in ("kaldi", "unk"):
        assert np.allclose(costs(load_ngram_lm(d / "G.fst", sym, oov_history=rule), sents),
                           costs(load_ngram_lm(d / "lm.arpa", sym, oov_history=rule), sents), atol=1e-4)


def test_formats_detected_and_words_from_a_path(lang):
    d, sym = lang
    with gzip.open(d / "lm.arpa.gz", "wt") as f:
        f.write(ARPA)
    write_const_arpa(read_arpa(d / "lm.arpa"), sym, d / "lm.bin")
    assert [ngram_format(d / x) for x in ("lm.arpa", "lm.arpa.gz", "lm.bin")] == ["arpa", "arpa", "carpa"]
    sents = sentences(sym, 50)
    want = costs(NgramLM(read_arpa(d / "lm.arpa"), sym), sents)
    for name in ("lm.arpa.gz", "lm.bin"):
        lm = load_ngram_lm(d / name, d / "words.txt")
        assert lm.symbols.unk == "<unk>" and np.allclose(costs(lm, sents), want, atol=1e-5)
    assert np.allclose(costs(load_ngram_lm(d / "lm.bin", sym), sents), want, atol=1e-5)


@pytest.mark.parametrize("cut", [3, 30, 120, -40, -3])
def test_truncated_const_arpa_is_named(lang, cut):
    d, sym = lang
    write_const_arpa(read_arpa(d / "lm.arpa"), sym, d / "G.carpa")
    data = (d / "G.carpa").read_bytes()
    (d / "bad.carpa").write_bytes(data[:cut] if cut > 0 else data[:cut])
    with pytest.raises(ArpaFormatError, match="bad.carpa"):
        load_ngram_lm(d / "bad.carpa", sym)


def test_truncated_fst_is_named(lang):
    d, sym = lang
    arpa2fst(read_arpa(d / "lm.arpa"), sym, d / "G.fst")
    data = (d / "G.fst").read_bytes()
    for cut in (10, 60, len(data) - 5):
        (d / "bad.fst").write_bytes(data[:cut])
        with pytest.raises(ArpaFormatError, match="bad.fst"):
            load_ngram_lm(d / "bad.fst", sym)


def test_tagalog_nbest_lm_costs_match_kaldi_const_arpa(shared_data, tmp_path):
    """The Kaldi rule reproduces ConstArpaLm's costs on every 20-best hypothesis of the Tagalog lattices.

    The first-pass LM of these lattices is not shipped, so the LM is a 3-gram trained on the training
    text with once-seen words as <UNK> (as Kaldi LMs hold <unk>); its G.carpa is written the way
    arpa-to-const-arpa writes it and scored with the transcription of ConstArpaLm."""
    from kaldi_mpq.nbest.lattice_roundtrip import nbest_from_lattice
    from kaldi_mpq.ngram.train import train_arpa
    from kaldi_mpq.scoring.decode_dir import read_decode_lattices
    from kaldi_mpq.scoring.transcripts import read_transcripts

    root = shared_data("kaldi-lattices-tagalog-tri3a")
    sym = SymbolTable.read(root / "data/lang/words.txt", unk="<UNK>")
    text = read_transcripts(root / "data/train/text")
    count = collections.Counter(w for k in text.keys() for w in text.words[k])
    train_arpa((" ".join(w if count[w] > 1 else "<UNK>" for w in text.words[k]) for k in text.keys()),
               tmp_path / "lm.arpa", order=3)
    write_const_arpa(read_arpa(tmp_path / "lm.arpa"), sym, tmp_path / "G.carpa")
    ref = KaldiConstArpaReference(tmp_path / "G.carpa")
    hyps = [e.words for lat in read_decode_lattices(root / "exp/tri3a/decode", sym)
            for e in nbest_from_lattice(lat, 20, 0.1).entries]
    theirs = np.array([ref.sentence_cost(h) for h in hyps])
    assert len(hyps) == 1609  # the distinct 20-best word sequences of the 142 lattices
    for path in ("lm.arpa", "G.carpa"):
        ours = costs(load_ngram_lm(tmp_path / path, sym), hyps)
        assert np.abs(ours - theirs).max() < 1e-3
    unk_rule = costs(load_ngram_lm(tmp_path / "lm.arpa", sym, oov_history="unk"), hyps)
    assert (np.abs(unk_rule - theirs) > 1e-3).sum() > 100  # 884 of 1609 differ, up to 32.5 nats, when measured
