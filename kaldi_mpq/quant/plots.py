"""Pictures of a quantization report: model size against perplexity, one series per method.

The papers' trade-off (how much perplexity each halving of the size costs, and which method holds up at
1-2 bits) is easier to read from one plot than from the table: ``kaldi-mpq quant-report --plot``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from kaldi_mpq.extras import import_extra
from kaldi_mpq.fileio import Pathlike, atomic_write

if TYPE_CHECKING:  # annotations only: the report module draws with these functions
    from kaldi_mpq.quant.pipeline import ReportRow

_MARKERS = {"fp32": "*", "ptq": "s", "admm": "o", "bp": "^"}


def pyplot():
    """matplotlib's pyplot drawing into files only (no display needed on a cluster node); a missing
    matplotlib is a :class:`~kaldi_mpq.errors.MissingExtraError` naming the ``plot`` extra."""
    matplotlib = import_extra("matplotlib", extra="plot", feature="plotting (quant-report --plot)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Pathlike) -> None:
    """Save a figure atomically in the format of the path's suffix (png by default) and close it."""
    plt = pyplot()
    fmt = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else "png"
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format=fmt)
    plt.close(fig)


def plot_plan_bits(clusters: Sequence[str], bits: Sequence[int], sizes: Sequence[int], path: Pathlike,
                   title: str = "") -> None:
    """Bits of every cluster of a plan as bars (32 = fp32), in model order, with the parameter-weighted
    average as a line: where a mixed plan spends its bits."""
    import numpy as np

    plt = pyplot()

    bits_a, sizes_a = np.asarray(bits, dtype=float), np.asarray(sizes, dtype=float)
    fig, ax = plt.subplots(figsize=(max(6.4, 0.28 * len(clusters)), 4.0))
    ax.bar(range(len(clusters)), bits_a, color=[f"C{int(np.log2(b)) % 10}" for b in bits_a])
    avg = float((bits_a * sizes_a).sum() / max(sizes_a.sum(), 1))
    ax.axhline(avg, color="k", linestyle="--", linewidth=1, label=f"average {avg:.2f} bits (parameter-weighted)")
    ax.set_xticks(range(len(clusters)))
    ax.set_xticklabels(clusters, rotation=90, fontsize=7)
    ax.set_yscale("log", base=2)
    ax.set_ylabel("bits")
    ax.set_title(title or "bits per cluster")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def plot_size_vs_ppl(rows: Sequence[ReportRow], path: Pathlike, title: str = "") -> None:
    """Write a PNG/PDF/SVG (by ``path``'s suffix) of size (MB, log scale) against perplexity (log
    scale when it spans more than 3x); each point is labelled with its bit-width; the points of one
    method on one float model (``ReportRow.family``) are joined in order of size."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    families = list(dict.fromkeys(r.family for r in rows))
    methods = list(dict.fromkeys(r.method for r in rows))
    colors = {m: f"C{i}" for i, m in enumerate(methods)}
    for fi, family in enumerate(families):
        for method in methods:
            pts = sorted((r for r in rows if r.method == method and r.family == family), key=lambda r: r.size_mb)
            if not pts:
                continue
            label = method if len(families) == 1 else f"{family}: {method}"
            ax.plot([r.size_mb for r in pts], [r.ppl for r in pts], marker=_MARKERS.get(method, "D"),
                    color=colors[method], linestyle=("-", "--", ":", "-.")[fi % 4] if len(pts) > 1 else "none",
                    label=label, markersize=9 if method == "fp32" else 6)
            for r in pts:
                ax.annotate(f"{r.bits}", (r.size_mb, r.ppl), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("model size (MB, log scale)")
    ppls = [r.ppl for r in rows]
    if max(ppls) > 3 * min(ppls):  # 1-bit models next to fp32: a linear axis flattens the good ones
        ax.set_yscale("log")
        ax.set_ylabel("perplexity (log scale)")
    else:
        ax.set_ylabel("perplexity")
    ax.set_title(title or "size vs perplexity (labels: bits per weight)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8 if len(families) > 1 else None)
    fig.tight_layout()
    save_figure(fig, path)
