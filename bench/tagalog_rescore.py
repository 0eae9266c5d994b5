"""A clean LM-rescoring experiment on the Tagalog tri3a lattices: first-pass LM out, honest LMs in.

Usage:
    nice -n 10 python bench/tagalog_rescore.py --work /work/runs/tagalog \\
        --lm lstm=exp/lstm --lm transformer=exp/transformer [--n 20] [--lattice-weights 0.3,0.5,0.7]

The first-pass LM of these lattices was trained on text that contains the 142 test sentences
(``data/train/text`` holds every decoded id), so its contribution in the graph costs knows the answers.
The script

1. trains two kaldingram 3-grams into ``--work`` (unless there): ``all.arpa`` on all of
   ``data/train/text`` (the first-pass-like "old" LM) and ``honest.arpa`` on it minus the test ids;
2. checks the leak: for every 20-best hypothesis, ``graph cost + log P_3gram(words)`` is the non-LM part
   of the graph cost if the 3-gram is the first-pass LM -- its spread (within each utterance) is
   printed for both 3-grams; the smaller one is the closer stand-in for the first-pass LM;
3. rescores with ``all.arpa`` removed and, in its place, the honest 3-gram alone (the honest baseline)
   or its word-level mix with each neural LM (``--lm``, trained without the test ids), by n-best and
   pruned lattice rescoring.

Scoring uses :mod:`kaldi_mpq.scoring` (lattice best paths for LMWT 7..17 x WIP 0/0.5/1 and
``compute-wer`` statistics). The 142 utterances are split by sorted id into halves A and B; every
setting (LMWT, WIP, interpolation weight) is tuned on A and scored on B and the other way round; the
sum of the two held-out error counts is the honest WER. ``best`` is the usual tuned-on-test figure.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from kaldi_mpq.nbest.lattice_roundtrip import nbest_from_lattice, nbest_to_lattice
from kaldi_mpq.nbest.nbest import all_sentences
from kaldi_mpq.nbest.prefix import score_with_prefix_tree
from kaldi_mpq.nbest.rescore import NbestScores, apply_scores, score_nbest
from kaldi_mpq.ngram.load import load_ngram_lm
from kaldi_mpq.ngram.interpolate import combine_logprobs
from kaldi_mpq.ngram.train import train_arpa
from kaldi_mpq.rescoring.decode_dir import read_decode_lattices
from kaldi_mpq.rescoring.lattice_rescore import LatticeRescoreConfig, rescore_lattices
from kaldi_mpq.scoring.kaldi_wer import compute_wer
from kaldi_mpq.scoring.sweep import lattice_hypotheses, tune_on_dev
from kaldi_mpq.scoring.transcripts import Transcripts, read_transcripts
from kaldi_mpq.text.symbols import SymbolTable

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "kaldi-lattices-tagalog-tri3a"
LMWTS = list(range(7, 18))
WIPS = ["0.0", "0.5", "1.0"]


def train_ngrams(work: Path, test_ids: set[str]) -> tuple[Path, Path]:
    """``all.arpa`` (all training text) and ``honest.arpa`` (without ``test_ids``), trained once."""
    text = read_transcripts(DATA / "data/train/text")
    out = []
    for name, keep in (("all", lambda k: True), ("honest", lambda k: k not in test_ids)):
        path = work / f"{name}.arpa"
        if not path.exists():
            train_arpa((" ".join(text.words[k]) for k in text.keys() if keep(k)), path, order=3)
        out.append(path)
    return out[0], out[1]


def leak_check(lists, lms: dict) -> None:
    """Spread of ``graph + log P(words)`` within utterances, per candidate first-pass LM."""
    sents = all_sentences(lists)
    utt = np.repeat(np.arange(len(lists)), [len(nb) for nb in lists])
    graph = np.array([e.graph_cost for nb in lists for e in nb.entries])
    first = np.cumsum([0] + [len(nb) for nb in lists[:-1]])[[len(nb) > 0 for nb in lists]]
    tokens = np.array([len(s) + 1 for s in sents])[first].sum()
    print(f"  1-best hypotheses: graph cost {graph[first].sum() / tokens:.3f} per token (words + </s>)")
    for name, lm in lms.items():
        logp = np.array([s.sum() for s in score_with_prefix_tree(lm, sents)])
        rest = graph + logp
        centred = rest - (np.bincount(utt, rest) / np.bincount(utt))[utt]
        print(f"  graph + log P_{name}: within-utterance std {centred.std():.3f}, "
              f"mean |dev| {np.abs(centred).mean():.3f} over {len(sents)} hypotheses; "
              f"1-best -log P_{name} {-logp[first].sum() / tokens:.3f} per token")


class Scorer:
    """Honest (cross-half) and tuned-on-test WER of systems given as lattices per extra setting."""

    def __init__(self, ref: Transcripts, symbols: SymbolTable, keys: list[str]):
        self.ref, self.symbols = ref, symbols
        self.halves = (keys[0::2], keys[1::2])
        self.n_words = sum(len(ref.words[k]) for k in keys)

    def stats(self, hyps: dict, keys: list[str]) -> dict:
        ref = Transcripts({k: self.ref.words[k] for k in keys}, self.ref.source)
        return {s: compute_wer(ref, Transcripts({k: h[k] for k in keys if k in h})) for s, h in hyps.items()}

    def report(self, name: str, systems: dict) -> None:
        """``systems``: ``{extra setting: lattices}``; prints one results row."""
        hyps = {}
        for extra, lats in systems.items():
            for (lmwt, wip), h in lattice_hypotheses([x for x in lats if x is not None], self.symbols, LMWTS, WIPS).items():
                hyps[(*extra, lmwt, wip)] = h
        a, b = (self.stats(hyps, half) for half in self.halves)
        ab, ba = tune_on_dev(a, b), tune_on_dev(b, a)
        held_out = b[ab["setting"]].errors + a[ba["setting"]].errors
        full = self.stats(hyps, self.halves[0] + self.halves[1])
        best = min(full, key=lambda s: full[s].wer)
        print(f"| {name} | {100.0 * held_out / self.n_words:.2f} [{held_out}/{self.n_words}] | "
              f"{full[best].wer:.2f} | {ab['setting']} / {ba['setting']} |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", required=True, type=Path, help="where the 3-grams are trained/kept")
    p.add_argument("--lm", action="append", default=[], help="NAME=checkpoint dir (repeatable)")
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--acwt", type=float, default=0.1)
    p.add_argument("--weights", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9")
    p.add_argument("--lattice-weights", default="0.3,0.5,0.7")
    p.add_argument("--lattice-beam", type=float, default=LatticeRescoreConfig.beam)
    p.add_argument("--skip-nbest", action="store_true", help="only the lattice-rescoring rows")
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    from kaldi_mpq.lm_loading import load_lm

    dec = DATA / "exp/tri3a/decode"
    symbols = SymbolTable.read(DATA / "data/lang/words.txt", unk="<UNK>")
    ref = read_transcripts(dec / "scoring/test_filt.txt")
    lats = read_decode_lattices(dec, symbols)
    args.work.mkdir(parents=True, exist_ok=True)
    all_path, honest_path = train_ngrams(args.work, set(ref.keys()))
    old, honest = load_ngram_lm(all_path, symbols), load_ngram_lm(honest_path, symbols)
    neural = {name: load_lm(path, words=DATA / "data/lang/words.txt", device="cpu")
              for name, path in (x.split("=", 1) for x in args.lm)}
    lists = [nbest_from_lattice(lat, args.n, args.acwt) for lat in lats]
    print(f"leak check ({args.n}-best at acwt {args.acwt}):")
    leak_check(lists, {"3gram_all": old, "3gram_without_test": honest})

    scorer = Scorer(ref, symbols, sorted(lat.key for lat in lats))
    print("\n| system | honest %WER (A->B + B->A) | best %WER (tuned on test) | settings A->B / B->A |")
    print("|---|---|---|---|")
    scorer.report("original lattices", {(): lats})
    if not args.skip_nbest:
        nbest_rows(scorer, lists, old, honest, neural, args)
    lattice_rows(scorer, lats, old, honest, neural, args)


def nbest_rows(scorer, lists, old, honest, neural, args) -> None:
    base = score_nbest(lists, honest, old)  # .lm: honest 3-gram, .old: all-text 3-gram
    as_lattices = lambda nbs: [nbest_to_lattice(nb) for nb in nbs]  # noqa: E731
    scorer.report(f"{args.n}-best, all-text 3-gram put back (identity)",
                  {(): as_lattices(apply_scores(lists, NbestScores(base.old, base.old), 1.0, "linear"))})
    scorer.report(f"{args.n}-best, all-text 3-gram -> honest 3-gram",
                  {(): as_lattices(apply_scores(lists, base, 1.0, "linear"))})
    weights = [float(w) for w in args.weights.split(",")]
    for name, lm in neural.items():
        t = time.perf_counter()
        nn = score_nbest(lists, lm).lm
        t_nn = time.perf_counter() - t
        for interp in ("linear", "log-linear"):
            systems = {}
            for w in weights:
                mixed = [combine_logprobs(a, b, w, interp) for a, b in zip(nn, base.lm)]
                systems[(w,)] = as_lattices(apply_scores(lists, NbestScores(mixed, base.old), 1.0, "linear"))
            scorer.report(f"{args.n}-best, all-text 3-gram -> {name} + honest 3-gram, {interp}", systems)
        print(f"  ({name}: {len(all_sentences(lists))} hypotheses scored in {t_nn:.1f} s)")


def lattice_rows(scorer, lats, old, honest, neural, args) -> None:
    cfg = LatticeRescoreConfig(acwt=args.acwt, weight=1.0, interpolation="linear", beam=args.lattice_beam)
    scorer.report(f"lattice (beam {args.lattice_beam:g}), all-text 3-gram -> honest 3-gram", {(): rescore_lattices(lats, honest, old, cfg)})
    for name, lm in neural.items():
        t = time.perf_counter()
        systems = {}
        for w in (float(x) for x in args.lattice_weights.split(",")):
            c = LatticeRescoreConfig(acwt=args.acwt, weight=w, interpolation="linear", beam=args.lattice_beam)
            systems[(w,)] = rescore_lattices(lats, lm, old, c, ngram_lm=honest)
        scorer.report(f"lattice (4-gram approx., beam {args.lattice_beam:g}), all-text 3-gram -> {name} + honest 3-gram, "
                      "linear", systems)
        print(f"  ({name}: lattice rescoring {time.perf_counter() - t:.1f} s for {len(systems)} weights)")


if __name__ == "__main__":
    main()
