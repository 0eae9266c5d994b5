"""The ``kaldi-mpq`` entry point: a table of sub-commands, nothing else.

Each sub-command is a module ``kaldi_mpq.bin.<name>`` defining ``add_arguments(parser)`` and
``main(args) -> int``. Modules are imported only when their command runs, so ``kaldi-mpq --help``
stays fast and does not import torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import shlex
import sys
from typing import Optional, Sequence

from kaldi_mpq import __version__
from kaldi_mpq.errors import KaldiMpqError

# name -> (module under kaldi_mpq.bin, one-line help). Ordered as the pipeline of DESIGN.md.
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare-text": ("prepare_text", "normalise corpus text (Kaldi text, lhotse, raw transcripts) to one sentence per line"),
    "make-vocab": ("make_vocab", "build a Kaldi words.txt from training text"),
    "train-ngram": ("train_ngram", "train a back-off Kneser-Ney n-gram LM (ARPA) on text"),
    "train-lm": ("train_lm", "train an LSTM or Transformer LM"),
    "eval-lm": ("eval_lm", "perplexity, OOV rate and speed of an LM on text"),
    "quantize": ("quantize", "quantize an LM (admm | bp | gq | ptq) to a packed low-bit model"),
    "sensitivity": ("sensitivity", "KL and Hessian sensitivity of every cluster at every bit-width"),
    "allocate": ("allocate", "choose bits per cluster: least summed sensitivity within a size budget"),
    "nas": ("nas", "search a mixed-precision plan with MP-NAS over uniform prototypes"),
    "quant-report": ("quant_report", "table of #bit, PPL, size and speed for a set of LMs"),
    "slf-to-lattice": ("slf_to_lattice", "convert HTK SLF lattices (e.g. pocketsphinx's) to a Kaldi lattice archive"),
    "lattice-copy": ("lattice_copy", "copy lattices between archive formats (like Kaldi's lattice-copy)"),
    "lattice-best-path": ("lattice_best_path", "1-best word sequences of lattices (like Kaldi's)"),
    "lattice-to-nbest": ("lattice_to_nbest", "n-best word sequences of lattices (like Kaldi's)"),
    "nbest-rescore": ("nbest_rescore", "rescore a decode dir's n-best lists with a neural LM"),
    "lattice-rescore": ("lattice_rescore", "rescore a decode dir's lattices with a neural LM"),
    "compute-wer": ("compute_wer", "WER of a hypothesis text against a reference (like Kaldi's)"),
    "score": ("score", "score a decode dir: LMWT x WIP sweep, best_wer, sclite"),
    "significance": ("significance", "MAPSSWE test between two systems"),
    "results-table": ("results_table", "one row per system: PPL, dev-tuned WERs, MAPSSWE marks, size (paper tables)"),
}

LOG_FORMAT = "%(asctime)s %(levelname)s [%(filename)s:%(lineno)d] %(message)s"


def _available_commands() -> dict[str, tuple[str, str]]:
    """The commands whose module exists in this installation."""
    import importlib.util

    return {
        name: spec
        for name, spec in COMMANDS.items()
        if importlib.util.find_spec(f"kaldi_mpq.bin.{spec[0]}") is not None
    }


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show an option's default unless it is ``None`` or its help already says what it is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or "default" in text:
            return text
        return super()._get_help_string(action)


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The top-level parser; only ``command``'s module is imported to add its options."""
    parser = argparse.ArgumentParser(
        prog="kaldi-mpq",
        description="Quantized neural LMs for Kaldi: train, quantize, rescore, score.",
    )
    parser.add_argument("--version", action="version", version=f"kaldi-mpq {__version__}")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (module_name, help_text) in _available_commands().items():
        p = sub.add_parser(
            name, help=help_text, description=help_text,
            formatter_class=_HelpFormatter,
        )
        if name == command:
            module = importlib.import_module(f"kaldi_mpq.bin.{module_name}")
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def _find_command(argv: Sequence[str]) -> Optional[str]:
    for a in argv:
        if not a.startswith("-"):
            return a
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_find_command(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format=LOG_FORMAT, force=True
    )
    if args.command is None:
        parser.print_help()
        return 0
    logging.getLogger("kaldi_mpq").info("kaldi-mpq %s", shlex.join(argv))
    try:
        return int(args._module.main(args) or 0)
    except KaldiMpqError as e:
        if args.verbose:
            raise
        print(f"kaldi-mpq {args.command}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # unwritable or full output disk, a vanished input: one line, not a traceback
        if args.verbose:
            raise
        print(f"kaldi-mpq {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"kaldi-mpq {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
