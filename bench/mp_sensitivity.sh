#!/usr/bin/env bash
# Mixed precision by KL and Hessian sensitivity against uniform 2-bit, the table of docs/quantization.md
# ("Mixed precision"). Only kaldi-mpq sub-commands.
#
#   stage 0  prototypes (uniform $proto_bits-bit, $proto_method) into $protos, then the KL and
#            Hessian tables of every cluster into $sens             (kaldi-mpq sensitivity)
#   stage 1  plans within the budget from each table of $metrics (kaldi-mpq allocate) -> $exp/plan_<metric>:
#            <= $avg_bits average bits, or with --budget uniform_mb <= the packed file of the uniform
#            $avg_bits-bit model (fine-tuned here first); with --nas true also the MP-NAS plan searched
#            with $nas_opts and held to the same budget (kaldi-mpq nas --avg-bits / --mb) -> $exp/plan_nas
#   stage 2  fine-tuning with $method, the same budget for every plan, each cluster starting from the
#            prototype of its bit-width: uniform $avg_bits-bit, the plans of stage 1
#            -> $exp/{uniform$avg_bits,<metric>$suffix,nas$suffix}; with --gq true also GQ at $avg_bits
#            bits from the float model with the same iterations x steps -> $exp/gq$avg_bits
#   stage 3  quant-report on $test (+ size-vs-PPL plot and bits-per-cluster plots) -> $exp/RESULTS.md
#
# $protos and $sens default to $exp/protos and $exp/sens; bench/mp_table.sh shares one pair between
# the runs at several budgets (--protos, --sens, --suffix).
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
protos=                   # default $exp/protos
sens=                     # default $exp/sens
metrics="kl hessian_avg hessian"
suffix=""                 # appended to the names of the fine-tuned plan directories (e.g. kl2)
nas=false                 # also an MP-NAS plan within the budget
nas_opts=""               # e.g. "--beta 1 --max-iters 1 --steps-per-iter 100"
gq=false                  # also GQ at $avg_bits bits (an integer bit-width) with the same budget
gq_opts=""                # e.g. "--lr 0.02"
proto_bits="1,2,4,8"
proto_method=auto         # auto | bp | admm | ptq
proto_opts=""             # e.g. "--max-iters 1 --steps-per-iter 10 --lr 0.02"
sens_opts=""              # e.g. "--probes 50 --sentences 32"
avg_bits=2
budget=avg_bits           # avg_bits: <= $avg_bits average bits; uniform_mb: <= the packed file of uniform
                          # $avg_bits-bit (its header is smaller than a mixed plan's, so this is the
                          # stricter of the two), which needs the uniform model first
method=bp                 # fine-tuning method of every plan
max_iters=2
steps_per_iter=20
quantize_opts=""          # e.g. "--lr 0.02"
report_opts=""            # e.g. "--timing-passes 1"

. "$(dirname "$0")/../local/parse_options.sh"

set -euo pipefail

. "$(dirname "$0")/../local/log.sh"
require_options lm train valid test exp
case $budget in avg_bits|uniform_mb) ;; *) echo "$0: --budget must be avg_bits or uniform_mb" >&2; exit 1 ;; esac

tune() {  # tune <name> <quantize options>
  local name=$1
  shift
  [ -d $exp/$name ] && { log "$exp/$name exists, skipping"; return; }
  # shellcheck disable=SC2086
  kaldi-mpq quantize --lm $lm "$@" --train $train --valid $valid \
    --max-iters $max_iters --steps-per-iter $steps_per_iter --out $exp/$name \
    >$exp/log/$name.log 2>&1 || { log "FAILED: $exp/$name (see $exp/log/$name.log)"; return 1; }
  log "$(tail -n 1 $exp/log/$name.log)"
}

uniform_tune() {  # the uniform $avg_bits-bit model, fine-tuned from its prototype like every plan
  # shellcheck disable=SC2086
  tune uniform$avg_bits --method $method --bits $avg_bits --init-from $protos $quantize_opts
}

protos=${protos:-$exp/protos}
sens=${sens:-$exp/sens}
mkdir -p $exp/log
plans="$metrics"
$nas && plans="$plans nas"

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: prototypes and sensitivity tables"
  # shellcheck disable=SC2086
  kaldi-mpq sensitivity --lm $lm --prototypes $protos --train $train --valid $valid --out $sens \
    --bits $proto_bits --method $proto_method $proto_opts $sens_opts 2>&1 | tee $exp/log/sensitivity.log | tail -n 3
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  if [ $budget = uniform_mb ]; then
    uniform_tune
    size=$(stat -c %s $exp/uniform$avg_bits/model.packed.safetensors)
    limit="--mb $(awk -v b=$size 'BEGIN { printf "%.6f", b / 1e6 }')"
  else
    limit="--avg-bits $avg_bits"
  fi
  log "Stage 1: plans within $limit"
  for m in $metrics; do
    # shellcheck disable=SC2086
    kaldi-mpq allocate --table $sens/$m.yaml $limit --bits $proto_bits \
      --prototypes $protos --out $exp/plan_$m | tail -n 1
  done
  if $nas; then
    mkdir -p $exp/plan_nas
    # shellcheck disable=SC2086
    kaldi-mpq nas --lm $lm --prototypes $protos --train $train --valid $valid --bits $proto_bits \
      $limit $nas_opts --out $exp/plan_nas/plan.yaml 2>$exp/log/nas.log | tail -n 1
  fi
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: $method fine-tuning, $max_iters x $steps_per_iter steps per plan"
  uniform_tune
  for m in $plans; do
    # shellcheck disable=SC2086
    tune $m$suffix --method $method --plan $exp/plan_$m/plan.yaml --init-from $protos $quantize_opts
  done
  # shellcheck disable=SC2086
  if $gq; then tune gq$avg_bits --method gq --bits $avg_bits $gq_opts; fi
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: report on $test"
  dirs="$lm $exp/uniform$avg_bits"
  for m in $plans; do
    dirs="$dirs $exp/$m$suffix"
  done
  if $gq; then dirs="$dirs $exp/gq$avg_bits"; fi
  # shellcheck disable=SC2086
  kaldi-mpq quant-report --text $test --markdown --paper-table --plot $exp/size_ppl.png \
    --plot-bits $exp/bits $report_opts $dirs | tee $exp/RESULTS.md
fi
