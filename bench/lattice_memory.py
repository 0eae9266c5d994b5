"""Peak memory of lattice rescoring and n-best extraction on the largest real lattice we have.

Finds the lattice with the most arcs in the Kaldi decode dirs under ``--shared-data`` (the tagalog tri3a,
digits and yes/no decodes), writes it as a one-lattice decode dir, and runs in fresh processes, each
one thread:

* ``baseline``: importing kaldi-mpq's rescoring and torch, nothing else;
* ``lattice-rescore``: ``kaldi-mpq lattice-rescore`` with a tiny random LSTM (16 x 16) over the lang's
  words, ``--max-arcs`` as given;
* ``nbest-rescore``: ``kaldi-mpq nbest-rescore --n`` as given, same LM;
* ``nbest``: :meth:`Lattice.nbest` of the lattice alone (``--nbest-n`` paths).

For each: peak resident memory (``VmHWM``) and peak virtual size (``VmPeak``, what ``RLIMIT_AS``
limits), in MiB, and the peak minus the baseline. tests/rescoring/test_memory_bound.py holds the
commands to the bound stated in docs/rescoring.md.

Usage:
    OMP_NUM_THREADS=1 python bench/lattice_memory.py [--max-arcs 1000] [--n 100] [--nbest-n 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DECODE_DIRS = ("kaldi-lattices-tagalog-tri3a", "kaldi-lattices-digits-fsdd", "kaldi-lattices-yesno")

# Run in the child: the work, then its peaks as one JSON line.
CHILD = r"""
import json, sys
what, arg = sys.argv[1], sys.argv[2:]
if what == "baseline":
    import torch, kaldi_mpq.rescoring.lattice_rescore, kaldi_mpq.nbest.rescore  # noqa: F401
elif what == "nbest":
    from kaldi_mpq.lattice.io import read_lattices
    (lat,) = read_lattices(arg[0])
    paths = lat.nbest(int(arg[1]), acoustic_scale=0.1)
    print(len(paths), "paths", file=sys.stderr)
else:
    from kaldi_mpq import cli
    rc = cli.main(arg)
    if rc:
        sys.exit(rc)
status = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(("VmPeak", "VmHWM"))}
print(json.dumps({"rss_mib": status["VmHWM"] / 1024, "vm_mib": status["VmPeak"] / 1024}))
"""


def largest_lattice(shared: Path):
    """``(lattice, words.txt of its lang dir)`` of the lattice with the most arcs."""
    from kaldi_mpq.lattice.io import read_lattices

    best = None
    for name in DECODE_DIRS:
        root = shared / name
        for f in sorted(root.glob("exp/*/*/lat.*.gz")):
            words = next(iter(sorted(root.glob("data/lang*/words.txt"))), None)
            for lat in read_lattices(f"ark:{f}"):
                if best is None or lat.num_arcs > best[0].num_arcs:
                    best = (lat, words, f)
    if best is None:
        sys.exit(f"no Kaldi lattices under {shared}")
    return best


def prepare(shared: Path, work: Path) -> tuple[Path, Path, Path, str]:
    """A one-lattice decode dir, the lang's words.txt and a tiny LM over it; the lattice's description."""
    from kaldi_mpq.lattice.io import write_lattices
    from kaldi_mpq.testing.lm import tiny_checkpoint
    from kaldi_mpq.text.symbols import SymbolTable

    lat, words, source = largest_lattice(shared)
    dec = work / "decode"
    dec.mkdir()
    write_lattices(f"ark:{dec}/lat.1.gz", [lat])
    (dec / "num_jobs").write_text("1\n")
    symbols = SymbolTable.read(words, unk=None)
    tiny_checkpoint(work / "lm", "lstm", symbols)
    return dec, words, work / "lm", f"{lat.key} of {source}: {lat.num_states} states, {lat.num_arcs} arcs"


def measure(what: str, *args: str, limit_as: int = 0) -> dict:
    """Run one child (under an ``RLIMIT_AS`` of ``limit_as`` bytes, if given) and return its peaks."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MALLOC_ARENA_MAX="2")
    code = CHILD
    if limit_as:
        code = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({limit_as}, {limit_as}))\n" + CHILD
    r = subprocess.run([sys.executable, "-c", code, what, *args], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        label = args[0] if what == "cli" else what
        raise RuntimeError(f"{label} failed ({r.returncode}): {r.stderr.strip().splitlines()[-3:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def commands(dec: Path, words: Path, lm: Path, out: Path, max_arcs: int, n: int, nbest_n: int) -> dict:
    """The measured runs: name -> child arguments."""
    common = ["--lm", str(lm), "--words", str(words), "--device", "cpu", "--acwt", "0.1"]
    return {
        "baseline": ["baseline"],
        "lattice-rescore": ["cli", "lattice-rescore", *common, "--max-arcs", str(max_arcs), str(dec),
                            str(out / "lattice")],
        "nbest-rescore": ["cli", "nbest-rescore", *common, "--n", str(n), str(dec), str(out / "nbest")],
        "nbest": ["nbest", f"ark:{dec}/lat.1.gz", str(nbest_n)],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared-data", default=str(HERE.parent.parent / "shared" / "data"))
    p.add_argument("--max-arcs", type=int, default=1000, help="lattice-rescore --max-arcs")
    p.add_argument("--n", type=int, default=100, help="nbest-rescore --n")
    p.add_argument("--nbest-n", type=int, default=10000, help="paths asked of Lattice.nbest")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dec, words, lm, what = prepare(Path(args.shared_data), Path(tmp))
        print(f"largest lattice: {what}")
        runs = commands(dec, words, lm, Path(tmp), args.max_arcs, args.n, args.nbest_n)
        base = None
        print("| run | peak RSS (MiB) | over baseline | peak virtual (MiB) | over baseline |")
        print("|---|---|---|---|---|")
        for name, argv in runs.items():
            m = measure(*argv)
            base = base or m
            print(f"| {name} | {m['rss_mib']:.0f} | {m['rss_mib'] - base['rss_mib']:+.0f} | {m['vm_mib']:.0f} | "
                  f"{m['vm_mib'] - base['vm_mib']:+.0f} |")


if __name__ == "__main__":
    main()
