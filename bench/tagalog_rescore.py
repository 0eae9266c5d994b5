"""WER before/after n-best and lattice rescoring on the Tagalog tri3a lattices, tuned on half the utterances.

Usage:
    python bench/tagalog_rescore.py --lm exp/lstm --old-lm old3.arpa [--lattice-weights 0.3,0.5,0.7]

The 142 decoded utterances are split by sorted id into halves A and B. For every system the LM
weight (LMWT, acoustic scale 1/LMWT, 7..17), the word-insertion penalty (0, 0.5, 1) and the
interpolation weight are chosen on A and the WER is reported on B, and the other way round; the sum
of the two held-out error counts over all 5056 words is the honest figure. Systems: the original
lattices; n-best rescoring (N=20) with the old n-gram removed, linear interpolation; n-best rescoring
without removal (log-linear with the graph cost); pruned lattice rescoring with removal.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from pathlib import Path

import numpy as np

from kaldi_mpq.lattice.io import read_lattices
from kaldi_mpq.lattice.rescore import LatticeRescoreConfig, rescore_lattices
from kaldi_mpq.lattice.rescore_dir import load_rescoring_lms
from kaldi_mpq.nbest.lattices import lattice_to_nbest
from kaldi_mpq.nbest.rescore import apply_scores, score_nbest
from kaldi_mpq.parallel import read_num_jobs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "kaldi-lattices-tagalog-tri3a"
LMWTS = range(7, 18)
WIPS = (0.0, 0.5, 1.0)


def errors(ref: list[str], hyp: list[str]) -> int:
    import kaldialign

    return kaldialign.edit_distance(ref, hyp)["total"]


def pick(hyps_by_setting, refs, utts) -> tuple[tuple, int]:
    """The setting with the fewest errors on ``utts`` (first of equals)."""
    best = None
    for setting, hyps in hyps_by_setting.items():
        e = sum(errors(refs[u], hyps[u]) for u in utts)
        if best is None or e < best[1]:
            best = (setting, e)
    return best


def cross_tuned(hyps_by_setting, refs, halves) -> tuple[int, list]:
    """Errors on each half with settings tuned on the other; returns (total errors, chosen settings)."""
    total, chosen = 0, []
    for tune, test in (halves, halves[::-1]):
        setting, _ = pick(hyps_by_setting, refs, tune)
        total += sum(errors(refs[u], hyps_by_setting[setting][u]) for u in test)
        chosen.append(setting)
    return total, chosen


def lattice_hyps(lats, words, extra=()) -> dict:
    out = {}
    for lmwt, wip in itertools.product(LMWTS, WIPS):
        out[extra + (lmwt, wip)] = {
            lat.key: words(lat.best_path(1.0 / lmwt, 1.0, wip).words) for lat in lats if lat is not None
        }
    return out


def nbest_hyps(lists, words, extra=()) -> dict:
    out = {}
    for lmwt, wip in itertools.product(LMWTS, WIPS):
        hyps = {}
        for nb in lists:
            if nb.entries:
                c = [e.graph_cost + e.acoustic_cost / lmwt + wip * len(e.words) for e in nb.entries]
                hyps[nb.key] = words(nb.entries[int(np.argmin(c))].words)
        out[extra + (lmwt, wip)] = hyps
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lm", required=True)
    p.add_argument("--old-lm", required=True)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--weights", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0")
    p.add_argument("--lattice-weights", default="0.3,0.5,0.7")
    p.add_argument("--acwt", type=float, default=0.1)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    dec = DATA / "exp/tri3a/decode"
    lm, old = load_rescoring_lms(args.lm, DATA / "data/lang/words.txt", args.old_lm, device="cpu")
    sym = lm.symbols
    words = lambda ids: [sym.word(i) for i in ids]  # noqa: E731
    refs = {}
    for line in open(dec / "scoring/test_filt.txt"):
        k, *ws = line.split()
        refs[k] = ws
    lats = [lat for j in range(1, read_num_jobs(dec) + 1) for lat in read_lattices(f"ark:{dec}/lat.{j}.gz")]
    keys = sorted(lat.key for lat in lats)
    halves = (keys[0::2], keys[1::2])
    n_words = sum(len(refs[k]) for k in keys)

    def report(name, hyps_by_setting):
        e, chosen = cross_tuned(hyps_by_setting, refs, halves)
        print(f"{name:58s} %WER {100.0 * e / n_words:5.2f} [{e}/{n_words}]  settings A->B, B->A: {chosen}")

    report("baseline (original lattices)", lattice_hyps(lats, words))
    t = time.time()
    lists = [lattice_to_nbest(lat, args.n, args.acwt) for lat in lats]
    t_nb = time.time() - t
    t = time.time()
    scores = score_nbest(lists, lm, old)
    t_sc = time.time() - t
    no_old = score_nbest(lists, lm, None)
    weights = [float(w) for w in args.weights.split(",")]
    report("n-best, weight 0 (old 3-gram put back: identity)",
           nbest_hyps(apply_scores(lists, scores, 0.0, "linear"), words))
    for interp in ("linear", "log-linear"):
        h = {}
        for w in weights:
            h.update(nbest_hyps(apply_scores(lists, scores, w, interp), words, (w,)))
        report(f"n-best N={args.n}, old 3-gram removed, {interp}", h)
    h = {}
    for w in weights:
        h.update(nbest_hyps(apply_scores(lists, no_old, w, "log-linear"), words, (w,)))
    report(f"n-best N={args.n}, no removal, log-linear with graph cost", h)
    print(f"  (n-best extraction {t_nb:.1f} s, LM scoring {t_sc:.1f} s for {len(lats)} utterances)")
    h = {}
    t = time.time()
    for w in [float(x) for x in args.lattice_weights.split(",")]:
        cfg = LatticeRescoreConfig(acwt=args.acwt, weight=w, interpolation="linear")
        h.update(lattice_hyps(rescore_lattices(lats, lm, old, cfg), words, (w,)))
    report("lattice rescoring (4-gram approx., beam 8), old removed, linear", h)
    print(f"  (lattice rescoring {time.time() - t:.1f} s for {len(args.lattice_weights.split(','))} weights)")


if __name__ == "__main__":
    main()
