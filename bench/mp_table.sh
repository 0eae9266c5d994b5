#!/usr/bin/env bash
# Every quantization method of docs/quantization.md ("PTB: all methods at ~2 and ~4 bits") on one fp32 LM,
# in one table in the layout of paper 2's Table 2. Only kaldi-mpq sub-commands, through
# bench/mp_sensitivity.sh for the per-budget runs.
#
#   stage 0  prototypes (uniform $proto_bits-bit) and the KL / Hessian tables, once, into
#            $exp/protos and $exp/sens                                (kaldi-mpq sensitivity)
#   stage 1  at each target N of $targets bits, into $exp/bN: uniform N-bit (the prototype fine-tuned),
#            the KL and Hessian plans (kaldi-mpq allocate) and the MP-NAS plan (kaldi-mpq nas) within
#            the budget, each fine-tuned with $method and the same $max_iters x $steps_per_iter from the
#            prototypes, and GQ at N bits from the float model with the same iterations x steps.
#            Budget (--budget): uniform_mb (default) = at most the packed file of the uniform N-bit model,
#            which also keeps the plans under N average bits (a mixed plan's header is larger);
#            avg_bits = at most N average bits (--avg-bits), whose files can be a few hundred bytes
#            larger than uniform's
#                                                                     (bench/mp_sensitivity.sh stages 1-2)
#   stage 2  one quant-report on $test (sentence mode): the fp32 row and every row above
#            -> $exp/RESULTS.md (report + paper-2-style table), $exp/report.json, $exp/size_ppl.png,
#            $exp/bits/<model>.png
#
# Usage (repository root, kaldi-mpq on PATH):
#   bench/mp_table.sh --lm exp/ptb/lstm --train ptb.train.txt.gz --valid ptb.valid.txt.gz \
#       --test ptb.test.txt.gz --exp exp/ptb/lstm_table

stage=0
stop_stage=2
lm=
train=
valid=
test=
exp=
targets="2 4"
budget=uniform_mb         # uniform_mb | avg_bits (see stage 1)
metrics="kl hessian_avg"  # sensitivity tables that choose plans (hessian: paper 1's unaveraged trace;
                          # hessian_diag: per-weight curvature)
nas=true                  # the MP-NAS rows (false: leave them out)
gq=true                   # the GQ rows (false: leave them out)
proto_bits="1,2,4,8"
proto_method=auto         # auto | bp | admm | ptq
proto_opts=""             # e.g. "--max-iters 1 --steps-per-iter 10 --lr 0.02"
sens_opts=""              # e.g. "--probes 50 --sentences 32"
nas_opts=""               # e.g. "--beta 1 --max-iters 1 --steps-per-iter 100"
method=bp                 # fine-tuning method of every plan
max_iters=2
steps_per_iter=20
quantize_opts=""          # e.g. "--lr 0.02" (the BP runs)
gq_opts=""                # e.g. "--lr 0.02" (the GQ runs)
report_opts=""            # e.g. "--timing-passes 1"

. "$(dirname "$0")/../local/parse_options.sh"

set -euo pipefail

. "$(dirname "$0")/../local/log.sh"
require_options lm train valid test exp
mkdir -p $exp/log
mp="$(dirname "$0")/mp_sensitivity.sh"
common=(--lm $lm --train $train --valid $valid --test $test --protos $exp/protos --sens $exp/sens
        --proto-bits $proto_bits)

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: prototypes and sensitivity tables"
  start=$(date +%s)
  $mp "${common[@]}" --exp $exp --stage 0 --stop-stage 0 --proto-method $proto_method \
    --proto-opts "$proto_opts" --sens-opts "$sens_opts"
  log "stage 0: $(( $(date +%s) - start )) s"
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  for n in $targets; do
    log "Stage 1: $n bits"
    start=$(date +%s)
    $mp "${common[@]}" --exp $exp/b$n --stage 1 --stop-stage 2 --avg-bits $n --budget $budget --metrics "$metrics" --suffix $n \
      --nas $nas --nas-opts "$nas_opts" --gq $gq --gq-opts "$gq_opts" --method $method --max-iters $max_iters \
      --steps-per-iter $steps_per_iter --quantize-opts "$quantize_opts"
    log "stage 1 at $n bits: $(( $(date +%s) - start )) s"
  done
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: report on $test"
  dirs="$lm"
  for n in $targets; do
    dirs="$dirs $exp/b$n/uniform$n"
    for m in $metrics; do
      dirs="$dirs $exp/b$n/$m$n"
    done
    if $nas; then dirs="$dirs $exp/b$n/nas$n"; fi
    if $gq; then dirs="$dirs $exp/b$n/gq$n"; fi
  done
  start=$(date +%s)
  # shellcheck disable=SC2086
  kaldi-mpq quant-report --text $test --markdown --paper-table --json $exp/report.json --plot $exp/size_ppl.png \
    --plot-bits $exp/bits $report_opts $dirs | tee $exp/RESULTS.md
  log "stage 2: $(( $(date +%s) - start )) s"
fi
