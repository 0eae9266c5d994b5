"""Kaldi's ``scoring_kaldi/wer_details/`` files: ``per_utt``, ``per_spk``, ``ops``, ``wer_bootci``.

``per_utt`` (``align-text | wer_per_utt_details.pl``, eps ``***``), columns centred per aligned pair::

    1_0_0_0_0_0_0_1 ref  YES  NO  NO  ***
    1_0_0_0_0_0_0_1 hyp  YES  NO  YES  NO
    1_0_0_0_0_0_0_1 op    C    C   S    I
    1_0_0_0_0_0_0_1 #csid 3 1 1 0

``per_spk`` (``wer_per_spk_details.pl utt2spk``)::

    SPEAKER         id       #SENT      #WORD       Corr        Sub        Ins        Del        Err      S.Err
    global          raw         29        232        232          0          0          0          0          0
    global          sys         29        232     100.00       0.00       0.00       0.00       0.00       0.00

``ops`` (``wer_ops_details.pl | sort -b -i -k 1,1 -k 4,4rn -k 2,2 -k 3,3``)::

    correct       YES    YES    138
    substitution   NO    YES      2
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from kaldi_mpq.scoring.edit_distance import align

EPS = "***"


@dataclass(frozen=True)
class UttAlignment:
    """One utterance aligned by ``align-text``: pairs of (ref word | eps, hyp word | eps)."""

    key: str
    pairs: tuple[tuple[str, str], ...]

    def ops(self, eps: str = EPS) -> list[str]:
        return [
            "D" if h == eps else "I" if r == eps else "S" if r != h else "C" for r, h in self.pairs
        ]

    def csid(self, eps: str = EPS) -> tuple[int, int, int, int]:
        c = Counter(self.ops(eps))
        return c["C"], c["S"], c["I"], c["D"]


def align_all(ref: dict[str, list[str]], hyp: dict[str, list[str]], eps: str = EPS) -> list[UttAlignment]:
    """Align every reference utterance that has a hypothesis (``align-text`` order: the reference's)."""
    return [UttAlignment(k, tuple(align(r, hyp[k], eps))) for k, r in ref.items() if k in hyp]


def _centre(s: str, width: int) -> str:
    right = (width - len(s)) // 2
    left = width - len(s) - right
    return " " * left + s + " " * right


def format_per_utt(alignments: Iterable[UttAlignment], eps: str = EPS) -> str:
    """The ``wer_details/per_utt`` text."""
    lines = []
    for a in alignments:
        ops = a.ops(eps)
        widths = [max(len(r), len(h), len(o)) for (r, h), o in zip(a.pairs, ops)]
        ref = "  ".join(_centre(r, w) for (r, _), w in zip(a.pairs, widths))
        hyp = "  ".join(_centre(h, w) for (_, h), w in zip(a.pairs, widths))
        op = "  ".join(_centre(o, w) for o, w in zip(ops, widths))
        c, s, i, d = a.csid(eps)
        lines += [f"{a.key} ref  {ref}", f"{a.key} hyp  {hyp}", f"{a.key} op   {op}", f"{a.key} #csid {c} {s} {i} {d}"]
    return "".join(line + "\n" for line in lines)


def format_per_spk(alignments: Sequence[UttAlignment], utt2spk: dict[str, str], eps: str = EPS) -> str:
    """The ``wer_details/per_spk`` text (speakers sorted, then the SUM rows)."""
    spk_width = max([15] + [len(s) for s in utt2spk.values()])
    stats: dict[str, np.ndarray] = {}
    for a in alignments:
        c, s, i, d = a.csid(eps)
        row = stats.setdefault(utt2spk.get(a.key, ""), np.zeros(6, dtype=np.int64))
        row += (c, s, i, d, 1, int(s + i + d != 0))

    def rows(name: str, v: np.ndarray) -> str:
        c, s, i, d, sent, serr = (int(x) for x in v)
        word, err = c + s + d, s + d + i
        raw = f"{name:<{spk_width}} raw " + " ".join(f"{x:10d}" for x in (sent, word, c, s, i, d, err, serr))
        out = raw + "\n"
        if word:
            pct = [100.0 * x / word for x in (c, s, i, d, err)] + [100.0 * serr / sent]
            out += f"{name:<{spk_width}} sys {sent:10d} {word:10d} " + " ".join(f"{x:10.2f}" for x in pct) + "\n"
        return out

    header = f"{'SPEAKER':<{spk_width}} id  " + " ".join(
        f"{h:>10}" for h in ("#SENT", "#WORD", "Corr", "Sub", "Ins", "Del", "Err", "S.Err")
    )
    text = header + "\n"
    total = np.zeros(6, dtype=np.int64)
    for spk in sorted(stats):
        text += rows(spk, stats[spk])
        total += stats[spk]
    return text + rows("SUM", total)


def format_ops(alignments: Iterable[UttAlignment], eps: str = EPS, max_width: int = 16) -> str:
    """The ``wer_details/ops`` text, sorted as ``score_kaldi.sh`` sorts it."""
    counts: Counter = Counter()
    for a in alignments:
        counts.update(a.pairs)
    if not counts:
        return ""
    word_len = min(max_width, max(max(len(r), len(h)) for r, h in counts))
    ops_len = max(len(str(n)) for n in counts.values())
    entries = []
    for (r, h), n in counts.items():
        kind = "correct" if r == h else "insertion" if r == eps else "deletion" if h == eps else "substitution"
        entries.append((kind, r, h, n))
    # sort -b -i -k1,1 -k4,4rn -k2,2 -k3,3 (LC_ALL=C in Kaldi's path.sh; -i ignores non-printing)
    entries.sort(key=lambda e: (e[0], -e[3], e[1].encode(), e[2].encode()))
    return "".join(
        f"{kind:<14}{r:>{word_len}}    {h:>{word_len}}    {n:>{ops_len}}\n" for kind, r, h, n in entries
    )


def bootstrap_wer_ci(
    errors: Sequence[int], words: Sequence[int], num_samples: int = 10000, seed: int = 0
) -> tuple[float, float, float]:
    """Bootstrap 95% confidence interval of the WER, resampling utterances (``compute-wer-bootci``).

    Returns:
        (WER, low, high) in percent. The interval comes from numpy's generator, so it matches Kaldi's
        (which uses C ``rand``) only in distribution, exactly only when every utterance is correct.
    """
    e = np.asarray(errors, dtype=np.float64)
    w = np.asarray(words, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(e), size=(num_samples, len(e)))
    with np.errstate(divide="ignore", invalid="ignore"):
        wers = 100.0 * e[idx].sum(1) / w[idx].sum(1)
        point = 100.0 * e.sum() / w.sum()
    return float(point), float(np.percentile(wers, 2.5)), float(np.percentile(wers, 97.5))


def format_bootci(point: float, low: float, high: float) -> str:
    """``Set1: %WER 0.00 95% Conf Interval [ 0.00, 0.00 ]``."""
    return f"Set1: %WER {point:.2f} 95% Conf Interval [ {low:.2f}, {high:.2f} ]\n"
