"""Benchmark: read + topological sort + best path over the tagalog lattices replicated to >= 100k arcs.

Prints arcs/s for our reader alone, for read + best path (batched PathSearch, acoustic scale 1/10), and
for reading the same archive as raw bytes (what a kaldiio-style byte reader must at least do), in the
same process, plus their ratios; the median and the best wall time of ``--repeats`` runs of each, and
the median CPU time of the process (the fair figure on a shared machine). Lattices read in bulk
decode their alignment strings on first use: the "+ alignments" row touches them all. Single
process; run it on one core with ``OMP_NUM_THREADS=1``.

Usage:
    OMP_NUM_THREADS=1 python bench/lattice_io.py [--copies 14] [--repeats 7] [--shared-data ../shared/data]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from pathlib import Path

from kaldi_mpq.lattice import PathSearch, read_lattices

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--copies", type=int, default=14, help="times the 142 lattices are repeated")
    p.add_argument("--repeats", type=int, default=7, help="timed runs; median and best are reported")
    p.add_argument("--shared-data", default=str(HERE.parent.parent / "shared" / "data"))
    args = p.parse_args()
    decode = Path(args.shared_data) / "kaldi-lattices-tagalog-tri3a" / "exp" / "tri3a" / "decode"
    raw = b"".join(gzip.open(f).read() for f in sorted(decode.glob("lat.*.gz")))
    with tempfile.TemporaryDirectory() as tmp:
        ark = Path(tmp) / "lat.ark"
        ark.write_bytes(raw * args.copies)
        gz = Path(tmp) / "lat.ark.gz"
        gz.write_bytes(gzip.compress(raw * args.copies, compresslevel=6))
        arcs = sum(lat.num_arcs for lat in read_lattices(f"ark:{ark}"))

        def bytes_only():
            with open(ark, "rb") as f:
                while f.read(1 << 20):
                    pass

        def gunzip_only():
            with gzip.open(gz, "rb") as f:
                while f.read(1 << 20):
                    pass

        def read_only():
            for _ in read_lattices(f"ark:{ark}"):
                pass

        def read_alignments():
            for lat in read_lattices(f"ark:{ark}"):
                lat.ali_data

        def read_best(spec=f"ark:{ark}"):
            batch = []
            for lat in read_lattices(spec):
                batch.append(lat)
                if len(batch) == 256:
                    PathSearch(batch).best_paths(0.1)
                    batch = []
            PathSearch(batch).best_paths(0.1)

        def timed(fn):
            wall, cpu = [], []
            for _ in range(args.repeats):
                t, c = time.perf_counter(), time.process_time()
                fn()
                wall.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            return statistics.median(wall), min(wall), statistics.median(cpu)

        results = {
            "raw bytes (uncompressed file)": timed(bytes_only),
            "raw bytes (gunzip)": timed(gunzip_only),
            "ours: read + topsort": timed(read_only),
            "ours: read + topsort + alignments": timed(read_alignments),
            "ours: read + topsort + best path": timed(read_best),
            "ours: read .gz + topsort + best path": timed(lambda: read_best(f"ark:{gz}")),
        }
    print(f"{arcs} arcs, {len(raw) * args.copies / 1e6:.1f} MB uncompressed, {142 * args.copies} lattices; "
          f"median (best) wall time of {args.repeats} runs, and median CPU time of this process")
    base = results["raw bytes (uncompressed file)"][0]
    for name, (med, best, cpu) in results.items():
        print(f"{name:37s} {med * 1e3:6.1f} ({best * 1e3:6.1f}) ms {arcs / med / 1e6:6.2f} ({arcs / best / 1e6:6.2f}) "
              f"M arcs/s {med / base:6.1f}x raw bytes | cpu {cpu * 1e3:6.1f} ms {arcs / cpu / 1e6:6.2f} M arcs/s")

if __name__ == "__main__":
    main()
