"""Train an LSTM or Transformer LM on text, writing a checkpoint directory after every epoch.

Usage:
    kaldi-mpq train-lm --config lstm_2x200 --train ptb.train.txt --valid ptb.valid.txt --out exp/lstm
    kaldi-mpq train-lm --config conf/my_lm.yaml --set train.lr=0.5 --set model.dropout=0.2 \\
        --train data/train/text --valid data/dev/text --words data/lang/words.txt --unk '<UNK>' --out exp/lm
    kaldi-mpq train-lm --config lstm_2x200 --train T --valid V --out exp/lstm --resume   # after a kill
    kaldi-mpq train-lm --list-presets
    torchrun --nproc_per_node 4 $(which kaldi-mpq) train-lm --config lstm_2x1024 --train T --valid V --out D

Under torchrun each process trains on cuda:LOCAL_RANK (or the CPU with --device cpu) on its share of the
rows of every batch; train.batch_size stays the global batch, so the result matches one process.

The output directory holds config.yaml, words.txt and model.safetensors (the best validation epoch)
plus train_state.pt (for --resume). Without --words the vocabulary is every word of the training text.
Until the run ends its config.yaml says ``state: {finished: false}``, and every command that loads the
weights (eval-lm, quantize, rescoring...) refuses the directory, naming it and the epochs done; resume the
run, or set KALDI_MPQ_ALLOW_PARTIAL=1 to use a mid-run checkpoint anyway.
"""

from __future__ import annotations

import argparse

from kaldi_mpq.bin.argtypes import non_negative_int

from kaldi_mpq.text.corpus import FORMATS
from kaldi_mpq.text.normalize import NORMALIZERS
from kaldi_mpq.text.symbols import DEFAULT_UNK


def add_text_arguments(parser: argparse.ArgumentParser, unk: bool = True) -> None:
    """Options shared by the text and LM commands: text format, normaliser (and the unk symbol)."""
    parser.add_argument("--format", default="auto", choices=FORMATS, help="text format")
    parser.add_argument("--normalize", default="none", choices=sorted(NORMALIZERS), help="text normaliser")
    if unk:
        parser.add_argument("--unk", default=DEFAULT_UNK, help="unknown-word symbol of words.txt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="preset name (see --list-presets) or YAML file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. train.lr=0.5 (repeatable)")
    parser.add_argument("--train", help="training text")
    parser.add_argument("--valid", help="validation text")
    parser.add_argument("--words", help="Kaldi words.txt (default: built from the training text)")
    parser.add_argument("--out", help="checkpoint directory")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--seed", type=non_negative_int, help="random seed (overrides train.seed)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N (overrides train.device; default: auto)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list-presets", action="store_true", help="list the shipped presets and exit")
    add_text_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from kaldi_mpq.errors import ConfigError
    from kaldi_mpq.lm.config import load_config, preset_names
    from kaldi_mpq.lm.distributed import is_main_process
    from kaldi_mpq.lm.pipeline import TextOptions, train_lm_files

    if args.list_presets:
        print("\n".join(preset_names()))
        return 0
    missing = [o for o in ("config", "train", "valid", "out") if getattr(args, o) is None]
    if missing:
        raise ConfigError("train-lm needs " + ", ".join(f"--{o}" for o in missing))
    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    if args.device is not None:
        overrides.append(f"train.device={args.device}")
    config = load_config(args.config, overrides)
    result = train_lm_files(
        config, train=args.train, valid=args.valid, out_dir=args.out, words=args.words, unk=args.unk,
        text=TextOptions(format=args.format, normalize=args.normalize), resume=args.resume,
        progress=not args.no_progress,
    )
    if is_main_process():
        print(f"{args.out}: best valid ppl {result.best_valid_ppl:.2f} at epoch {result.best_epoch} "
              f"of {len(result.history) and result.history[-1].epoch}")
    return 0
