"""A seeded mutator of lattice archives, and a fuzz run of the readers over it.

Every mutated archive must either read (giving lattices that satisfy the :class:`Lattice`
invariants and Kaldi's weight rules) or fail with one :class:`LatticeFormatError` whose message
names the file, the key and the byte offset, within a time limit and a memory limit (``RLIMIT_AS``).
The tests run a few hundred cases; a longer hunt is one command::

    python -m kaldi_mpq.testing.lattice_fuzz --cases 6000 --seed 1 /path/to/lat.1.gz ...

Each output line is a JSON record of one case that went wrong (``case``, ``form``, ``problem``);
the exit status is 1 if there was any. Case ``i`` of seed ``s`` is reproducible on its own
(``--first i --cases 1``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import resource
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from kaldi_mpq.errors import LatticeFormatError
from kaldi_mpq.lattice.io import read_lattices, read_lattices_tolerant, write_lattices

FORMS = ("binary", "text", "gzip", "scp")
_INT32 = [0, 1, -1, 2, 7, -7, 255, 65536, 2**30, 2**31 - 1, -2**31, 123456789]
_FLOAT32 = [np.nan, np.inf, -np.inf, -1.0, 1e30, -0.0]
_TEXT_NUMBERS = ["nan", "-nan", "inf", "-inf", "Infinity", "-Infinity", "1e400", "-1", "-2", "2147483648",
                 "99999999999999", "1000000000", "1_0", "0x10", "", "\u0663", "+5", "1e5", "3.5"]
_NUMBER = re.compile(rb"-?[0-9][0-9.e+-]*|Infinity|-Infinity")


class _Timeout(Exception):
    pass


def seed_archives(archives: list[Path], max_lattices: int, workdir: Path) -> dict[str, bytes]:
    """The unmutated archives of each form, from the first lattices of real Kaldi archives."""
    lats = []
    for a in archives:
        for i, lat in enumerate(read_lattices(f"ark:{a}")):
            if i >= max_lattices:
                break
            lats.append(lat)
    write_lattices(f"ark:{workdir / 'seed.ark'}", lats)
    write_lattices(f"ark,t:{workdir / 'seed.txt'}", lats)
    binary = (workdir / "seed.ark").read_bytes()
    return {"binary": binary, "text": (workdir / "seed.txt").read_bytes(), "gzip": gzip.compress(binary, mtime=0)}


def mutate(data: bytes, form: str, rng: np.random.Generator) -> bytes:
    """One to three random edits: bytes, int32 or float32 fields, truncation, deletion, duplication,
    and for text numbers replaced by hostile tokens, NULs and lost or added newlines."""
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        n = len(b)
        if n < 8:
            break
        kind = int(rng.integers(0, 10 if form == "text" else 7))
        pos = int(rng.integers(0, n - 4))
        if kind == 0:
            b[pos] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            b[pos] = int(rng.integers(0, 256))
        elif kind == 2:
            v = _INT32[int(rng.integers(0, len(_INT32)))] if rng.random() < 0.8 else int(rng.integers(-2**31, 2**31))
            b[pos:pos + 4] = int(v).to_bytes(4, "little", signed=True)
        elif kind == 3:
            b[pos:pos + 4] = np.float32(_FLOAT32[int(rng.integers(0, len(_FLOAT32)))]).tobytes()
        elif kind == 4:
            del b[pos if rng.random() < 0.5 else int(rng.integers(pos, n)):]
        elif kind == 5:
            del b[pos:pos + int(rng.integers(1, 64))]
        elif kind == 6:
            chunk = b[pos:pos + int(rng.integers(1, 256))]
            at = int(rng.integers(0, n))
            b[at:at] = chunk
        elif kind == 7:
            numbers = list(_NUMBER.finditer(bytes(b)))
            if numbers:
                m = numbers[int(rng.integers(0, len(numbers)))]
                tok = _TEXT_NUMBERS[int(rng.integers(0, len(_TEXT_NUMBERS)))].encode()
                b[m.start():m.end()] = tok
        elif kind == 8:
            b[pos:pos + 1] = [b"\0", b"", b"\n\n", b" ", b"\t\n"][int(rng.integers(0, 5))]
        else:  # a state id (first column of a line) replaced
            line = bytes(b).rfind(b"\n", 0, pos) + 1
            end = line
            while end < n and b[end:end + 1].isdigit():
                end += 1
            b[line:end] = _TEXT_NUMBERS[int(rng.integers(0, len(_TEXT_NUMBERS)))].encode()
    return bytes(b)


def _scp(binary_path: Path, binary: bytes, rng: np.random.Generator) -> bytes:
    """An scp of the unmutated binary archive (``key path:offset`` lines), to be mutated."""
    lines = []
    for m in re.finditer(rb"([^\s\x00]+) (?=\xd6\xfd\xb2\x7e)", binary):
        lines.append(m.group(1) + b" " + str(binary_path).encode() + b":" + str(m.end()).encode() + b"\n")
    return b"".join(lines)


def check_lattice(lat, where: str) -> Optional[str]:
    """Why an accepted lattice breaks an invariant or Kaldi's weight rules; None if it does not."""
    if not lat.key or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in lat.key):
        return f"{where}: accepted a bad key {lat.key!r}"
    s = lat.num_states
    if s <= 0 or len(lat.final_graph) != s or len(lat.final_acoustic) != s:
        return f"{where}: bad number of states"
    if lat.num_arcs and not ((lat.src >= 0).all() and (lat.src < lat.dst).all() and (lat.dst < s).all()):
        return f"{where}: states not in topological order"
    if lat.num_arcs and (lat.word < 0).any():
        return f"{where}: accepted a negative word id"
    for name in ("graph_cost", "acoustic_cost", "final_graph", "final_acoustic"):
        x = getattr(lat, name)
        if np.isnan(x).any() or np.isneginf(x).any():
            return f"{where}: accepted NaN or -inf in {name}"
    for g, a in ((lat.graph_cost, lat.acoustic_cost), (lat.final_graph, lat.final_acoustic)):
        if (np.isposinf(g) != np.isposinf(a)).any():
            return f"{where}: accepted a weight with one component +inf"
    if not np.isfinite(lat.final_graph).any():
        return f"{where}: accepted a lattice with no final state"
    if len(lat.ali_offsets) != lat.num_arcs + 1 or len(lat.final_ali_offsets) != s + 1:
        return f"{where}: alignment arrays of the wrong length"
    return None


def check_error(e: BaseException, paths: tuple[Path, ...]) -> Optional[str]:
    """Why an exception is not the clean error required (naming one of ``paths``); None if it is."""
    if not isinstance(e, LatticeFormatError):
        tb = traceback.format_exception_only(type(e), e)[-1].strip()
        return f"escaped as {type(e).__name__}: {tb[:300]}"
    msg = str(e)
    if not any(msg.startswith(str(p)) for p in paths) or "byte offset" not in msg or "key" not in msg or "\n" in msg:
        return f"message lacks file, key or byte offset: {msg[:300]!r}"
    return None


def run_case(data: bytes, form: str, path: Path, binary_path: Path) -> Optional[str]:
    """Read a mutated archive strictly and with ``skip_bad``; the problem found, or None."""
    path.write_bytes(data)
    spec = f"scp:{path}" if form == "scp" else f"ark:{path}"
    files = (path, binary_path) if form == "scp" else (path,)
    problems = []
    try:
        for lat in read_lattices(spec):
            p = check_lattice(lat, f"{path}: key {lat.key!r}")
            if p:
                return p
    except Exception as e:  # noqa: BLE001 -- that is what is being tested
        problems.append(check_error(e, files))
    try:
        for key, lat, err in read_lattices_tolerant(spec, skip_bad=True):
            if lat is not None:
                p = check_lattice(lat, f"{path}: key {lat.key!r} (skip_bad)")
                if p:
                    return p
    except Exception as e:  # noqa: BLE001
        p = check_error(e, files)
        problems.append(p and f"skip_bad: {p}")
    return next((p for p in problems if p), None)


def fuzz(archives: list[Path], cases: int, seed: int, first: int = 0, max_lattices: int = 4,
         case_timeout: float = 20.0, report: Callable[[dict], None] = print) -> int:
    """Run cases ``first .. first + cases - 1``; report each bad one; return how many were bad."""
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seeds = seed_archives(archives, max_lattices, work)
        binary_path = work / "seed.ark"

        def on_alarm(signum, frame):
            raise _Timeout()

        signal.signal(signal.SIGALRM, on_alarm)
        for i in range(first, first + cases):
            rng = np.random.default_rng([seed, i])
            form = FORMS[i % len(FORMS)]
            base = _scp(binary_path, seeds["binary"], rng) if form == "scp" else seeds[form]
            data = mutate(base, form, rng)
            path = work / f"case{i}.{'gz' if form == 'gzip' else 'scp' if form == 'scp' else 'ark'}"
            signal.setitimer(signal.ITIMER_REAL, case_timeout)
            try:
                problem = run_case(data, form, path, binary_path)
            except _Timeout:
                problem = f"no result within {case_timeout} s"
            except MemoryError:
                problem = "MemoryError: the reader asked for more memory than the limit"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            path.unlink(missing_ok=True)
            if problem:
                bad += 1
                report({"case": i, "seed": seed, "form": form, "problem": problem})
    return bad


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("archives", nargs="+", type=Path, help="Kaldi lattice archives to start from")
    p.add_argument("--cases", type=int, default=300)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-lattices", type=int, default=4, help="lattices taken from each archive")
    p.add_argument("--case-timeout", type=float, default=20.0, help="seconds per case")
    p.add_argument("--memory-mb", type=int, default=768,
                   help="address space allowed above what the process has after start-up (RLIMIT_AS)")
    args = p.parse_args(argv)
    vm = int(re.search(r"VmSize:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024
    limit = vm + args.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    bad = fuzz(args.archives, args.cases, args.seed, args.first, args.max_lattices, args.case_timeout,
               lambda r: print(json.dumps(r), flush=True))
    print(json.dumps({"cases": args.cases, "bad": bad}), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
