"""Benchmark: segments (utterances) per second of the Python sclite-compatible scorer vs running sclite.

Reference: the 348 AMI ES2011a segments (STM, one channel per speaker) repeated ``--copies`` times as
separate meetings; hypothesis: the same words with every 7th dropped, every 11th replaced and every
13th followed by an extra word. Both scorers read the same STM/CTM files in this process; sclite is
timed as a subprocess (``sclite -F -D -o sum``), the Python scorer including file reading. Also times
the Python scorer with the hub5 GLM (as hubscr.pl would filter). Prints segments/s and the ratio.

Usage:
    python bench/score_speed.py [--copies 10] [--repeats 3] [--shared-data ../shared/data]
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

from kaldi_mpq.scoring.glm import read_glm
from kaldi_mpq.scoring.nist_files import CtmWord, StmSegment, read_ctm, read_stm, write_ctm, write_stm
from kaldi_mpq.scoring.nist_scorer import score_stm_ctm
from kaldi_mpq.scoring.sclite_io import find_sctk_tool, run_sclite

HERE = Path(__file__).resolve().parent


def build(shared: Path, copies: int, out: Path) -> int:
    sups = [json.loads(x) for x in gzip.open(shared / "ami" / "lhotse-ES2011a" / "ES2011a_sups.jsonl.gz")]
    chans = {s: chr(65 + i) for i, s in enumerate(sorted({x["speaker"] for x in sups}))}
    segs, words, n = [], [], 0
    for c in range(copies):
        for x in sups:
            seg = StmSegment(f"ES2011a_{c}", chans[x["speaker"]], x["speaker"], round(x["start"], 2),
                             round(x["start"] + x["duration"], 2), "", tuple(x["text"].split()))
            segs.append(seg)
            hyp = []
            for w in seg.words:
                n += 1
                if n % 7:
                    hyp.append("WRONG" if n % 11 == 0 else w)
                if n % 13 == 0:
                    hyp.append("EXTRA")
            step = (seg.end - seg.start) / max(len(hyp), 1)
            words += [CtmWord(seg.file, seg.channel, seg.start + i * step, 0.9 * step, w) for i, w in enumerate(hyp)]
    write_stm(out / "ref.stm", segs)
    write_ctm(out / "hyp.ctm", words)
    return len(segs)


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--copies", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--shared-data", default=str(HERE.parent.parent / "shared" / "data"))
    args = p.parse_args()
    shared = Path(args.shared_data)
    glm = read_glm(shared / "scoring-glm" / "en20000405_hub5.glm")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        nseg = build(shared, args.copies, d)
        py = best_time(lambda: score_stm_ctm(read_stm(d / "ref.stm"), read_ctm(d / "hyp.ctm")), args.repeats)
        py_glm = best_time(lambda: score_stm_ctm(read_stm(d / "ref.stm"), read_ctm(d / "hyp.ctm"), glm=glm,
                                                 fragments=True), args.repeats)
        ours, _ = score_stm_ctm(read_stm(d / "ref.stm"), read_ctm(d / "hyp.ctm"))
        print(f"{nseg} segments, {ours.words} reference words, Python scorer: {ours.format()}")
        print(f"python scorer          : {nseg / py:10.0f} segments/s ({py:.3f} s)")
        print(f"python scorer + GLM    : {nseg / py_glm:10.0f} segments/s ({py_glm:.3f} s)")
        if find_sctk_tool("sclite") is None:
            print("sclite not installed: no reference timing")
            return
        sc = best_time(lambda: run_sclite(d / "ref.stm", d / "hyp.ctm", d, "hyp", extra=("-F", "-D")), args.repeats)
        theirs, _ = run_sclite(d / "ref.stm", d / "hyp.ctm", d, "hyp", extra=("-F", "-D"))
        print(f"sclite (subprocess)    : {nseg / sc:10.0f} segments/s ({sc:.3f} s)  %WER {theirs.err}")
        print(f"ratio python/sclite    : {sc / py:.2f}x   (with GLM: {sc / py_glm:.2f}x)")


if __name__ == "__main__":
    main()
