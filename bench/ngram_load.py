"""N-gram LM load time: reading an ARPA and building its tables vs loading them from the n-gram cache.

Usage (data/ami_mini's first-pass 3-gram, as recipes/ami_mini stage 0 builds it):
    kaldi-mpq prepare-text --format raw --normalize ami \\
        $(sed 's|.*|data/ami/transcripts/&.transcript.txt|' data/ami/lists/train.txt) --out /tmp/train.txt
    kaldi-mpq train-ngram --text /tmp/train.txt --order 3 --words data/ami_mini/lang/words.txt \\
        --unk '<UNK>' --out /tmp/lm3.arpa.gz
    OMP_NUM_THREADS=1 python bench/ngram_load.py --lm /tmp/lm3.arpa.gz --words data/ami_mini/lang/words.txt

Both paths go through :func:`kaldi_mpq.ngram.load.load_ngram_lm` in this one process, alternately ``--runs``
times (the cached one includes hashing the LM file and words.txt for the key); the script checks that the
two LMs score random word batches identically and prints the median seconds of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

from kaldi_mpq.ngram.load import load_ngram_lm
from kaldi_mpq.text.symbols import SymbolTable


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm", required=True, help="n-gram LM (ARPA, .gz, G.fst, G.carpa)")
    ap.add_argument("--words", required=True, help="the lang dir's words.txt")
    ap.add_argument("--unk", default="<UNK>", help="unk symbol of words.txt")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    symbols = SymbolTable.read(args.words, unk=args.unk)
    built_s, cached_s = [], []
    with tempfile.TemporaryDirectory() as cache:
        load_ngram_lm(args.lm, symbols, cache_dir=cache)  # fills the cache
        for _ in range(args.runs):
            t = time.perf_counter()
            built = load_ngram_lm(args.lm, symbols)
            built_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            cached = load_ngram_lm(args.lm, symbols, cache_dir=cache)
            cached_s.append(time.perf_counter() - t)
    rng = np.random.default_rng(0)
    ids = np.array(sorted(symbols.id_of.values()), dtype=np.int64)
    sa, sb = built.initial_state(4096), cached.initial_state(4096)
    for _ in range(20):
        words = rng.choice(ids, size=4096)
        (la, sa), (lb, sb) = built.advance(sa, words), cached.advance(sb, words)
        if not (np.array_equal(la, lb) and np.array_equal(sa, sb)):
            raise SystemExit("cached LM scores differ from the built one")
    b, c = statistics.median(built_s), statistics.median(cached_s)
    print(f"{args.lm}: {built.order}-gram, {built.num_states} states, {built._keys.size} n-grams; "
          f"{args.runs} runs, medians")
    print(f"read + build: {b:.3f} s   cache load: {c:.3f} s   ratio {b / c:.1f}x")


if __name__ == "__main__":
    main()
