#!/usr/bin/env bash
# Default recipe: small LSTM and Transformer LMs on the AMI meeting transcripts bundled in ../../data/ami.
#
#   stage 0  prepare LM text       data/ami/{train,dev}/*.transcript.txt -> $exp/data/{train,dev}.txt
#                                  (Kaldi AMI normalisation: upper case, no punctuation, one sentence a line)
#   stage 1  vocabulary            $exp/lang/words.txt (Kaldi layout; words seen >= $min_count times, $unk)
#   stage 2  train LSTM LM         $exp/lm/lstm        (preset $lstm_config)
#   stage 3  train Transformer LM  $exp/lm/transformer (preset $transformer_config)
#   stage 4  evaluate              dev perplexities -> $exp/RESULTS.md (table also printed)
#   stage 5  quantize              each LM: post-training at $ptq_bits bits, and modified BP and ADMM
#                                  training at $train_bits bits -> $exp/quant/<lm>_<method><bits>
#   stage 6  quantization report   #bit, dev PPL, size, compression -> $exp/QUANT.md, $exp/size_ppl.png
#
# Later stages (n-best/lattice rescoring, scoring) continue from $exp/lm/*, $exp/quant/* and $exp/lang.
#
# Usage (from this directory, with kaldi-mpq installed by ../../local/install.sh):
#   ./run.sh                               # everything
#   ./run.sh --stage 2 --stop-stage 2      # only the LSTM
#   ./run.sh --lm-opts "--set train.epochs=2 --device cpu"
# A stage whose output directory holds .done is skipped; delete the directory to re-run it.

# ---- configuration ----------------------------------------------------------------------------------
stage=0
stop_stage=100
nj=2                          # parallel jobs of the later (rescoring) stages
corpus=../../data/ami         # train/ and dev/ meeting transcripts (raw AMI orthography)
exp=exp                       # all outputs
min_count=2                   # vocabulary cut-off
unk="<UNK>"                   # unknown-word symbol (Kaldi's AMI lang uses <unk>; either works)
lstm_config=lstm_tiny         # preset name or YAML file
transformer_config=transformer_tiny
lm_opts=""                    # extra train-lm options for both LMs, e.g. "--set train.epochs=2"
ptq_bits="8 4 2"              # post-training quantization
train_bits=2                  # quantization-aware training (bp, admm), 4 iterations x 50 steps
bp_opts="--lr 0.5"            # SGD step sizes on the presets' mean per-token loss
admm_opts="--gamma 0.2 --eta1 0.5 --eta2 0.5"
# ------------------------------------------------------------------------------------------------------

help_message="Usage: $0 [--stage N] [--stop-stage N] [--exp DIR] [--lm-opts '...'] (see the header of $0)"

. ./cmd.sh
. ./path.sh
. ../../local/parse_options.sh

set -euo pipefail

log() {
  # icefall's log(): time, file:line and function, then the message
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

if ! command -v kaldi-mpq >/dev/null; then
  log "kaldi-mpq not found: run 'bash local/install.sh' in the repository root, then activate .venv"
  exit 1
fi

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: prepare LM text from $corpus"
  dir=$exp/data
  if [ -f $dir/.done ]; then
    log "$dir/.done exists, skipping"
  else
    mkdir -p $dir
    for part in train dev; do
      kaldi-mpq prepare-text --format raw --normalize ami $corpus/$part/*.transcript.txt --out $dir/$part.txt
    done
    touch $dir/.done
  fi
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: vocabulary"
  dir=$exp/lang
  if [ -f $dir/.done ]; then
    log "$dir/.done exists, skipping"
  else
    mkdir -p $dir
    kaldi-mpq make-vocab --text $exp/data/train.txt --min-count $min_count --unk "$unk" --out $dir/words.txt
    touch $dir/.done
  fi
fi

train_lm() {
  # train_lm <name> <config>: train $exp/lm/<name> unless it is done
  local name=$1 config=$2 dir=$exp/lm/$1
  if [ -f $dir/.done ]; then
    log "$dir/.done exists, skipping"
    return
  fi
  mkdir -p $exp/lm/log
  # shellcheck disable=SC2086
  kaldi-mpq train-lm --config $config --train $exp/data/train.txt --valid $exp/data/dev.txt \
    --words $exp/lang/words.txt --unk "$unk" --out $dir --no-progress $lm_opts 2>&1 | tee $exp/lm/log/$name.log
  touch $dir/.done
}

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: train the LSTM LM ($lstm_config)"
  train_lm lstm $lstm_config
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: train the Transformer LM ($transformer_config)"
  train_lm transformer $transformer_config
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: dev perplexities"
  kaldi-mpq eval-lm --lm $exp/lm/lstm --lm $exp/lm/transformer --text $exp/data/dev.txt \
    --words $exp/lang/words.txt --unk "$unk" --markdown $exp/RESULTS.md
  kaldi-mpq eval-lm --lm $exp/lm/lstm --text $exp/data/dev.txt --mode stream --unk "$unk"
  log "Results (Markdown) in $exp/RESULTS.md:"
  cat $exp/RESULTS.md
fi

quantize() {
  # quantize <lm> <method> <bits> [options]: $exp/quant/<lm>_<method><bits> unless it is done
  local lm=$1 method=$2 bits=$3 dir=$exp/quant/$1_$2$3
  shift 3
  if [ -f $dir/.done ]; then
    log "$dir/.done exists, skipping"
    return
  fi
  mkdir -p $exp/quant/log
  local data=(--valid $exp/data/dev.txt)
  [ $method = ptq ] || data+=(--train $exp/data/train.txt --max-iters 4 --steps-per-iter 50)
  kaldi-mpq quantize --lm $exp/lm/$lm --method $method --bits $bits "${data[@]}" "$@" --out $dir \
    > $exp/quant/log/${lm}_$method$bits.log 2>&1 || { tail -n 5 $exp/quant/log/${lm}_$method$bits.log; exit 1; }
  tail -n 1 $exp/quant/log/${lm}_$method$bits.log
  touch $dir/.done
}

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: quantize the LMs (PTQ at $ptq_bits bits; BP and ADMM at $train_bits bits)"
  for lm in lstm transformer; do
    for bits in $ptq_bits; do quantize $lm ptq $bits; done
    # shellcheck disable=SC2086
    quantize $lm bp $train_bits $bp_opts
    # shellcheck disable=SC2086
    quantize $lm admm $train_bits $admm_opts
  done
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: quantization report on dev"
  models=()
  for lm in lstm transformer; do
    models+=($exp/lm/$lm)
    for bits in $ptq_bits; do models+=($exp/quant/${lm}_ptq$bits); done
    models+=($exp/quant/${lm}_bp$train_bits $exp/quant/${lm}_admm$train_bits)
  done
  kaldi-mpq quant-report --text $exp/data/dev.txt --markdown --plot $exp/size_ppl.png "${models[@]}" \
    > $exp/QUANT.md.tmp
  mv $exp/QUANT.md.tmp $exp/QUANT.md
  log "Quantized LMs (dev PPL, sentence mode; comp. ratio = the LM's fp32 size / file size; plot: $exp/size_ppl.png):"
  cat $exp/QUANT.md
fi
