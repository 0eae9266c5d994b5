"""N-best and lattice rescoring speed: our prefix-tree batching vs a per-utterance reference loop.

Usage:
    OMP_NUM_THREADS=1 python bench/rescore_speed.py --runs 5        # random 2x200 LSTM, one thread
    python bench/rescore_speed.py --lm exp/lstm --n 20 --kind lstm --threads 2
    python bench/rescore_speed.py --sharing 10,20,50,100,200,500   # the bound: tokens / prefix-tree nodes

Reference loop: one utterance's N hypotheses per batch, no prefix sharing -- how Kaldi's
``steps/pytorchnn/compute_sentence_scores.py`` scores n-best lists -- using the LM's own batched
``score_sentences``. Ours: :func:`kaldi_mpq.nbest.prefix.score_with_prefix_tree` over all utterances at
once. Both run here, on the same model and hypotheses, alternately ``--runs`` times; the script checks
that the scores agree (max abs diff <= 1e-4) and prints the median words/s and the ratio of medians. Then lattice rescoring words/s (words on the
input lattices' arcs) and the peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import numpy as np

from kaldi_mpq.lattice.io import read_lattices
from kaldi_mpq.nbest.lattice_roundtrip import nbest_from_lattice
from kaldi_mpq.nbest.nbest import all_sentences
from kaldi_mpq.nbest.prefix import Trie, score_with_prefix_tree
from kaldi_mpq.rescoring.decode_dir import job_list, job_path, read_num_jobs
from kaldi_mpq.rescoring.lattice_rescore import LatticeRescoreConfig, rescore_lattices
from kaldi_mpq.text.symbols import SymbolTable

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "kaldi-lattices-tagalog-tri3a"


def load(args):
    if args.lm:
        from kaldi_mpq.lm_loading import load_lm

        return load_lm(args.lm, words=DATA / "data/lang/words.txt", device="cpu")
    from kaldi_mpq.testing.lm import tiny_lm

    symbols = SymbolTable.read(DATA / "data/lang/words.txt", unk="<UNK>")
    size = {"embed_dim": 200, "hidden_dim": 200} if args.kind == "lstm" else {"d_model": 128, "ff_dim": 512}
    return tiny_lm(args.kind, symbols=symbols, **size)


def read_tagalog_lattices():
    dec = DATA / "exp/tri3a/decode"
    return [lat for j in job_list(read_num_jobs(dec)) for lat in read_lattices(f"ark:{job_path(dec, j)}")]


def sharing_bound(ns, acwt: float) -> None:
    """Per N: hypotheses, scored tokens, prefix-tree nodes and their ratio (each node costs one LM step
    and one output layer, each reference token the same)."""
    lats = read_tagalog_lattices()
    print("| N | hypotheses | scored tokens | prefix-tree nodes | bound (tokens / nodes) |")
    print("|---|---|---|---|---|")
    for n in ns:
        sents = all_sentences([nbest_from_lattice(lat, n, acwt) for lat in lats])
        tokens = sum(len(s) + 1 for s in sents)
        nodes = Trie(sorted(sents)).num_nodes - 1
        print(f"| {n} | {len(sents):,} | {tokens:,} | {nodes:,} | {tokens / nodes:.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lm", help="checkpoint dir (default: a random 2x200 LSTM / small Transformer)")
    p.add_argument("--kind", default="lstm", choices=["lstm", "transformer"])
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--acwt", type=float, default=0.1)
    p.add_argument("--repeat", type=int, default=1, help="replicate the utterances (a bigger test set)")
    p.add_argument("--runs", type=int, default=3, help="timed runs of each method (medians reported)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--sharing", help="only count, for these comma-separated N, scored tokens against prefix-tree "
                   "nodes: the bound of the speed-up on one thread (no LM runs)")
    args = p.parse_args()
    if args.sharing:
        sharing_bound([int(n) for n in args.sharing.split(",")], args.acwt)
        return
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    lm = load(args)
    lats = read_tagalog_lattices()
    lists = [nbest_from_lattice(lat, args.n, args.acwt) for lat in lats] * args.repeat
    sents = all_sentences(lists)
    n_words = sum(len(s) + 1 for s in sents)

    def reference():
        out = []
        for nb in lists:  # one utterance per batch
            out.extend(lm.score_sentences([e.words for e in nb.entries]))
        return out

    t_ref, t_ours = [], []
    for _ in range(max(1, args.runs)):
        t = time.perf_counter()
        ref = reference()
        t_ref.append(time.perf_counter() - t)
        t = time.perf_counter()
        ours = score_with_prefix_tree(lm, sents)
        t_ours.append(time.perf_counter() - t)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ours, ref))
    padded = sum(len(nb.entries) * (max(len(e.words) for e in nb.entries) + 1) for nb in lists if nb.entries)
    nodes = Trie(sorted(sents)).num_nodes - 1
    print(f"n-best: {len(lists)} utterances, {len(sents)} hypotheses, {n_words} scored tokens (N={args.n}), "
          f"{padded} padded in the reference, {nodes} prefix-tree nodes")
    mr, mo = statistics.median(t_ref), statistics.median(t_ours)
    print(f"  reference per-utterance loop: {n_words / mr:10.0f} words/s (median {mr:.2f} s of {[round(x, 2) for x in t_ref]})")
    print(f"  prefix tree, all utterances : {n_words / mo:10.0f} words/s (median {mo:.2f} s of {[round(x, 2) for x in t_ours]})")
    print(f"  speed-up {mr / mo:.2f}x, max abs score difference {diff:.2e} ({'OK' if diff <= 1e-4 else 'FAIL'})")

    arcs_words = sum(int((lat.word != 0).sum()) for lat in lats)
    t = time.perf_counter()
    out = rescore_lattices(lats, lm, None, LatticeRescoreConfig(weight=0.5, interpolation="log-linear"))
    t_lat = time.perf_counter() - t
    out_arcs = sum(x.num_arcs for x in out if x is not None)
    print(f"lattice rescoring: {len(lats)} lattices, {arcs_words} word arcs in, {out_arcs} arcs out")
    print(f"  {arcs_words / t_lat:10.0f} input words/s ({t_lat:.2f} s)")
    print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
