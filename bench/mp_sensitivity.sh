#!/usr/bin/env bash
# Mixed precision by KL and Hessian sensitivity against uniform 2-bit, the table of docs/quantization.md
# ("Mixed precision"). Only kaldi-mpq sub-commands.
#
#   stage 0  prototypes (uniform $proto_bits-bit, $proto_method) into $exp/protos, then the KL and
#            Hessian tables of every cluster into $exp/sens         (kaldi-mpq sensitivity)
#   stage 1  plans at <= $avg_bits average bits from each table     (kaldi-mpq allocate)
#            -> $exp/plan_{kl,hessian_avg,hessian}
#   stage 2  fine-tuning with $method, the same budget for every plan, each cluster starting from the
#            prototype of its bit-width: uniform $avg_bits-bit, and the KL / Hessian plans
#            -> $exp/{uniform,kl,hessian_avg,hessian}
#   stage 3  quant-report on $test (+ size-vs-PPL plot and bits-per-cluster plots) -> $exp/RESULTS.md
#
# Usage (repository root, kaldi-mpq on PATH):
#   bench/mp_sensitivity.sh --lm exp/ptb/lstm_2x200 --train ptb.train.txt.gz --valid ptb.valid.txt.gz \
#       --test ptb.test.txt.gz --exp exp/ptb/lstm_mp

stage=0
stop_stage=3
lm=
train=
valid=
test=
exp=
proto_bits="1,2,4,8"
proto_method=auto         # auto | bp | admm | ptq
proto_opts=""             # e.g. "--max-iters 1 --steps-per-iter 10 --lr 0.02"
sens_opts=""              # e.g. "--probes 50 --sentences 32"
avg_bits=2
method=bp                 # fine-tuning method of every plan
max_iters=2
steps_per_iter=20
quantize_opts=""          # e.g. "--lr 0.02"
report_opts=""            # e.g. "--timing-passes 1"

. "$(dirname "$0")/../local/parse_options.sh"

set -euo pipefail

log() {
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${0##*/}:${BASH_LINENO[0]}) $*"
}

for v in lm train valid test exp; do
  [ -n "${!v}" ] || { echo "$0: --$v is required" >&2; exit 1; }
done
mkdir -p $exp/log
metrics="kl hessian_avg hessian"

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: prototypes and sensitivity tables"
  # shellcheck disable=SC2086
  kaldi-mpq sensitivity --lm $lm --prototypes $exp/protos --train $train --valid $valid --out $exp/sens \
    --bits $proto_bits --method $proto_method $proto_opts $sens_opts 2>&1 | tee $exp/log/sensitivity.log | tail -n 3
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: plans at <= $avg_bits bits"
  for m in $metrics; do
    kaldi-mpq allocate --table $exp/sens/$m.yaml --avg-bits $avg_bits --bits $proto_bits \
      --prototypes $exp/protos --out $exp/plan_$m | tail -n 1
  done
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: $method fine-tuning, $max_iters x $steps_per_iter steps per plan"
  tune() {  # tune <name> <plan options>
    local name=$1
    shift
    [ -d $exp/$name ] && { log "$exp/$name exists, skipping"; return; }
    # shellcheck disable=SC2086
    kaldi-mpq quantize --lm $lm --method $method "$@" --init-from $exp/protos --train $train --valid $valid \
      --max-iters $max_iters --steps-per-iter $steps_per_iter $quantize_opts --out $exp/$name \
      >$exp/log/$name.log 2>&1 || { log "FAILED: $exp/$name (see $exp/log/$name.log)"; return 1; }
    log "$(tail -n 1 $exp/log/$name.log)"
  }
  tune uniform$avg_bits --bits $avg_bits
  for m in $metrics; do
    tune $m --plan $exp/plan_$m/plan.yaml
  done
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: report on $test"
  dirs="$lm $exp/uniform$avg_bits"
  for m in $metrics; do
    dirs="$dirs $exp/$m"
  done
  # shellcheck disable=SC2086
  kaldi-mpq quant-report --text $test --markdown --paper-table --plot $exp/size_ppl.png \
    --plot-bits $exp/bits $report_opts $dirs | tee $exp/RESULTS.md
fi
