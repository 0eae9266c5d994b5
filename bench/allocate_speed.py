#!/usr/bin/env python
"""Time of the exact bit allocation on random problems (default 100 clusters x 5 bit-widths).

    python bench/allocate_speed.py                       # dp and ilp, 2.0 average bits and an MB budget
    python bench/allocate_speed.py --clusters 300 --repeats 5

Prints the median wall time per solve and the criterion "under 1 s"; both solvers must give the same
summed sensitivity (they are both exact).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from kaldi_mpq.quant.allocate import allocate, pareto_front
from kaldi_mpq.quant.plan import Plan
from kaldi_mpq.quant.sensitivity import SensitivityTable


def random_table(clusters: int, bits: tuple[int, ...], seed: int) -> SensitivityTable:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1_000, 2_000_000, clusters)
    base = rng.lognormal(0, 2, clusters)[:, None]
    err = 4.0 ** -np.arange(len(bits))[None, :]  # error power falls ~4x per extra bit
    values = base * err * rng.uniform(0.5, 1.5, (clusters, len(bits)))
    return SensitivityTable("kl", [f"c{i}" for i in range(clusters)], bits, values, sizes, 10_000, Plan.uniform(None))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clusters", type=int, default=100)
    ap.add_argument("--bits", default="1,2,4,8,16")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    bits = tuple(int(b) for b in args.bits.split(","))
    print(f"{args.clusters} clusters x {len(bits)} bit-widths {bits}, {args.repeats} random problems")
    worst = 0.0  # of the default solver (dp)
    for kind, budget in (("avg_bits", 2.0), ("mb", None)):
        for solver in ("dp", "ilp"):
            times, sens = [], []
            for r in range(args.repeats):
                table = random_table(args.clusters, bits, r)
                b = budget if budget is not None else 2.5 * table.sizes.sum() / 8 / 1e6  # ~2.5 bits in MB
                t0 = time.perf_counter()
                a = allocate(table, b, kind, solver)
                times.append(time.perf_counter() - t0)
                sens.append(a.sensitivity)
            med = statistics.median(times)
            if solver == "dp":
                worst = max(worst, med)
            print(f"{kind:9s} {solver:4s} median {med * 1000:8.1f} ms  max {max(times) * 1000:8.1f} ms  "
                  f"summed sensitivity {np.mean(sens):.6g}")
    t0 = time.perf_counter()
    front = pareto_front(random_table(args.clusters, bits, 0), "mb")
    print(f"whole Pareto front (mb): {len(front)} plans in {time.perf_counter() - t0:.2f} s")
    print(f"criterion one solve (dp, the default) under 1 s: {worst:.3f} s -> {'met' if worst < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
