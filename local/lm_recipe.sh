# Stages shared by recipes/swbd and recipes/ami (sourced by their run.sh after cmd.sh, path.sh and
# parse_options.sh): LM training, quantization, rescoring, NIST scoring and significance of a Kaldi
# system's decode dirs. Each function is one stage's loop; the recipe's run.sh says which data they use.
#
# Every job runs through the recipe's $train_cmd / $decode_cmd / $cuda_cmd (Kaldi's run.pl, queue.pl,
# slurm.pl, or local/run_jobs.sh's runner and local/slurm.sh: see local/cmd.sh). A failed job stops the
# recipe with "job '<name>' failed; see <log>". A step whose output holds .done is skipped.
#
# Variables read (the recipe's options): kaldi_dir, exp, unk, lms, lm_opts, lm_device, num_gpus, systems, quant_opts,
# sens_opts, nas_opts, rescore_systems, lattice_systems, rescore_device, nbest, lm_weight, old_lm,
# lattice_opts, min_lmwt, max_lmwt, word_ins_penalty, hyp_filter, score_opts, subsets, table_opts; and the
# recipe's function data_dir_of <set> (the Kaldi data dir of a test set).

__lm_recipe_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$__lm_recipe_dir/run_jobs.sh"

# Built n-gram tables cached by content under $exp (kaldi_mpq/ngram/load.py): the rescoring jobs read the
# old LM's tables instead of each rebuilding them. Jobs (and scripts sourcing this file without $exp)
# inherit it; set it (empty: no cache) to override.
if [ -n "${exp:-}" ]; then
  case $exp in /*) __ngram_cache=$exp/ngram_cache ;; *) __ngram_cache=$PWD/$exp/ngram_cache ;; esac
  export KALDI_MPQ_NGRAM_CACHE="${KALDI_MPQ_NGRAM_CACHE-$__ngram_cache}"
fi

. "$__lm_recipe_dir/log.sh"

die() {
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') ERROR: $*" >&2
  exit 1
}

run_job() {
  # run_job <launcher> <name> <log> <command...>: one job through the launcher; stop the recipe if it fails
  local cmd=$1 name=$2 logf=$3
  shift 3
  mkdir -p "$(dirname "$logf")"
  run_jobs 1 "$logf" "$@" || die "job '$name' failed; see $logf"
}

need() {
  # need <file...>: stop with the file's name when one is missing
  local f
  for f in "$@"; do [ -e "$f" ] || die "$f is missing"; done
}

kpath() {
  # kpath <path>: a path of the user's Kaldi set-up, relative ones taken under $kaldi_dir
  case $1 in /*) echo "$1" ;; *) echo "$kaldi_dir/$1" ;; esac
}

copy_words() {
  # copy_words <lang dir>: the decoding vocabulary (its words.txt, which must hold $unk) -> $exp/lang/words.txt
  local words
  words="$(kpath "$1")/words.txt"
  need "$words"
  grep -q "^$unk " "$words" || die "$words has no $unk (set --unk)"
  mkdir -p "$exp/lang"
  cp "$words" "$exp/lang/words.txt"
}

split_heldout() {
  # split_heldout <text> <train> <dev> <every>: every N-th sentence to dev, as Kaldi's rnnlm recipes do
  awk -v n="$4" -v train="$2" -v dev="$3" '{ if (NR % n == 0) print > dev; else print > train }' "$1"
}

lm_dir() {
  # lm_dir <system>: the LM directory of a float LM name (from $lms) or a quantized system (from $systems)
  if [ -d "$exp/lm/$1" ]; then echo "$exp/lm/$1"; else echo "$exp/quant/$1"; fi
}

float_lm_names() { local s; for s in $lms; do echo "${s%%:*}"; done; }

system_lines() {
  # the "name lm method options" lines of $systems, without comments and blank lines
  need "$systems"
  sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$systems"
}

all_systems() { float_lm_names; system_lines | awk '{ print $1 }'; }

train_lms() {
  # one train-lm job per "name:preset" of $lms, on the GPU(s) unless lm_device=cpu; num_gpus > 1: torchrun
  local spec name config dir launcher prog resume
  for spec in $lms; do
    name=${spec%%:*} config=${spec#*:} dir=$exp/lm/${spec%%:*}
    if [ -f "$dir/.done" ]; then log "$dir/.done exists, skipping"; continue; fi
    launcher=$cuda_cmd prog=(kaldi-mpq)
    if [ "$lm_device" = cpu ]; then
      launcher=$train_cmd
    elif [ "$num_gpus" -gt 1 ]; then
      launcher=${cuda_cmd/--gpu 1/--gpu $num_gpus}
      prog=(torchrun --standalone --nproc_per_node "$num_gpus" "$(command -v kaldi-mpq)")
    fi
    resume=()
    [ -f "$dir/train_state.pt" ] && resume=(--resume)
    log "training $name ($config) -> $dir"
    # shellcheck disable=SC2086
    run_job "$launcher" "train-lm $name" "$exp/lm/log/train_$name.log" "${prog[@]}" train-lm --config "$config" \
      --train "$exp/data/train.txt" --valid "$exp/data/dev.txt" --words "$exp/lang/words.txt" --unk "$unk" \
      --out "$dir" --device "$lm_device" --no-progress "${resume[@]}" $lm_opts
    mkdir -p "$dir"
    touch "$dir/.done"
  done
}

__prototypes() {
  # __prototypes <lm>: uniform prototypes and the KL/Hessian tables of one float LM (trained once)
  local lm=$1 dir=$exp/quant/$1_sensitivity
  [ -f "$dir/.done" ] && return
  log "prototypes and sensitivity tables of $lm -> $exp/quant/${lm}_prototypes, $dir"
  # shellcheck disable=SC2086
  run_job "$train_cmd" "sensitivity $lm" "$exp/quant/log/sensitivity_$lm.log" kaldi-mpq sensitivity \
    --lm "$exp/lm/$lm" --prototypes "$exp/quant/${lm}_prototypes" --train "$exp/data/train.txt" \
    --valid "$exp/data/dev.txt" --out "$dir" --metric all $sens_opts
  touch "$dir/.done"
}

quantize_systems() {
  # every line "name lm method options" of $systems: ptq, admm, bp, gq (uniform: options --bits N), kl,
  # hessian, hessian_avg, hessian_diag (sensitivity + allocate with the options, e.g. --avg-bits 3, then BP fine-tuning
  # from the prototypes) or nas (MP-NAS with the options, then the same fine-tuning)
  local name lm method opts dir logd=$exp/quant/log plan data
  data=(--train "$exp/data/train.txt" --valid "$exp/data/dev.txt")
  while read -r name lm method opts; do
    dir=$exp/quant/$name
    if [ -f "$dir/.done" ]; then log "$dir/.done exists, skipping"; continue; fi
    [ -f "$exp/lm/$lm/.done" ] || die "$systems: system $name needs the float LM '$lm' (not in \$lms, or not trained)"
    log "quantizing $lm: $name ($method $opts)"
    case $method in
      ptq)
        # shellcheck disable=SC2086
        run_job "$train_cmd" "quantize $name" "$logd/$name.log" kaldi-mpq quantize --lm "$exp/lm/$lm" \
          --method ptq $opts --valid "$exp/data/dev.txt" --out "$dir" ;;
      admm|bp|gq)
        # shellcheck disable=SC2086
        run_job "$train_cmd" "quantize $name" "$logd/$name.log" kaldi-mpq quantize --lm "$exp/lm/$lm" \
          --method "$method" $opts "${data[@]}" $quant_opts --out "$dir" ;;
      kl|hessian|hessian_avg|hessian_diag|nas)
        __prototypes "$lm"
        plan=$exp/quant/plans/$name
        if [ "$method" = nas ]; then
          # shellcheck disable=SC2086
          run_job "$train_cmd" "nas $name" "$logd/nas_$name.log" kaldi-mpq nas --lm "$exp/lm/$lm" \
            --prototypes "$exp/quant/${lm}_prototypes" "${data[@]}" $opts $nas_opts --out "$plan/plan.yaml"
        else
          # shellcheck disable=SC2086
          run_job "$train_cmd" "allocate $name" "$logd/allocate_$name.log" kaldi-mpq allocate \
            --table "$exp/quant/${lm}_sensitivity/$method.yaml" $opts --prototypes "$exp/quant/${lm}_prototypes" \
            --out "$plan"
        fi
        # shellcheck disable=SC2086
        run_job "$train_cmd" "quantize $name" "$logd/$name.log" kaldi-mpq quantize --lm "$exp/lm/$lm" \
          --method bp --plan "$plan/plan.yaml" --init-from "$exp/quant/${lm}_prototypes" "${data[@]}" \
          $quant_opts --out "$dir" ;;
      *) die "$systems: system $name: unknown method '$method' (ptq admm bp gq kl hessian hessian_avg hessian_diag nas)" ;;
    esac
    touch "$dir/.done"
  done < <(system_lines)
}

quant_report() {
  # quant_report <out.md> <out.json>: #bit, dev PPL, size and compression of every float LM and system
  # (the JSON rows are results-table's --report); with $old_lm set (the first-pass n-gram: ARPA, G.fst or
  # G.carpa), also its dev PPL, counted the same way (sentence mode) -> $exp/NGRAM.json
  local models=() s
  for s in $(all_systems); do models+=("$(lm_dir "$s")"); done
  run_job "$train_cmd" "quant-report" "$exp/log/quant_report.log" kaldi-mpq quant-report \
    --text "$exp/data/dev.txt" --markdown --json "$2" "${models[@]}"
  sed -n '/^|/p' "$exp/log/quant_report.log" > "$1"
  if [ -n "${old_lm:-}" ]; then
    need "$old_lm"
    run_job "$train_cmd" "eval-lm $old_lm" "$exp/log/ngram_ppl.log" kaldi-mpq eval-lm --lm "$old_lm" \
      --words "$exp/lang/words.txt" --unk "$unk" --text "$exp/data/dev.txt" --json "$exp/NGRAM.json"
  fi
}

link_decode_dir() {
  # link_decode_dir <decode-dir> <dir>: <dir> holds links to the decode dir's lattices, so scoring it writes
  # under $exp and not into the Kaldi decode dir
  local in=$1 out=$2 f
  [ -f "$out/.done" ] && return
  need "$in/num_jobs"
  mkdir -p "$out"
  for f in "$in"/num_jobs "$in"/lat.*.gz; do ln -sf "$(cd "$(dirname "$f")" && pwd)/${f##*/}" "$out/"; done
  touch "$out/.done"
}

rescore_set() {
  # rescore_set <decode-dir> <out-root> <words>: 20-best (and lattice) rescoring with every LM of
  # $rescore_systems (default: all) -> <out-root>/<system>_nbest, <system>_lattice ($lattice_systems)
  local in=$1 root=$2 words=$3 s launcher=$decode_cmd
  [ "$rescore_device" = cpu ] || launcher=$cuda_cmd
  need "$in/num_jobs" "$old_lm"
  link_decode_dir "$in" "$root/first_pass"
  for s in ${rescore_systems:-$(all_systems)}; do
    if [ ! -f "$root/${s}_nbest/.done" ]; then
      "$__lm_recipe_dir/lmrescore_nbest.sh" --cmd "$launcher" --old-lm "$old_lm" --n "$nbest" --weight "$lm_weight" \
        --interpolation linear --device "$rescore_device" "$(lm_dir "$s")" "$words" "$in" "$root/${s}_nbest" \
        || die "n-best rescoring of $in with $s failed; see $root/${s}_nbest/log/rescore.*.log"
      touch "$root/${s}_nbest/.done"
    fi
  done
  for s in ${lattice_systems:-$(all_systems)}; do
    [ "$s" = none ] && continue
    if [ ! -f "$root/${s}_lattice/.done" ]; then
      # shellcheck disable=SC2086
      "$__lm_recipe_dir/lmrescore_lattice.sh" --cmd "$launcher" --old-lm "$old_lm" --weight "$lm_weight" \
        --interpolation linear --device "$rescore_device" $lattice_opts "$(lm_dir "$s")" "$words" "$in" \
        "$root/${s}_lattice" || die "lattice rescoring of $in with $s failed; see $root/${s}_lattice/log/rescore.*.log"
      touch "$root/${s}_lattice/.done"
    fi
  done
}

score_set() {
  # score_set <data-dir> <lang> <decode-dir of the first pass> <out-root>: local/score_sclite.sh on every
  # decode dir under <out-root>; each gets scoring/best_wer (the scorer's best lines for the set and subsets)
  local data=$1 lang=$2 first=$3 root=$4 dir fsf=1
  need "$data/stm"
  [ -f "$first/../frame_subsampling_factor" ] && fsf=$(cat "$first/../frame_subsampling_factor")
  for dir in "$root"/*/; do
    dir=${dir%/}
    [ -f "$dir/scoring/.done" ] && continue
    # shellcheck disable=SC2086
    "$__lm_recipe_dir/score_sclite.sh" --cmd "$decode_cmd" --min-lmwt "$min_lmwt" --max-lmwt "$max_lmwt" \
      --word-ins-penalty "$word_ins_penalty" --frame-subsampling-factor "$fsf" --hyp-filter "$hyp_filter" \
      $score_opts "$data" "$lang" "$dir" > /dev/null || die "scoring $dir failed; see $dir/scoring/log/score_sclite.log"
    grep -h " best " "$dir/scoring/log/score_sclite.log" | sed 's/.* best /best /' > "$dir/scoring/best_wer"
    touch "$dir/scoring/.done"
  done
}

best_ctm() {
  # best_ctm <decode-dir> <set-name>: the CTM at the best LMWT/WIP of the whole set (from scoring/best_wer)
  local lmwt wip
  read -r lmwt wip < <(sed -n 's/^best all: .* at LMWT \([0-9]*\) WIP \([0-9.]*\)$/\1 \2/p' "$1/scoring/best_wer")
  [ -n "$lmwt" ] || die "$1/scoring/best_wer has no 'best all' line"
  echo "$1/score_${lmwt}_${wip}/$2.ctm"
}

significance_set() {
  # significance_set <data-dir> <out-root> <out-dir>: MAPSSWE of each quantized system against its float
  # LM, and of each float LM against the first pass, in each rescoring mode, at each one's best LMWT/WIP
  local data=$1 root=$2 out=$3 name line sys lm mode ref
  name=$(basename "$data")
  mkdir -p "$out"
  while read -r sys lm; do
    for mode in nbest lattice; do
      [ -d "$root/${sys}_$mode" ] || continue
      ref=$root/${lm}_$mode
      [ "$lm" = first_pass ] && ref=$root/first_pass
      [ -d "$ref" ] || continue
      [ -f "$out/${sys}_${mode}.txt" ] && continue
      run_job "$decode_cmd" "significance ${sys}_$mode" "$out/log/${sys}_$mode.log" kaldi-mpq significance \
        --stm "$data/stm" "$(best_ctm "$ref" "$name")" "$(best_ctm "$root/${sys}_$mode" "$name")"
      # the log without the launcher's "#" lines and the command's own logging lines
      { echo "# ${sys}_$mode vs $(basename "$ref") ($name)"
        grep -v -e '^#' -e '^[0-9-]* [0-9:,]* [A-Z]* \[' "$out/log/${sys}_$mode.log"; } > "$out/${sys}_${mode}.txt"
    done
  done < <(float_lm_names | sed 's/$/ first_pass/'; system_lines | awk '{ print $1, $2 }')
}

collect_results() {
  # collect_results <out> <set...>: every best_wer under $exp/decode/<set> and every significance result
  # under $exp/significance/<set>, in one file
  local out=$1 set f
  shift
  {
    for set in "$@"; do
      echo "## $set"
      for f in "$exp/decode/$set"/*/scoring/best_wer; do
        [ -f "$f" ] || continue
        sed "s|^|$(basename "$(dirname "$(dirname "$f")")"): |" "$f"
      done
      for f in "$exp/significance/$set"/*.txt; do [ -f "$f" ] || continue; cat "$f"; done
      echo
    done
  } > "$out.tmp"
  mv "$out.tmp" "$out"
}

subset_text() {
  # subset_text <data-dir> <exclude-prefix> <out>: the data dir's text without the utterances whose file
  # name starts with the prefix (the swbd/callhm split of Kaldi's score_sclite.sh, grep -v '^en_' on the
  # STM and CTM); the file names from segments and reco2file_and_channel, else the utterance ids
  local src=$1 prefix=$2 out=$3
  if [ -f "$src/segments" ] && [ -f "$src/reco2file_and_channel" ]; then
    awk -v p="$prefix" 'FILENAME == ARGV[1] { file[$1] = $2; next }
                        FILENAME == ARGV[2] { reco[$1] = $2; next }
                        index(file[reco[$1]], p) != 1' "$src/reco2file_and_channel" "$src/segments" "$src/text" > "$out"
  else
    awk -v p="$prefix" 'index($1, p) != 1' "$src/text" > "$out"
  fi
}

score_table_set() {
  # score_table_set <table-set>: every decode dir of its test set scored with compute-wer (local/score_kaldi.sh:
  # wer_LMWT_WIP, scoring_kaldi/) under $exp/table/<table-set>/, on the set's text or, for a subset named in
  # $subsets (table-set:test-set:excluded-file-prefix), its part; the input of kaldi-mpq results-table
  local tset=$1 src=$1 prefix= spec d dir nj out=$exp/table/$1
  for spec in $subsets; do
    if [ "${spec%%:*}" = "$tset" ]; then src=${spec#*:} prefix=${src#*:} src=${src%%:*}; fi
  done
  [ -d "$exp/decode/$src" ] || die "table set $tset: no decode dirs in $exp/decode/$src (run stage 5 on $src)"
  if [ ! -f "$out/data/.done" ]; then
    need "$(data_dir_of "$src")/text"
    mkdir -p "$out/data"
    if [ -n "$prefix" ]; then subset_text "$(data_dir_of "$src")" "$prefix" "$out/data/text"
    else cp "$(data_dir_of "$src")/text" "$out/data/text"; fi
    touch "$out/data/.done"
  fi
  for d in "$exp/decode/$src"/*/; do
    d=${d%/} dir=$out/$(basename "${d%/}")
    [ -f "$dir/scoring_kaldi/.done" ] && continue
    if [ -z "$prefix" ]; then
      link_decode_dir "$d" "$dir"
    elif [ ! -f "$dir/.done" ]; then
      # compute-wer scores every hypothesis, so a subset needs its own lattices (Kaldi's lattice-copy --include)
      nj=$(cat "$d/num_jobs")
      mkdir -p "$dir/log"
      local cmd=$decode_cmd
      run_jobs "$nj" "$dir/log/copy.JOB.log" kaldi-mpq lattice-copy --include "$out/data/text" "ark:$d/lat.JOB.gz" \
        "ark:|gzip -c > $dir/lat.JOB.gz" || die "copying the $tset lattices of $d failed; see $dir/log/copy.*.log"
      echo "$nj" > "$dir/num_jobs"
      touch "$dir/.done"
    fi
    "$__lm_recipe_dir/score_kaldi.sh" --cmd "$decode_cmd" --min-lmwt "$min_lmwt" --max-lmwt "$max_lmwt" \
      --word-ins-penalty "$word_ins_penalty" --hyp-filter "$hyp_filter" --ref-filter "$hyp_filter" \
      "$out/data" "$exp/lang/words.txt" "$dir" > /dev/null || die "scoring $dir failed; see $dir/scoring_kaldi/log/score.log"
    touch "$dir/scoring_kaldi/.done"
  done
}

__condition() {
  # __condition <system> <mode> <table-set>: the system's decode-dir pattern in a mode, or - if not run
  if [ -d "$exp/table/$3/$1_$2" ]; then echo "$exp/table/{set}/$1_$2"; else echo -; fi
}

results_table() {
  # results_table <out-prefix> <title> <tune-set> <table-set...>: kaldi-mpq results-table over the first
  # pass (baseline), the float LMs and the systems (each marked against its float LM), n-best and lattice
  # conditions, LMWT/WIP tuned on <tune-set> (default: the first table set) -> <out-prefix>.md, .txt, .json
  local out=$1 title=$2 tune=$3 first=$4 s lm method sets ngram_model=- reports=(--report "$exp/QUANT.json")
  shift 3
  if [ -n "${old_lm:-}" ] && [ -f "$exp/NGRAM.json" ]; then
    ngram_model=$old_lm reports+=(--report "$exp/NGRAM.json")
  fi
  for s in "$@"; do score_table_set "$s"; done
  sets=$(echo "$*" | tr ' ' ,)
  mkdir -p "$exp/table"
  {
    printf 'id\tlm\tmethod\tbits\tmodel\tparent\tnbest\tlattice\n'
    # the first pass's model is the n-gram whose PPL quant_report measured, if it did ($exp/NGRAM.json)
    printf 'first_pass\tn-gram\t-\t-\t%s\t-\t%s\t%s\n' "$ngram_model" "$exp/table/{set}/first_pass" \
      "$exp/table/{set}/first_pass"
    for s in $(float_lm_names); do
      printf '%s\t%s\tfp32\t32\t%s\t-\t%s\t%s\n' "$s" "$s" "$exp/lm/$s" "$(__condition "$s" nbest "$first")" \
        "$(__condition "$s" lattice "$first")"
    done
    while read -r s lm method _; do
      printf '%s\t%s\t%s\t-\t%s\t%s\t%s\t%s\n' "$s" "$lm" "$method" "$exp/quant/$s" "$lm" \
        "$(__condition "$s" nbest "$first")" "$(__condition "$s" lattice "$first")"
    done < <(system_lines)
  } > "$out.systems.tsv"
  # shellcheck disable=SC2086
  run_job "$decode_cmd" "results-table $title" "$exp/table/log/$(basename "$out").log" kaldi-mpq results-table \
    --systems "$out.systems.tsv" --sets "$sets" ${tune:+--tune-set "$tune"} "${reports[@]}" \
    --title "$title" --markdown "$out.md" --text "$out.txt" --json "$out.json" $table_opts
}
