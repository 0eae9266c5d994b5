#!/usr/bin/env bash
# AMI recipe: quantized LSTM / Transformer LMs rescoring a Kaldi ami/s5b system (the papers' set-up: 3-gram
# first pass, 20-best lists, equal-weight interpolation of the n-gram and the neural LM; ihm, sdm and mdm
# dev and eval).
#
#   stage 0  LM text         Kaldi text ($lm_text, e.g. data/ihm/train/text, $ami_repeat times, plus
#                            $extra_lm_text such as Fisher; or lhotse's ami preparation of the corpus dir)
#                            -> $exp/data/{train,dev}.txt
#   stage 1  vocabulary      $lang/words.txt (the decoding vocabulary) -> $exp/lang/words.txt
#   stage 2  train LMs       $lms (name:preset) on $cuda_cmd (--num-gpus N: torchrun) -> $exp/lm/<name>
#   stage 3  quantize        every system of $systems (conf/systems.conf) -> $exp/quant/<system>
#   stage 4  LM report       dev PPL, size, compression of every LM -> $exp/QUANT.md, QUANT.json; the
#                            first-pass n-gram's dev PPL ($old_lm) -> $exp/NGRAM.json
#   stage 5  rescore         per mic and test set: 20-best and lattice rescoring of the decode dir, the
#                            first-pass 3-gram ($old_lm: ARPA, G.fst or G.carpa) removed and interpolated
#                            0.5/0.5 -> $exp/decode/<mic>_<set>/{first_pass,<system>_nbest,<system>_lattice}
#   stage 6  score           ihm: hubscr.pl/sclite with the data dir's GLM; sdm/mdm: asclite with
#                            --overlap-spk speakers (as Kaldi's score_asclite.sh) -> <dir>/score_*, best_wer
#   stage 7  significance    MAPSSWE: each quantized system against its float LM, each float LM against
#                            the first pass -> $exp/significance/<mic>_<set>/
#   stage 8  RESULTS         the papers' Tables V/VI (kaldi-mpq results-table), one per mic: dev and eval WERs
#                            (compute-wer with the AMI filters, LMWT/WIP tuned on dev), MAPSSWE marks, PPL,
#                            size -> $exp/RESULTS_<mic>.{md,txt,json}; and $exp/RESULTS_sclite.txt: every
#                            sclite/asclite best WER (stage 6) and significance result (stage 7)
#
# Not supported: asclite's overlap scoring needs SCTK (apt-get install sctk, or Kaldi's tools/sctk on the
# PATH); without it sdm/mdm are scored by the built-in scorer without overlap (said in the scoring log).
#
# Usage (from this directory; Kaldi paths are relative to --kaldi-dir unless absolute):
#   ./run.sh --kaldi-dir ~/kaldi/egs/ami/s5b                 # everything, Kaldi's default names
#   ./run.sh --kaldi-dir ~/kaldi/egs/ami/s5b --mics ihm --stage 5
#   ./run.sh --config conf/quick.conf ...                    # tiny LMs and settings (a smoke test)
# A step whose output holds .done is skipped; delete it to redo the step. Jobs go through cmd.sh; rescoring
# runs one job per lat.JOB.gz of the decode dir (its num_jobs), as Kaldi's lmrescore scripts, so there is no --nj.

# ---- configuration ----------------------------------------------------------------------------------
stage=0
stop_stage=100
exp=exp                         # all outputs
kaldi_dir=.                     # the Kaldi egs/ami/s5b directory: relative Kaldi paths below are under it
# LM text (stage 0)
lm_text=data/ihm/train/text     # Kaldi text (utt-id words) or lhotse manifests, several files allowed ("a b")
lm_dev_text=data/ihm/dev/text   # Kaldi text of the LM dev set; empty: every $heldout_every-th sentence
heldout_every=50
ami_repeat=1                    # copies of the AMI text in the training text (the papers: 3, with Fisher)
extra_lm_text=                  # more Kaldi text, once (e.g. Fisher transcripts)
ami_corpus=                     # set: lhotse's ami preparation of this corpus dir instead of lm_text
ami_annotations=                # its --annotations dir, when not inside the corpus dir
text_normalize=none             # prepare-text --normalize (none, upper, ami)
# vocabulary (stage 1)
lang=data/lang_ami_fsh.o3g.kn.pr1-7   # lang dir of the first pass: words.txt
unk="<unk>"
# LMs (stage 2)
lms="lstm:lstm_2x1024 transformer:transformer_6x512"   # name:preset (kaldi-mpq train-lm --list-presets) or YAML
lm_opts=""                      # extra train-lm options, e.g. "--set train.epochs=10"
lm_device=cuda                  # cuda (jobs on $cuda_cmd) or cpu ($train_cmd)
num_gpus=1                      # > 1: data-parallel training under torchrun, $cuda_cmd asking for that many GPUs
# quantization (stage 3)
systems=conf/systems.conf       # name lm method options, one a line
quant_opts=""                   # extra options of every quantize run (admm, bp, gq, fine-tuning)
sens_opts=""                    # extra options of kaldi-mpq sensitivity, e.g. "--word-bands 1000,3000"
                                # (docs/quantization.md, "Word bands"; not the papers' clusters)
nas_opts=""
# rescoring (stage 5)
mics="ihm sdm1 mdm8"
test_sets="dev eval"
data_dir_pattern=data/MIC/SET_hires                   # MIC and SET become each mic and test set
decode_dir_pattern=exp/MIC/chain_cleaned/tdnn1j_sp_bi/decode_SET
old_lm=data/local/lm/ami_fsh.o3g.kn.pr1-7.gz          # first-pass 3-gram: ARPA (.gz), G.fst or G.carpa
nbest=20
lm_weight=0.5                   # weight of the neural LM (linear interpolation with the 3-gram)
rescore_systems=""              # LMs to rescore with (default: the float LMs and every system)
lattice_systems=""              # and lattice rescoring (default: the same; "none": no lattice rescoring)
rescore_device=cuda             # cuda ($cuda_cmd) or cpu ($decode_cmd)
lattice_opts=""
# scoring (stage 6)
min_lmwt=7
max_lmwt=15
word_ins_penalty=0.0,0.5,1.0
hyp_filter=ami
asclite=true                    # sdm/mdm: asclite overlap scoring (ihm: never)
overlap_spk=4
score_opts=""                   # extra local/score_sclite.sh options
# results tables (stage 8)
tune_set=dev                    # test set LMWT/WIP are tuned on, per mic
subsets=""                      # none in AMI (see recipes/swbd)
table_opts=""                   # extra results-table options, e.g. "--plot-dir exp/plots"
# ------------------------------------------------------------------------------------------------------

help_message="Usage: $0 [--kaldi-dir DIR] [--stage N] [--stop-stage N] [--config conf/quick.conf] [--<option> V]
(see the header of $0 for the stages and options)"

. ./cmd.sh
. ./path.sh
. ../../local/parse_options.sh

set -euo pipefail
. ../../local/lm_recipe.sh

mic_set_path() { local p=${1//MIC/$2}; kpath "${p//SET/$3}"; }
data_dir_of() { mic_set_path "$data_dir_pattern" "${1%%_*}" "${1#*_}"; }  # ihm_dev -> data/ihm/dev_hires
all_sets() { local m s; for m in $mics; do for s in $test_sets; do echo "${m}_$s"; done; done; }

command -v kaldi-mpq > /dev/null || die "kaldi-mpq not found: run 'bash local/install.sh' in the repository root"
mkdir -p "$exp"

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: LM text -> $exp/data"
  texts=() dev=()
  if [ -n "$ami_corpus" ]; then
    opts=()
    [ -n "$ami_annotations" ] && opts=(--annotations "$(kpath "$ami_annotations")")
    local/lhotse_text.sh --cmd "$train_cmd" "${opts[@]}" "$(kpath "$ami_corpus")" "$exp/lhotse"
    texts=("$exp/lhotse/ami-ihm_supervisions_train.jsonl.gz")
    dev=("$exp/lhotse/ami-ihm_supervisions_dev.jsonl.gz")
  else
    for f in $lm_text; do texts+=("$(kpath "$f")"); done
    for f in $lm_dev_text; do dev+=("$(kpath "$f")"); done
  fi
  extra=()
  for f in $extra_lm_text; do extra+=("$(kpath "$f")"); done
  ../../local/prepare_lm_text.sh --cmd "$train_cmd" --heldout-every "$heldout_every" --normalize "$text_normalize" \
    --repeat "$ami_repeat" --lm-text "${texts[*]}" --lm-dev-text "${dev[*]}" --extra-lm-text "${extra[*]}" "$exp/data"
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: vocabulary from $(kpath "$lang")/words.txt"
  copy_words "$lang"
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: train the LMs ($lms) on $lm_device"
  train_lms
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: quantize ($systems)"
  quantize_systems
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: LM report on the dev text -> $exp/QUANT.md"
  old_lm=$(kpath "$old_lm") quant_report "$exp/QUANT.md" "$exp/QUANT.json"
  cat "$exp/QUANT.md"
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  for mic in $mics; do
    for set in $test_sets; do
      log "Stage 5: rescore $(mic_set_path "$decode_dir_pattern" "$mic" "$set")"
      old_lm=$(kpath "$old_lm") rescore_set "$(mic_set_path "$decode_dir_pattern" "$mic" "$set")" \
        "$exp/decode/${mic}_$set" "$exp/lang/words.txt"
    done
  done
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  for mic in $mics; do
    opts=$score_opts
    # shellcheck disable=SC2154
    [ "$mic" != ihm ] && $asclite && opts="$opts --asclite true --overlap-spk $overlap_spk"
    for set in $test_sets; do
      log "Stage 6: score ${mic}_$set ($(mic_set_path "$data_dir_pattern" "$mic" "$set"))"
      score_opts=$opts score_set "$(mic_set_path "$data_dir_pattern" "$mic" "$set")" "$exp/lang/words.txt" \
        "$(mic_set_path "$decode_dir_pattern" "$mic" "$set")" "$exp/decode/${mic}_$set"
    done
  done
fi

if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  for mic in $mics; do
    for set in $test_sets; do
      log "Stage 7: significance on ${mic}_$set"
      significance_set "$(mic_set_path "$data_dir_pattern" "$mic" "$set")" "$exp/decode/${mic}_$set" \
        "$exp/significance/${mic}_$set"
    done
  done
fi

if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  for mic in $mics; do
    log "Stage 8: results table of $mic -> $exp/RESULTS_$mic.{md,txt}"
    tune=
    [[ " $test_sets " == *" $tune_set "* ]] && tune=${mic}_$tune_set
    # shellcheck disable=SC2046
    old_lm=$(kpath "$old_lm") results_table "$exp/RESULTS_$mic" "AMI $mic" "$tune" $(for set in $test_sets; do echo "${mic}_$set"; done)
    cat "$exp/RESULTS_$mic.txt"
  done
  log "Stage 8: scoring summaries -> $exp/RESULTS_sclite.txt"
  # shellcheck disable=SC2046
  collect_results "$exp/RESULTS_sclite.txt" $(all_sets)
fi
