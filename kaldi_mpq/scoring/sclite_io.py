"""sclite's outputs: the ``.sgml`` alignment dump and the ``.sys`` summary table.

SGML ``PATH`` entries (one per reference segment; ``eval,"ref","hyp",...`` items joined by ``:``)::

    <PATH id="(fee041-000)" word_cnt="4" ... file="es2011a" channel="a" sequence="0" ...>
    C,"here","here",34.270+34.916,0.900000:I,,"this",36.422+37.068,0.900000
    </PATH>

``.sys`` summary row::

    | Sum/Avg|  348   2473 | 90.9    4.8    4.3    5.3   14.5   50.3 |  0.000 |
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.fileio import Pathlike


@dataclass(frozen=True)
class AlignedWord:
    """One alignment item: ``op`` is C, S, D or I; ``ref`` is None for an insertion."""

    op: str
    ref: str | None
    hyp: str | None


@dataclass(frozen=True)
class SegmentAlignment:
    """The alignment of one reference segment (an sclite PATH), items in reference order."""

    id: str
    speaker: str
    words: tuple[AlignedWord, ...]

    def counts(self) -> tuple[int, int, int, int]:
        """(correct, substitutions, deletions, insertions)."""
        ops = [w.op for w in self.words]
        return ops.count("C"), ops.count("S"), ops.count("D"), ops.count("I")


_PATH_RE = re.compile(r'<PATH id="([^"]*)"(?:[^>"]|"[^"]*")*>\n(.*?)</PATH>', re.S)
_SPK_RE = re.compile(r'<SPEAKER id="([^"]*)">')
_ITEM_RE = re.compile(r'([CSDI]),("(?:[^"]*)"|),("(?:[^"]*)"|)')


def read_sclite_sgml(path: Pathlike) -> list[SegmentAlignment]:
    """The segment alignments of an sclite ``-o sgml`` file, in file order.

    Raises:
        ScoringError: the file has no PATH entries.
    """
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    out = []
    speakers = [(m.start(), m.group(1)) for m in _SPK_RE.finditer(text)]
    for m in _PATH_RE.finditer(text):
        spk = ""
        for pos, name in speakers:
            if pos < m.start():
                spk = name
        items = []
        for item in _ITEM_RE.finditer(m.group(2)):
            op, ref, hyp = item.group(1), item.group(2).strip('"') or None, item.group(3).strip('"') or None
            items.append(AlignedWord(op, ref, hyp))
        out.append(SegmentAlignment(m.group(1), spk, tuple(items)))
    if not out:
        raise ScoringError(f"{path}: no <PATH> entries (not an sclite sgml file?)")
    return out


@dataclass(frozen=True)
class SysSummary:
    """The ``Sum/Avg`` row of a ``.sys`` report (percentages as printed, 1 decimal)."""

    sentences: int
    words: int
    corr: float
    sub: float
    dele: float
    ins: float
    err: float
    sent_err: float


def read_sclite_sys(path: Pathlike) -> SysSummary:
    """Parse the ``Sum/Avg`` line of an sclite / hubscr ``.sys`` file.

    Raises:
        ScoringError: no ``Sum/Avg`` line.
    """
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        if "Sum/Avg" in line:
            nums = re.findall(r"-?\d+(?:\.\d+)?", line.split("Sum/Avg", 1)[1])
            return SysSummary(int(nums[0]), int(nums[1]), *(float(x) for x in nums[2:8]))
    raise ScoringError(f"{path}: no 'Sum/Avg' line (sclite failed?)")


SCTK_BIN = Path("/usr/lib/sctk/bin")


def find_sctk_tool(tool: str) -> Path | None:
    """Path of an SCTK program (Debian's /usr/lib/sctk/bin, then PATH), or None."""
    import shutil

    cand = SCTK_BIN / tool
    if cand.exists():
        return cand
    found = shutil.which(tool)
    return Path(found) if found else None


def _run(cmd: list[str], what: str, expect: Path, cwd: Pathlike | None = None) -> None:
    env = {**os.environ, "PATH": f"{SCTK_BIN}:{os.environ.get('PATH', '')}"}  # hubscr/csrfilt call rfilter1 etc.
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)
    if proc.returncode != 0 or not expect.exists():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise ScoringError(f"{what} failed ({' '.join(cmd[:1])} exit {proc.returncode}): {' | '.join(tail)}")


def _tool(tool: str) -> Path:
    found = find_sctk_tool(tool)
    if found is None:
        raise ScoringError(f"{tool} not found (apt-get install sctk, or put SCTK's bin on PATH)")
    return found


def run_sclite(stm: Pathlike, ctm: Pathlike, out_dir: Pathlike, name: str = "hyp",
               extra: tuple[str, ...] = ()) -> tuple[SysSummary, list[SegmentAlignment]]:
    """Run the real ``sclite -r stm stm -h ctm ctm -o sum sgml pra`` and parse what it wrote.

    Writes ``<out_dir>/<name>.{sys,sgml,pra}``. ``extra`` adds options (``-F -D`` as hubscr does).

    Raises:
        ScoringError: sclite is not installed or fails (its last output lines are quoted).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cmd = [str(_tool("sclite")), "-f", "0", "-r", str(stm), "stm", "-h", str(ctm), "ctm", name, *extra,
           "-o", "sum", "sgml", "pra", "-O", str(out), "-n", name]
    _run(cmd, f"sclite on {ctm} vs {stm}", out / f"{name}.sys")
    return read_sclite_sys(out / f"{name}.sys"), read_sclite_sgml(out / f"{name}.sgml")


def run_hubscr(stm: Pathlike, ctm: Pathlike, glm: Pathlike, hub: str = "hub5",
               asclite_overlap: int | None = None) -> SysSummary:
    """``hubscr.pl -p <sctk> -V -l english -h hub5 -g glm -r stm ctm`` (Kaldi's swbd/AMI scoring).

    With ``asclite_overlap`` it runs as AMI's ``local/score_asclite.sh``: ``-h rt-stt -a -o N -m 1:2
    -C -B 8192`` (asclite with up to N overlapping speakers). Writes ``<ctm>.filt.sys`` and friends
    beside the CTM; returns its ``Sum/Avg`` row.

    Raises:
        ScoringError: hubscr.pl missing or failing.
    """
    tool = _tool("hubscr.pl")
    cmd = [str(tool), "-p", str(tool.parent), "-V", "-l", "english", "-h", hub, "-g", str(glm), "-r", str(stm), str(ctm)]
    if asclite_overlap is not None:
        cmd = [str(tool), "-v", "-m", "1:2", f"-o{asclite_overlap}", "-a", "-C", "-B", "8192", "-p", str(tool.parent),
               "-V", "-l", "english", "-h", "rt-stt", "-g", str(glm), "-r", str(stm), str(ctm)]
    sys_file = Path(f"{ctm}.filt.sys")
    _run(cmd, f"hubscr.pl on {ctm}", sys_file, cwd=Path(ctm).parent)
    return read_sclite_sys(sys_file)


def run_asclite(stm: Pathlike, ctm: Pathlike, overlap_limit: int) -> SysSummary:
    """``asclite -D -F -noisg -spkrautooverlap ref -overlap-limit N -r stm stm -h ctm ctm -o sum``
    (overlap-aware scoring of distant-microphone AMI without a GLM); writes ``<ctm>.sys``."""
    cmd = [str(_tool("asclite")), "-D", "-F", "-noisg", "-spkrautooverlap", "ref", "-overlap-limit", str(overlap_limit),
           "-r", str(stm), "stm", "-h", str(ctm), "ctm", "-o", "sum", "rsum"]
    _run(cmd, f"asclite on {ctm}", Path(f"{ctm}.sys"), cwd=Path(ctm).parent)
    return read_sclite_sys(Path(f"{ctm}.sys"))


def run_sc_stats_mapsswe(sgml_files: list[Pathlike], out_dir: Pathlike, name: str = "cmp") -> tuple[float, float]:
    """Run ``sc_stats -t mapsswe -v`` on two sclite sgml files; returns (Z, two-sided p).

    Raises:
        ScoringError: sc_stats missing or its report lacks the MTCH_PR_RESULTS line.
    """
    tool = find_sctk_tool("sc_stats")
    if tool is None:
        raise ScoringError("sc_stats not found (apt-get install sctk)")
    data = "".join(Path(f).read_text(encoding="utf-8", errors="replace") for f in sgml_files)
    subprocess.run([str(tool), "-p", "-t", "mapsswe", "-v", "-O", str(out_dir), "-n", name],
                   input=data, capture_output=True, text=True, cwd=out_dir)
    report = Path(out_dir) / f"{name}.stats.mapsswe"
    m = re.search(r"\(Z Stat: (-?[\d.]+)\)", report.read_text() if report.exists() else "")
    if m is None:
        raise ScoringError(f"sc_stats wrote no MTCH_PR_RESULTS line to {report}")
    z = float(m.group(1))
    return z, math.erfc(abs(z) / math.sqrt(2.0))  # two-sided p of a standard normal Z
