#!/usr/bin/env bash
# Accuracy of quantized LMs: PTQ, ADMM and modified BP at several bit-widths against the fp32 model,
# the table of docs/quantization.md. Only kaldi-mpq sub-commands.
#
#   stage 0  PTQ   at $ptq_bits              -> $exp/ptq{N}$tag
#   stage 1  ADMM  at $admm_bits             -> $exp/admm{N}$tag   ($max_iters x $steps_per_iter steps)
#   stage 2  BP    at $bp_bits               -> $exp/bp{N}$tag     (same budget)
#   stage 3  quant-report on $test           -> $exp/RESULTS.md (markdown) and printed: the fp32 model
#            and every $exp/{ptq,admm,bp}* directory
#
# ADMM and BP read the training text as the fp32 model was trained (its config.yaml train: section;
# for the PTB LSTM: stream/BPTT batches of 20 x 35 with the LSTM state carried over).
# Training runs go $nj at a time, each with $threads torch threads; logs in $exp/log/.
# A run whose output directory exists is skipped (delete it to re-run).
#
# Usage (repository root, kaldi-mpq on PATH):
#   bench/quant_accuracy.sh --lm exp/ptb_lstm --train ptb.train.txt.gz --valid ptb.valid.txt.gz \
#       --test ptb.test.txt.gz --exp exp/ptb_lstm_quant
#   # a second ADMM setting beside the first, then the report of all:
#   bench/quant_accuracy.sh ... --stage 1 --admm-bits "2 1" --admm-opts "--gamma 0.5 --eta2 0.02" --tag _g0.5 \
#       --bp-bits ""
#   bench/quant_accuracy.sh ... --stage 1 --stop-stage 1 --admm-bits "2 1" --steps-per-iter 100 --max-iters 4

stage=0
stop_stage=3
lm=                       # fp32 LM checkpoint directory
train=                    # training text
valid=                    # validation text (iteration selection for ADMM / BP)
test=                     # test text (the report)
exp=                      # output directory
ptq_bits="1 2 4 8"
admm_bits="8 4 2 1"
bp_bits="2 1"
max_iters=4               # outer iterations (the best one on $valid is kept)
steps_per_iter=100        # SGD steps per iteration
patience=2
nj=2                      # training runs at once
threads=1                 # torch threads per run
quantize_opts=""          # extra kaldi-mpq quantize options, e.g. "--batching sentence --batch-size 32"
admm_opts=""              # extra options of the ADMM runs, e.g. "--gamma 0.5 --eta2 0.02"
bp_opts=""                # extra options of the BP runs, e.g. "--lr 0.05"
tag=""                    # suffix of the output directories of this call, e.g. _g0.5 -> admm2_g0.5

help_message="Usage: $0 --lm DIR --train TXT --valid TXT --test TXT --exp DIR [--stage N] [--stop-stage N]
  [--ptq-bits '1 2 4 8'] [--admm-bits '8 4 2 1'] [--bp-bits '2 1'] [--max-iters N] [--steps-per-iter N]
  [--nj N] [--threads N] [--quantize-opts '...'] [--admm-opts '...'] [--bp-opts '...'] [--tag SUFFIX]   (see the header of $0)"

. "$(dirname "$0")/../local/parse_options.sh"

set -euo pipefail

. "$(dirname "$0")/../local/log.sh"

require_options lm train valid test exp
command -v kaldi-mpq >/dev/null || { log "kaldi-mpq not found (activate the virtual environment)"; exit 1; }
mkdir -p $exp/log
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads

quantize() {
  # quantize <method> <bits>: $exp/<method><bits>$tag unless it exists
  local method=$1 bits=$2 out=$exp/$1$2$tag name=$1$2$tag
  if [ -d $out ]; then
    log "$out exists, skipping"
    return
  fi
  local data="--valid $valid"
  if [ $method != ptq ]; then
    data="--train $train --valid $valid --max-iters $max_iters --steps-per-iter $steps_per_iter --patience $patience"
  fi
  case $method in
    admm) data="$data $admm_opts" ;;
    bp) data="$data $bp_opts" ;;
  esac
  # shellcheck disable=SC2086
  kaldi-mpq quantize --lm $lm --method $method --bits $bits $data $quantize_opts --out $out \
    >$exp/log/$name.log 2>&1 || { log "FAILED: $out (see $exp/log/$name.log)"; return 1; }
  log "$(tail -n 1 $exp/log/$name.log)"
}

run_parallel() {
  # run_parallel <method> <bits...>: up to $nj runs at once; fails if any run failed
  local method=$1 failed=0
  shift
  for bits in "$@"; do
    [ -n "$bits" ] || continue
    while [ "$(jobs -rp | wc -l)" -ge $nj ]; do
      wait -n || failed=1
    done
    quantize $method $bits &
  done
  while [ "$(jobs -rp | wc -l)" -gt 0 ]; do
    wait -n || failed=1
  done
  wait || failed=1
  return $failed
}

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: PTQ at $ptq_bits bits"
  run_parallel ptq $ptq_bits
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: ADMM at $admm_bits bits ($max_iters x $steps_per_iter steps)"
  run_parallel admm $admm_bits
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: modified BP at $bp_bits bits ($max_iters x $steps_per_iter steps)"
  run_parallel bp $bp_bits
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: report on $test"
  dirs=$lm
  for m in ptq admm bp; do
    for d in $exp/$m[0-9]*; do
      [ -d $d ] && dirs="$dirs $d"
    done
  done
  # shellcheck disable=SC2086
  kaldi-mpq quant-report --text $test --markdown $dirs | tee $exp/RESULTS.md
fi
