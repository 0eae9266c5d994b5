"""Fixtures shared by the scoring tests: an STM/CTM pair built from AMI ES2011a."""

import gzip
import json
import random

import pytest

from kaldi_mpq.scoring.nist_files import CtmWord, StmSegment, write_ctm, write_stm


def ami_segments(shared_data):
    path = shared_data("ami", "lhotse-ES2011a", "ES2011a_sups.jsonl.gz")
    sups = [json.loads(line) for line in gzip.open(path)]
    chan = {s: chr(65 + i) for i, s in enumerate(sorted({x["speaker"] for x in sups}))}
    return [
        StmSegment("ES2011a", chan[x["speaker"]], x["speaker"], round(x["start"], 2),
                   round(x["start"] + x["duration"], 2), "<O,F0,F>", tuple(x["text"].split()))
        for x in sups
    ]


def perturbed_ctm(segments, seed, p):
    """Hypothesis words spread over each segment, with deletions, substitutions, insertions at rate p."""
    rng = random.Random(seed)
    vocab = sorted({w for s in segments for w in s.words})
    out = []
    for s in segments:
        words = []
        for w in s.words:
            r = rng.random()
            if r < p:
                continue
            words += [rng.choice(vocab)] if r < 2 * p else [w, rng.choice(vocab)] if r < 3 * p else [w.lower()]
        step = (s.end - s.start) / max(len(words), 1)
        out += [CtmWord(s.file, s.channel, s.start + i * step, 0.9 * step, w, 0.9) for i, w in enumerate(words)]
    return out


@pytest.fixture
def ami_pair(shared_data, tmp_path):
    segs = ami_segments(shared_data)
    write_stm(tmp_path / "ref.stm", segs)
    write_ctm(tmp_path / "sys1.ctm", perturbed_ctm(segs, 1, 0.05))
    write_ctm(tmp_path / "sys2.ctm", perturbed_ctm(segs, 2, 0.06))
    return tmp_path


@pytest.fixture
def sclite_path_fixture():
    from tests.conftest import sclite_path

    return sclite_path("sclite"), sclite_path("sc_stats")


@pytest.fixture
def ami_texts(shared_data):
    return [" ".join(s.words) for s in ami_segments(shared_data)]
