"""Stand-ins for the Kaldi directories recipes/swbd and recipes/ami read, with Kaldi's exact layouts.

No Switchboard or AMI system is available to the tests, so the real tri3a lattices of
``../shared/data/kaldi-lattices-tagalog-tri3a`` play the decode dirs, its words.txt the lang dir, its training
text (minus the decoded utterances) the LM text, and its scored reference the test sets' text and STM.
File names follow the corpora so the recipes' subset scoring runs: eval2000 recordings start with ``en_``
(swbd) or ``sw_`` (callhm), rt03 ones with ``sw_`` or ``fsh_``. Every utterance is its own recording
(segments 0 to 1000 s), so the CTM times of the lattices fall inside their STM segments.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from pathlib import Path

from kaldi_mpq.ngram.arpa import read_arpa
from kaldi_mpq.ngram.const_arpa import write_const_arpa
from kaldi_mpq.ngram.train import train_arpa
from kaldi_mpq.rescoring.decode_dir import read_decode_lattices
from kaldi_mpq.text.symbols import SymbolTable

TAGALOG = "kaldi-lattices-tagalog-tri3a"
FILE_PREFIXES = {"eval2000": ("en_", "sw_"), "rt03": ("sw_", "fsh_")}


class Tagalog:
    """The pieces of the tagalog set a stand-in is made of, for the first ``jobs`` lattice archives."""

    def __init__(self, shared: Path, jobs: int):
        self.root = shared / TAGALOG
        self.decode = self.root / "exp" / "tri3a" / "decode"
        self.words = self.root / "data" / "lang" / "words.txt"
        self.jobs = jobs
        refs = dict(line.split(maxsplit=1) for line in (self.decode / "scoring" / "test_filt.txt").read_text().splitlines())
        all_test = set(refs)
        with tempfile.TemporaryDirectory() as tmp:
            self.utts = sorted({lat.key for lat in read_decode_lattices(self._first_jobs(Path(tmp) / "d"))})
        self.refs = {u: refs[u].strip() for u in self.utts}
        # LM text: the training text without any utterance of the decode (not only the ones used here)
        self.lm_lines = [l for l in (self.root / "data" / "train" / "text").read_text().splitlines()
                         if l.split()[0] not in all_test]

    def _first_jobs(self, dst: Path) -> Path:
        dst.mkdir(parents=True)
        for j in range(1, self.jobs + 1):
            os.symlink(self.decode / f"lat.{j}.gz", dst / f"lat.{j}.gz")
        (dst / "num_jobs").write_text(f"{self.jobs}\n")
        return dst

    def decode_dir(self, dst: Path, frame_subsampling_factor: int = 1) -> Path:
        """``dst``: num_jobs and lat.JOB.gz (links to the real archives), as steps/nnet3/decode.sh leaves them;
        the model dir above it gets frame_subsampling_factor, as a chain model dir has."""
        self._first_jobs(dst)
        (dst.parent / "frame_subsampling_factor").write_text(f"{frame_subsampling_factor}\n")
        return dst

    def data_dir(self, dst: Path, prefixes: tuple[str, ...], glm: Path) -> Path:
        """A Kaldi test data dir: text, utt2spk, spk2utt, segments, reco2file_and_channel, stm, glm."""
        dst.mkdir(parents=True)
        reco = {u: f"{prefixes[i % len(prefixes)]}{i:04d}" for i, u in enumerate(self.utts)}
        (dst / "text").write_text("".join(f"{u} {self.refs[u]}\n" for u in self.utts))
        (dst / "utt2spk").write_text("".join(f"{u} {reco[u]}-A\n" for u in self.utts))
        (dst / "spk2utt").write_text("".join(f"{reco[u]}-A {u}\n" for u in sorted(self.utts, key=reco.get)))
        (dst / "segments").write_text("".join(f"{u} {reco[u]}-A 0.00 1000.00\n" for u in self.utts))
        (dst / "reco2file_and_channel").write_text("".join(f"{reco[u]}-A {reco[u]} A\n" for u in self.utts))
        (dst / "stm").write_text(";; LABEL \"O\" \"Overall\" \"Overall\"\n" + "".join(
            f"{reco[u]} A {reco[u]}-A 0.00 1000.00 <O> {self.refs[u]}\n" for u in sorted(self.utts, key=reco.get)))
        shutil.copy(glm, dst / "glm")
        return dst

    def lang_dir(self, dst: Path) -> Path:
        dst.mkdir(parents=True)
        shutil.copy(self.words, dst / "words.txt")
        return dst

    def lm_text(self, dst: Path) -> Path:
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text("\n".join(self.lm_lines) + "\n")
        return dst

    def arpa(self, dst: Path, order: int) -> Path:
        """A Kneser-Ney n-gram of the LM text (the first pass's LM), words outside words.txt as <UNK> (as
        Kaldi's LM preparation maps them), ARPA (gzip'd when dst ends in .gz)."""
        dst.parent.mkdir(parents=True, exist_ok=True)
        vocab = SymbolTable.read(self.words, unk="<UNK>")
        sentences = (" ".join(w if w in vocab else "<UNK>" for w in l.split()[1:]) for l in self.lm_lines)
        plain = dst.with_suffix("") if dst.suffix == ".gz" else dst
        train_arpa(sentences, plain, order)
        if dst.suffix == ".gz":
            dst.write_bytes(gzip.compress(plain.read_bytes()))
            plain.unlink()
        return dst


def swbd_standin(root: Path, shared: Path, jobs: int = 2, sets=("eval2000", "rt03")) -> dict:
    """An egs/swbd/s5c-like dir: data/local/lm/text, data/lang_sw1_fsh_fg/{words.txt,G.carpa},
    data/<set>_hires/, exp/chain/tdnn7q_sp/decode_<set>_sw1_fsh_fg/."""
    t = Tagalog(shared, jobs)
    t.lm_text(root / "data" / "local" / "lm" / "text")
    lang = t.lang_dir(root / "data" / "lang_sw1_fsh_fg")
    arpa = t.arpa(root / "data" / "local" / "lm" / "sw1_fsh.o4g.kn.arpa", 4)
    symbols = SymbolTable.read(lang / "words.txt", unk="<UNK>")
    write_const_arpa(read_arpa(arpa), symbols, lang / "G.carpa")
    glm = shared / "scoring-glm" / "en20000405_hub5.glm"
    for s in sets:
        t.data_dir(root / "data" / f"{s}_hires", FILE_PREFIXES[s], glm)
        t.decode_dir(root / "exp" / "chain" / "tdnn7q_sp" / f"decode_{s}_sw1_fsh_fg")
    return {"utts": t.utts, "unk": "<UNK>"}


def ami_standin(root: Path, shared: Path, jobs: int = 2, mics=("ihm", "sdm1"), sets=("dev",)) -> dict:
    """An egs/ami/s5b-like dir: data/ihm/{train,dev}/text (LM text), data/lang_ami_fsh.o3g.kn.pr1-7/words.txt,
    data/local/lm/ami_fsh.o3g.kn.pr1-7.gz (3-gram ARPA), data/<mic>/<set>_hires/,
    exp/<mic>/chain_cleaned/tdnn1j_sp_bi/decode_<set>/."""
    t = Tagalog(shared, jobs)
    train, dev = t.lm_lines[50:], t.lm_lines[:50]
    for name, lines in (("train", train), ("dev", dev)):
        d = root / "data" / "ihm" / name
        d.mkdir(parents=True)
        (d / "text").write_text("\n".join(lines) + "\n")
    t.lang_dir(root / "data" / "lang_ami_fsh.o3g.kn.pr1-7")
    t.arpa(root / "data" / "local" / "lm" / "ami_fsh.o3g.kn.pr1-7.gz", 3)
    glm = shared / "scoring-glm" / "kaldi-ami-english.glm"
    for m in mics:
        for s in sets:
            t.data_dir(root / "data" / m / f"{s}_hires", ("EN",), glm)
            t.decode_dir(root / "exp" / m / "chain_cleaned" / "tdnn1j_sp_bi" / f"decode_{s}", 1)
    return {"utts": t.utts, "unk": "<UNK>"}
