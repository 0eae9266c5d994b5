#!/usr/bin/env bash
# AMI mini recipe: rescore real first-pass lattices of AMI sentences with LSTM and Transformer LMs, their
# low-bit and mixed-precision quantized versions, and print a results table laid out as paper 1's Tables V/VI.
#
# The first pass is committed in ../../data/ami_mini: AMI dev and eval sentences synthesised with flite
# (several voices), decoded by pocketsphinx with a 3-gram trained on the AMI train meetings, as Kaldi
# decode dirs whose graph costs are that 3-gram's costs (see ../../data/ami_mini/README).
#
#   stage 0  data and first pass   data/local/lm/{train,dev}.txt (normalised LM text of the train / dev
#                                  meetings), data/lang/{words.txt,lm_3gram.arpa.gz} (the 3-gram rebuilt
#                                  and checked against the committed checksum), data/{dev,eval},
#                                  exp/first_pass/decode_{dev,eval} (copies of the committed first pass, or
#                                  with --regenerate-first-pass true made anew by local/make_first_pass.sh)
#   stage 1  train the LMs                exp/lm/{lstm,transformer}           (conf/$lstm_config, ...)
#   stage 2  quantize                     exp/quant/<lm>/{protos,sens}: 1/2/4/8-bit prototypes (the better
#            of BP and ADMM per bit-width) with KL and Hessian sensitivities; exp/quant/<id> for every
#            system of $systems (conf/quant_systems.txt: uniform, ptq, kl/hessian plans, nas, gq)
#   stage 3  rescore dev and eval         exp/rescore/nbest_w<W>/<id>/decode_<set> for W in $nbest_weights,
#            exp/rescore/lattice_w<W>/<id>/decode_<set> for W in $lattice_weights (3-gram removed, linear
#            interpolation with it at weight W)
#   stage 4  score                        every decode dir: LMWT x WIP sweep (scoring_kaldi/, wer_L_P)
#   stage 5  results                      exp/results/report_<lm>.json (quant-report per LM, side by side),
#            exp/results/ngram_ppl.json (eval-lm: the 3-gram's PPL), exp/results/systems.tsv,
#            exp/RESULTS.md + exp/results/table.txt (kaldi-mpq results-table: LMWT, WIP and the weight
#            tuned on dev, applied to eval; MAPSSWE marks), plots in exp/results/plots; the table is printed
#
# Usage (from this directory, after 'bash local/install.sh' in the repository root):
#   ./run.sh                      # everything (about 25 minutes on 2 CPU cores; see README.md)
#   ./run.sh --quick              # tiny presets, 3000 training sentences, few systems: a few minutes
#   ./run.sh --stage 3 --stop-stage 4 --nbest-weights "0.5"
#   ./run.sh --stage 0 --stop-stage 0 --regenerate-first-pass true   # synthesise and decode again (needs
#                                 # flite, sox, pocketsphinx: apt-get install -y flite sox;
#                                 # pip install 'kaldi-mpq[first-pass]')
# Every stage skips what is done (a .done file, or scoring_kaldi/best_wer) and says so; delete an output
# directory to redo it. Jobs run through $train_cmd / $decode_cmd (cmd.sh), split as the decode dirs' num_jobs.

# ---- configuration ----------------------------------------------------------------------------------
stage=0
stop_stage=100
nj=2                              # jobs run at once on this machine (the lattices come in num_jobs parts)
corpus=../../data/ami             # transcripts/<MEETING>.transcript.txt, lists/{train,dev,eval}.txt
first_pass=../../data/ami_mini    # the committed first pass (lang/words.txt, {dev,eval}, decode_{dev,eval})
regenerate_first_pass=false       # true: run local/make_first_pass.sh instead of copying $first_pass
first_pass_config=conf/first_pass.conf
quick=false                   # --quick: conf/quick.conf first (tiny presets, fewer systems, smaller n)
lstm_config=conf/lstm.yaml    # LM presets (train-lm --config)
transformer_config=conf/transformer.yaml
lms="lstm transformer"
train_lines=0                 # LM training text: the first N sentences of data/local/lm/train.txt (0: all)
systems=conf/quant_systems.txt
proto_bits=1,2,4,8            # prototype bit-widths (uniform systems, sensitivities, NAS)
proto_opts="--max-iters 2 --steps-per-iter 40 --patience 1"   # prototype training, per method and bit-width
nas_opts="--max-iters 1 --steps-per-iter 40"   # kaldi-mpq nas search budget
sens_opts="--probes 20 --word-bands 1000,3000"   # kaldi-mpq sensitivity (KL and Hessian on one mini-batch
                              # of 32 sentences); word bands: the embedding / output rows of the 1,000 most
                              # frequent words, the next 2,000 and the rest are clusters of their own, in
                              # every system trained from the prototypes (docs/quantization.md, "Word bands")
valid_lines=2000              # validation sentences of LM training and quantization (dev.txt head; 0: all)
nbest=20                      # n-best rescoring: hypotheses per utterance
nbest_weights="0.5 0.7"       # neural LM weights; the first is the papers' equal-weight condition, all of
                              # them together the dev-tuned one
lattice_weights="0.5"         # the same for lattice rescoring
min_lmwt=7 max_lmwt=17 word_ins_penalty=0.0,0.5,1.0
report_lines=0                # quant-report (PPL, ms/word) on the first N sentences of dev.txt (0: all)
report_passes=2               # quant-report timing passes (the fastest counts)
# ------------------------------------------------------------------------------------------------------

help_message="Usage: $0 [--quick] [--stage N] [--stop-stage N] [--regenerate-first-pass true|false] [--<option> VALUE] (see the header of $0)"

args=()
for a in "$@"; do
  if [ "$a" = --quick ]; then quick=true; else args+=("$a"); fi
done
set -- ${args[@]+"${args[@]}"}
if [ "$quick" = true ]; then
  . conf/quick.conf
fi

. ./cmd.sh
. ./path.sh
. ../../local/parse_options.sh

set -euo pipefail

. ../../local/log.sh

if ! command -v kaldi-mpq >/dev/null; then
  log "kaldi-mpq not found: run 'bash local/install.sh' in the repository root, then activate .venv"
  exit 1
fi

# the vocabulary and first-pass LM settings of local/make_first_pass.sh (read, not sourced: its other
# variables, such as nj and acwt, are the first pass's, not this script's)
read -r vocab_min_count lm_order first_pass_unk < <(. $first_pass_config; echo "$vocab_min_count $lm_order $unk")

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: LM text, lang dir with the first-pass 3-gram, data dirs and first-pass lattices"
  if [ -f data/.done ] && [ -f exp/first_pass/.done ]; then
    log "data/.done and exp/first_pass/.done exist, skipping"
  else
    mkdir -p data/local/lm data/lang exp/first_pass/log
    for part in train dev; do
      kaldi-mpq prepare-text --format raw --normalize ami \
        $(sed "s|.*|$corpus/transcripts/&.transcript.txt|" $corpus/lists/$part.txt) --out data/local/lm/$part.txt
    done
    if $regenerate_first_pass; then
      src=exp/first_pass/new
      log "Regenerating the first pass in $src (flite, sox, pocketsphinx)"
      kaldi-mpq make-vocab --text data/local/lm/train.txt --min-count $vocab_min_count --unk "$first_pass_unk" \
        --out $src/lang/words.txt
    else
      src=$first_pass
    fi
    cp $src/lang/words.txt data/lang/words.txt
    cmd=$train_cmd
    . ../../local/run_jobs.sh
    run_jobs 1 exp/first_pass/log/train_ngram.log kaldi-mpq train-ngram --text data/local/lm/train.txt \
      --order $lm_order --words data/lang/words.txt --unk "$first_pass_unk" --out data/lang/lm_3gram.arpa.gz
    if $regenerate_first_pass; then
      local/make_first_pass.sh --config $first_pass_config --cmd "$train_cmd" data/lang/words.txt \
        data/lang/lm_3gram.arpa.gz $corpus/transcripts $corpus/lists $src
      (cd data/lang && sha256sum lm_3gram.arpa.gz) > $src/lm_3gram.arpa.gz.sha256
      log "New first pass in $src (commit it as $first_pass: copy lang, dev, eval, decode_*, lm_3gram.arpa.gz.sha256)"
    else
      [ -f $src/lm_3gram.arpa.gz.sha256 ] || { log "$src/lm_3gram.arpa.gz.sha256 is missing"; exit 1; }
      expected=$(awk '{print $1}' $src/lm_3gram.arpa.gz.sha256)
      actual=$(sha256sum data/lang/lm_3gram.arpa.gz | awk '{print $1}')
      if [ "$actual" != "$expected" ]; then
        log "data/lang/lm_3gram.arpa.gz (sha256 $actual) is not the 3-gram the committed lattices were decoded" \
            "with ($expected, $src/lm_3gram.arpa.gz.sha256): their graph costs would not be this LM's and" \
            "removing it in rescoring would be wrong. Check the kaldi-mpq and kaldingram versions, or" \
            "run with --regenerate-first-pass true"
        exit 1
      fi
    fi
    for set in dev eval; do
      rm -rf data/$set exp/first_pass/decode_$set
      cp -r $src/$set data/$set
      mkdir -p exp/first_pass/decode_$set
      cp $src/decode_$set/num_jobs $src/decode_$set/lat.*.gz exp/first_pass/decode_$set/
    done
    touch data/.done exp/first_pass/.done
  fi
fi

. ../../local/run_jobs.sh
job() {
  # job <cmd> <log> <command...>: one job through the launcher <cmd> (run here when it is not found)
  local cmd=$1
  shift
  run_jobs 1 "$@"
}

in_parallel() {
  # in_parallel <function> <arg...>: "<function> <arg>" for every arg, $nj side by side (every job is
  # single-threaded: path.sh), each in a subshell; stops the recipe when one failed
  local fn=$1 a i pids=() names=() failed=()
  shift
  for a in "$@"; do
    ( $fn $a ) &
    pids+=($!) names+=($a)
    if [ ${#pids[@]} -ge $nj ]; then
      # wait for the oldest before starting another
      wait ${pids[0]} || failed+=(${names[0]})
      pids=("${pids[@]:1}") names=("${names[@]:1}")
    fi
  done
  for i in "${!pids[@]}"; do wait ${pids[$i]} || failed+=(${names[$i]}); done
  if [ ${#failed[@]} -gt 0 ]; then
    log "$fn failed for: ${failed[*]} (see the logs named above)"
    exit 1
  fi
}

lang=data/lang
words=$lang/words.txt
ngram=$lang/lm_3gram.arpa.gz
sets="dev eval"

lmdata=exp/lm/data
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: train the LMs ($lms)"
  if [ -f $lmdata/.done ]; then
    log "$lmdata/.done exists, skipping the text selection"
  else
    mkdir -p $lmdata
    if [ "$train_lines" -gt 0 ]; then head -n "$train_lines" data/local/lm/train.txt > $lmdata/train.txt.tmp
    else cp data/local/lm/train.txt $lmdata/train.txt.tmp; fi
    if [ "$valid_lines" -gt 0 ]; then head -n "$valid_lines" data/local/lm/dev.txt > $lmdata/valid.txt.tmp
    else cp data/local/lm/dev.txt $lmdata/valid.txt.tmp; fi
    mv $lmdata/train.txt.tmp $lmdata/train.txt
    mv $lmdata/valid.txt.tmp $lmdata/valid.txt
    touch $lmdata/.done
  fi
  train_lm() {
    local lm=$1 dir=exp/lm/$1 resume=""
    if [ -f $dir/.done ]; then
      log "$dir/.done exists, skipping"
      return
    fi
    local config_var=${lm}_config
    log "training $dir (${!config_var})"
    # --resume continues a run that was killed (train-lm checkpoints every epoch)
    [ -f $dir/config.yaml ] && resume=--resume
    job "$train_cmd" exp/lm/log/train_$lm.log kaldi-mpq train-lm --config ${!config_var} \
      --train $lmdata/train.txt --valid $lmdata/valid.txt --words $words --unk "<UNK>" \
      --device cpu --no-progress --out $dir $resume
    grep "valid ppl" exp/lm/log/train_$lm.log | tail -n 1
    touch $dir/.done
  }
  in_parallel train_lm $lms
fi

# the systems of $systems: id lm method bits [options...]
read_systems() { grep -v '^\s*#' $systems | grep -v '^\s*$'; }

pack_prototype() {
  # pack_prototype <log> <lm> <bits> <out> [quantize options]: the <bits>-bit prototype of <lm> as a packed
  # model, as is (the better of BP and ADMM at that bit-width)
  local logf=$1 lm=$2 bits=$3 out=$4
  shift 4
  job "$train_cmd" $logf kaldi-mpq quantize --lm exp/lm/$lm --method ptq --bits $bits \
    --init-from exp/quant/$lm/protos --out $out "$@"
}

quantize_system() {
  # quantize_system <id> <lm> <method> <bits> [options]: exp/quant/<id> unless it is done
  local id=$1 lm=$2 method=$3 bits=$4
  shift 4
  local dir=exp/quant/$id q=exp/quant/$lm logf=exp/quant/log/$id.log
  if [ -f $dir/.done ]; then
    log "$dir/.done exists, skipping"
    return
  fi
  local data=(--train $lmdata/train.txt --valid $lmdata/valid.txt)
  rm -rf $dir
  case $method in
    uniform)  # the prototype at this bit-width as a packed model; with options, fine-tuned from it as the
              # mixed plans are (the same steps: a fair comparison)
      if [ $# -eq 0 ]; then
        pack_prototype $logf $lm $bits $dir --valid $lmdata/valid.txt
      else
        job "$train_cmd" $logf kaldi-mpq quantize --lm exp/lm/$lm --bits $bits --init-from $q/protos "${data[@]}" \
          --out $dir "$@"
      fi ;;
    ptq)
      job "$train_cmd" $logf kaldi-mpq quantize --lm exp/lm/$lm --method ptq --bits $bits \
        --valid $lmdata/valid.txt --out $dir "$@" ;;
    gq)
      job "$train_cmd" $logf kaldi-mpq quantize --lm exp/lm/$lm --method gq --bits $bits "${data[@]}" --out $dir "$@" ;;
    kl|hessian|hessian_avg|hessian_diag)
      # least summed sensitivity within the packed file of the uniform $bits-bit model (the prototype, packed
      # here first: seconds), so the plan is never larger than uniform; fine-tuned from the prototypes
      local plans=exp/quant/plans/$id bytes
      pack_prototype exp/quant/log/$id.uniform.log $lm $bits $plans/uniform$bits
      bytes=$(wc -c < $plans/uniform$bits/model.packed.safetensors)
      job "$train_cmd" exp/quant/log/$id.allocate.log kaldi-mpq allocate --table $q/sens/$method.yaml \
        --mb "$(awk -v b="$bytes" 'BEGIN { printf "%.6f", b / 1e6 }')" --bits $proto_bits --prototypes $q/protos \
        --out $plans
      job "$train_cmd" $logf kaldi-mpq quantize --lm exp/lm/$lm --plan exp/quant/plans/$id/plan.yaml \
        --init-from $q/protos "${data[@]}" --out $dir "$@" ;;
    nas)  # MP-NAS over the prototypes at size weight beta = bits, then fine-tuned like the plans above
      job "$train_cmd" exp/quant/log/$id.nas.log kaldi-mpq nas --lm exp/lm/$lm --prototypes $q/protos \
        "${data[@]}" --beta $bits --out exp/quant/plans/$id/plan.yaml $nas_opts
      job "$train_cmd" $logf kaldi-mpq quantize --lm exp/lm/$lm --plan exp/quant/plans/$id/plan.yaml \
        --init-from $q/protos "${data[@]}" --out $dir "$@" ;;
    *)
      log "$systems: unknown method '$method' of $id (uniform, ptq, gq, kl, hessian, hessian_avg, hessian_diag, nas)"
      exit 1 ;;
  esac
  grep -h "valid\|PPL\|ppl" $logf | tail -n 1 || true
  touch $dir/.done
}

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: quantize ($systems)"
  mkdir -p exp/quant/log
  for lm in $(read_systems | awk '{print $2}' | sort -u); do
    case " $lms " in *" $lm "*) ;; *) log "$systems: LM '$lm' is not one of --lms ($lms)"; exit 1 ;; esac
  done
  prototypes() {
    # the prototypes and KL / Hessian sensitivities of one LM
    local lm=$1 q=exp/quant/$1
    if [ -f $q/.done ]; then
      log "$q/.done exists, skipping the prototypes and sensitivities of $lm"
      return
    fi
    log "$lm: $proto_bits-bit prototypes, KL and Hessian sensitivities -> $q"
    rm -rf $q/protos $q/sens
    # shellcheck disable=SC2086
    job "$train_cmd" exp/quant/log/$lm.sensitivity.log kaldi-mpq sensitivity --lm exp/lm/$lm --prototypes $q/protos \
      --train $lmdata/train.txt --valid $lmdata/valid.txt --out $q/sens --metric all --bits $proto_bits \
      $proto_opts $sens_opts
    touch $q/.done
  }
  in_parallel prototypes $(read_systems | awk '{print $2}' | sort -u)
  system() {
    # shellcheck disable=SC2046
    quantize_system $(read_systems | awk -v id=$1 '$1 == id') < /dev/null
  }
  in_parallel system $(read_systems | awk '{print $1}')
fi

# every LM system: "id dir" (fp32 LMs, then the quantized ones)
lm_systems() {
  for lm in $lms; do echo "$lm exp/lm/$lm"; done
  read_systems | awk '{print $1, "exp/quant/" $1}'
}

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: rescore dev and eval (${nbest}-best at weights $nbest_weights; lattices at $lattice_weights)"
  lm_systems | while read -r id model; do
    for s in $sets; do
      for mode in nbest lattice; do
        weights_var=${mode}_weights
        for w in ${!weights_var}; do
          out=exp/rescore/${mode}_w$w/$id/decode_$s
          if [ -f $out/.done ]; then
            log "$out/.done exists, skipping"
            continue
          fi
          opts=(--cmd "$decode_cmd" --max-parallel $nj --old-lm $ngram --weight $w --device cpu)
          [ $mode = nbest ] && opts+=(--n $nbest)
          ../../local/lmrescore_$mode.sh "${opts[@]}" $model $words exp/first_pass/decode_$s $out < /dev/null \
            | grep -v '^\.\./\.\./local' || true
          [ -f $out/lat.1.gz ] || { log "rescoring failed: see $out/log"; exit 1; }
          touch $out/.done
        done
      done
    done
  done
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: score (LMWT $min_lmwt..$max_lmwt, WIP $word_ins_penalty)"
  for s in $sets; do
    for dir in exp/first_pass/decode_$s exp/rescore/*/*/decode_$s; do
      if [ -f $dir/scoring_kaldi/best_wer ]; then
        log "$dir/scoring_kaldi/best_wer exists, skipping"
        continue
      fi
      ../../local/score_kaldi.sh --cmd "$decode_cmd" --min-lmwt $min_lmwt --max-lmwt $max_lmwt \
        --word-ins-penalty $word_ins_penalty data/$s $lang $dir
    done
  done
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: results table"
  r=exp/results
  if [ -f $r/.done ]; then
    log "$r/.done exists, skipping (delete it to rebuild the table)"
  else
    mkdir -p $r
    text=data/local/lm/dev.txt
    if [ "$report_lines" -gt 0 ]; then head -n "$report_lines" $text > $r/report_text.txt; text=$r/report_text.txt; fi
    quant_report() {
      # PPL, size, ratio and ms/word of one LM and its quantized systems
      # shellcheck disable=SC2046
      job "$decode_cmd" $r/log/quant_report_$1.log kaldi-mpq quant-report --text $text \
        --timing-passes $report_passes --json $r/report_$1.json exp/lm/$1 \
        $(read_systems | awk -v lm=$1 '$2 == lm {print "exp/quant/" $1}')
    }
    in_parallel quant_report $lms
    # the first-pass 3-gram's perplexity on the same text (sentence mode, as quant-report's)
    job "$decode_cmd" $r/log/ngram_ppl.log kaldi-mpq eval-lm --lm $ngram --words $words --unk "<UNK>" \
      --text $text --json $r/ngram_ppl.json
    # the systems file of results-table: one column per condition (equal weight, dev-tuned weight)
    first_nbest=${nbest_weights%% *} first_lattice=${lattice_weights%% *}
    conds=("nbest${nbest}_w$first_nbest")
    [ "$nbest_weights" != "$first_nbest" ] && conds+=("nbest${nbest}_tuned")
    conds+=("lattice_w$first_lattice")
    [ "$lattice_weights" != "$first_lattice" ] && conds+=("lattice_tuned")
    alts() {  # alts <mode> <id> <weights...>: the decode dirs of one system, comma-separated
      local mode=$1 id=$2 w out=()
      shift 2
      for w in "$@"; do out+=("exp/rescore/${mode}_w$w/$id/decode_{set}"); done
      (IFS=,; echo "${out[*]}")
    }
    {
      printf 'id\tlm\tmethod\tbits\tmodel\tparent'; printf '\t%s' "${conds[@]}"; echo
      printf '3gram\t3-gram\t-\t-\t%s\t-' $ngram
      for c in "${conds[@]}"; do printf '\texp/first_pass/decode_{set}'; done; echo
      lm_systems | while read -r id model; do
        if [ "$model" = exp/lm/$id ]; then lm=$id method=fp32 bits=32 parent=-
        else read -r lm method bits <<< "$(read_systems | awk -v id=$id '$1 == id {print $2, $3, $4}')"
          case $method in kl|hessian|hessian_avg|hessian_diag|nas) method="mixed/$method" bits=- ;; esac
          parent=$lm
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s' $id $lm $method $bits $model $parent
        printf '\t%s' "$(alts nbest $id $first_nbest)"
        [ "$nbest_weights" != "$first_nbest" ] && printf '\t%s' "$(alts nbest $id $nbest_weights)"
        printf '\t%s' "$(alts lattice $id $first_lattice)"
        # shellcheck disable=SC2086
        [ "$lattice_weights" != "$first_lattice" ] && printf '\t%s' "$(alts lattice $id $lattice_weights)"
        echo
      done
    } > $r/systems.tsv
    job "$decode_cmd" $r/log/results_table.log kaldi-mpq results-table --systems $r/systems.tsv \
      $(for lm in $lms; do echo --report $r/report_$lm.json; done) --report $r/ngram_ppl.json \
      --sets dev,eval --tune-set dev \
      --markdown exp/RESULTS.md --text $r/table.txt \
      --json $r/results.json --plot-dir $r/plots --title "AMI mini: rescoring with quantized LMs"
    touch $r/.done
  fi
  log "Results (exp/RESULTS.md; plots in $r/plots):"
  cat $r/table.txt
fi
