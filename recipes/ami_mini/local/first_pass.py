#!/usr/bin/env python3
"""The synthetic first pass of recipes/ami_mini: sentence selection, speech synthesis, pocketsphinx decoding.

  first_pass.py select --transcripts DIR --list dev.txt --num 150 --voices "slt awb" --seed 7 \\
      --min-words 4 --max-words 20 --out data/dev          # text, utt2spk, spk2utt (speaker = voice)
  first_pass.py synth --data data/dev --wav-dir wav/dev [--snr-db 20 --seed 7]   # flite + sox, 16 kHz
  first_pass.py oracle --data data/dev --words words.txt --decode-dir decode_dev --n 20 --acwt 0.1
  first_pass.py decode --data data/dev --wav-dir wav/dev --lm lm_3gram.arpa.gz --slf-dir slf/dev \\
      --lw 6.5 --beam 1e-48 --wbeam 7e-29                   # one SLF lattice per utterance, hyp text

Utterance ids are <voice>-<meeting>-<sentence index>, so the Kaldi files sort consistently. The decoder
uses the en-us acoustic model and CMUdict shipped in the pocketsphinx wheel and the recipe's 3-gram in
lower case; words CMUdict lacks cannot be recognised.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np


def fail(msg: str) -> None:
    print(f"{Path(sys.argv[0]).name}: error: {msg}", file=sys.stderr)
    sys.exit(1)


def read_kaldi_map(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, rest = line.partition(" ")
        out.append((key, rest.strip()))
    return out


def cmd_select(args) -> None:
    from kaldi_mpq.text.corpus import read_sentences

    meetings = Path(args.list).read_text().split()
    voices = args.voices.split()
    pool = []  # (meeting, index, words)
    seen = set()
    for m in meetings:
        path = Path(args.transcripts) / f"{m}.transcript.txt"
        if not path.is_file():
            fail(f"{path}: no transcript for meeting {m} of {args.list}")
        for i, words in enumerate(read_sentences(path, "raw", "ami")):
            text = " ".join(words)
            if args.min_words <= len(words) <= args.max_words and text not in seen:
                seen.add(text)
                pool.append((m, i, text))
    if len(pool) < args.num:
        fail(f"{args.list}: only {len(pool)} distinct sentences of {args.min_words}-{args.max_words} words")
    rng = random.Random(args.seed)
    chosen = sorted(rng.sample(range(len(pool)), args.num))
    utts = {}
    for k, j in enumerate(chosen):
        m, i, text = pool[j]
        voice = voices[k % len(voices)]
        utts[f"{voice}-{m}-{i:05d}"] = (voice, text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keys = sorted(utts)
    (out / "text").write_text("".join(f"{u} {utts[u][1]}\n" for u in keys), encoding="utf-8")
    (out / "utt2spk").write_text("".join(f"{u} {utts[u][0]}\n" for u in keys), encoding="utf-8")
    (out / "spk2utt").write_text(
        "".join(f"{v} {' '.join(u for u in keys if utts[u][0] == v)}\n" for v in sorted(set(voices))
                if any(utts[u][0] == v for u in keys)), encoding="utf-8")
    print(f"{out}: {len(keys)} utterances, {sum(len(utts[u][1].split()) for u in keys)} words, "
          f"from {len(pool)} candidate sentences of {len(meetings)} meetings")


def cmd_synth(args) -> None:
    for tool in ("flite", "sox"):
        if shutil.which(tool) is None:
            fail(f"{tool} not found: install it (Debian/Ubuntu: apt-get install -y flite sox)")
    wav_dir = Path(args.wav_dir)
    wav_dir.mkdir(parents=True, exist_ok=True)
    spk = dict(read_kaldi_map(Path(args.data) / "utt2spk"))
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "flite.wav"
        for utt, text in read_kaldi_map(Path(args.data) / "text"):
            out = wav_dir / f"{utt}.wav"
            # flite reads the words better in lower case (upper case is spelt out as letters)
            subprocess.run(["flite", "-voice", spk[utt], "-t", text.lower(), "-o", str(raw)], check=True)
            subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out)], check=True)
            if args.snr_db is not None:
                add_noise(out, args.snr_db, rng)
    print(f"{wav_dir}: synthesised {len(spk)} utterances")


def add_noise(path: Path, snr_db: float, rng: np.random.Generator) -> None:
    """White Gaussian noise at ``snr_db`` below the signal power."""
    with wave.open(str(path)) as w:
        params = w.getparams()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    power = np.mean(x ** 2) if x.size else 0.0
    y = x + rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), x.shape)
    with wave.open(str(path), "wb") as w:
        w.setparams(params)
        w.writeframes(np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes())


def lower_case_arpa(src: Path, dst: Path) -> None:
    """The ARPA with lower-case words (CMUdict's case); counts and scores unchanged."""
    opener = gzip.open if src.name.endswith(".gz") else open
    with opener(src, "rt", encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as g:
        for line in f:
            g.write(line if line.startswith("\\") or line.startswith("ngram ") else line.lower())


def cmd_decode(args) -> None:
    try:
        import pocketsphinx
    except ImportError:
        fail("pocketsphinx is not installed: pip install 'kaldi-mpq[first-pass]'")
    model = Path(pocketsphinx.get_model_path()) / "en-us"
    slf_dir = Path(args.slf_dir)
    slf_dir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        lm = Path(tmp) / "lm.arpa"
        lower_case_arpa(Path(args.lm), lm)
        config = pocketsphinx.Config(
            hmm=str(model / "en-us"), dict=str(model / "cmudict-en-us.dict"), lm=str(lm), loglevel="ERROR",
            lw=args.lw, fwdflatlw=args.lw, bestpathlw=args.lw, beam=args.beam, wbeam=args.wbeam,
            fwdflatbeam=args.beam, fwdflatwbeam=args.wbeam, samprate=16000)
        decoder = pocketsphinx.Decoder(config)
    hyps = []
    n_frames = 0
    for utt, _ in read_kaldi_map(Path(args.data) / "text"):
        with wave.open(str(Path(args.wav_dir) / f"{utt}.wav")) as w:
            audio = w.readframes(w.getnframes())
        decoder.start_utt()
        decoder.process_raw(audio, full_utt=True)
        decoder.end_utt()
        n_frames += decoder.n_frames()
        hyp = decoder.hyp()
        hyps.append(f"{utt} {hyp.hypstr.upper() if hyp else ''}".rstrip())
        decoder.get_lattice().write_htk(str(slf_dir / f"{utt}.slf"))
    (slf_dir / "hyp.txt").write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    took = time.time() - start
    print(f"{slf_dir}: decoded {len(hyps)} utterances ({n_frames / 100:.0f} s of audio) in {took:.0f} s")


def cmd_oracle(args) -> None:
    """Oracle WER of the n-best lists: per utterance the fewest errors among its n best paths."""
    from kaldi_mpq.rescoring.decode_dir import read_decode_lattices
    from kaldi_mpq.scoring.edit_distance import error_counts
    from kaldi_mpq.text.symbols import SymbolTable

    symbols = SymbolTable.read(args.words, unk=None)
    refs = {k: v.split() for k, v in read_kaldi_map(Path(args.data) / "text")}
    lattices = {lat.key: lat for lat in read_decode_lattices(args.decode_dir)}
    missing = sorted(set(refs) - set(lattices))
    if missing:
        fail(f"{args.decode_dir}: no lattice for {len(missing)} utterances of {args.data}/text, e.g. {missing[0]}")
    errors = 0
    for key, ref in refs.items():
        hyps = [[symbols.word(w) for w in p.words] for p in lattices[key].nbest(args.n, args.acwt)]
        counts = error_counts([ref] * len(hyps), hyps).sum(axis=1) if hyps else [len(ref)]
        errors += int(min(counts))
    words = sum(map(len, refs.values()))
    print(f"%ORACLE-WER {100.0 * errors / words:.2f} [ {errors} / {words} ], {args.n}-best at acoustic scale "
          f"{args.acwt}, {len(refs)} utterances")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("select")
    s.add_argument("--transcripts", required=True)
    s.add_argument("--list", required=True)
    s.add_argument("--num", type=int, required=True)
    s.add_argument("--voices", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--min-words", type=int, default=4)
    s.add_argument("--max-words", type=int, default=20)
    s.add_argument("--out", required=True)
    s = sub.add_parser("synth")
    s.add_argument("--data", required=True)
    s.add_argument("--wav-dir", required=True)
    s.add_argument("--snr-db", type=float)
    s.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("decode")
    s.add_argument("--data", required=True)
    s.add_argument("--wav-dir", required=True)
    s.add_argument("--lm", required=True)
    s.add_argument("--slf-dir", required=True)
    s.add_argument("--lw", type=float, default=6.5)
    s.add_argument("--beam", type=float, default=1e-48)
    s.add_argument("--wbeam", type=float, default=7e-29)
    s = sub.add_parser("oracle")
    s.add_argument("--data", required=True)
    s.add_argument("--words", required=True)
    s.add_argument("--decode-dir", required=True)
    s.add_argument("--n", type=int, default=20)
    s.add_argument("--acwt", type=float, default=0.1)
    args = p.parse_args()
    {"select": cmd_select, "synth": cmd_synth, "decode": cmd_decode, "oracle": cmd_oracle}[args.cmd](args)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
