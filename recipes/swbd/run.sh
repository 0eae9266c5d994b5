#!/usr/bin/env bash
# Switchboard recipe: quantized LSTM / Transformer LMs rescoring a Kaldi swbd/s5c system (the papers'
# set-up: 4-gram first pass, 20-best lists, equal-weight interpolation of the n-gram and the neural LM;
# Hub5'00 eval2000 with its swbd/callhm subsets, rt02, rt03).
#
#   stage 0  LM text         Kaldi text ($lm_text, e.g. data/local/lm/text; or lhotse's switchboard /
#                            fisher_english preparation of the corpus dirs) -> $exp/data/{train,dev}.txt
#   stage 1  vocabulary      $lang/words.txt (the decoding vocabulary) -> $exp/lang/words.txt
#   stage 2  train LMs       $lms (name:preset) on $cuda_cmd (--num-gpus N: torchrun) -> $exp/lm/<name>
#   stage 3  quantize        every system of $systems (conf/systems.conf) -> $exp/quant/<system>
#   stage 4  LM report       dev PPL, size, compression of every LM -> $exp/QUANT.md, QUANT.json; the
#                            first-pass n-gram's dev PPL ($old_lm) -> $exp/NGRAM.json
#   stage 5  rescore         per test set: 20-best and lattice rescoring of the decode dir, the first-pass
#                            4-gram ($old_lm: ARPA, G.fst or G.carpa) removed and interpolated 0.5/0.5
#                            -> $exp/decode/<set>/{first_pass,<system>_nbest,<system>_lattice}
#   stage 6  score           hubscr.pl with the data dir's Hub5 GLM (Python scorer without SCTK), the
#                            eval2000 swbd/callhm and rt03 swbd/fsh subsets -> <dir>/score_*, scoring/best_wer
#   stage 7  significance    MAPSSWE: each quantized system against its float LM, each float LM against
#                            the first pass -> $exp/significance/<set>/
#   stage 8  RESULTS         the papers' Tables III/IV (kaldi-mpq results-table): eval2000 swbd/callhm and rt03
#                            WERs (compute-wer with the swbd filters, LMWT/WIP tuned on $tune_set), MAPSSWE
#                            marks, PPL, size -> $exp/RESULTS.{md,txt,json}; and $exp/RESULTS_sclite.txt: every
#                            hubscr.pl best WER (stage 6) and significance result (stage 7)
#
# Usage (from this directory; Kaldi paths are relative to --kaldi-dir unless absolute):
#   ./run.sh --kaldi-dir ~/kaldi/egs/swbd/s5c                      # everything, Kaldi's default names
#   ./run.sh --kaldi-dir ~/kaldi/egs/swbd/s5c --stage 5 --decode-dir-pattern exp/chain/tdnn7r_sp/decode_SET_sw1_fsh_fg
#   ./run.sh --config conf/quick.conf ...                          # tiny LMs and settings (a smoke test)
# A step whose output holds .done is skipped; delete it to redo the step. Jobs go through cmd.sh; rescoring
# runs one job per lat.JOB.gz of the decode dir (its num_jobs), as Kaldi's lmrescore scripts, so there is no --nj.

# ---- configuration ----------------------------------------------------------------------------------
stage=0
stop_stage=100
exp=exp                         # all outputs
kaldi_dir=.                     # the Kaldi egs/swbd/s5c directory: relative Kaldi paths below are under it
# LM text (stage 0)
lm_text=data/local/lm/text      # Kaldi text (utt-id words) or lhotse manifests, several files allowed ("a b")
lm_dev_text=                    # Kaldi text of the LM dev set; empty: every $heldout_every-th sentence of lm_text
heldout_every=50
swbd_audio=                     # set: lhotse's switchboard preparation instead of lm_text (with swbd_transcripts,
swbd_transcripts=               #      the MS-State word alignments dir)
fisher_corpus=                  # set: also lhotse's fisher_english (dir holding LDC2004T19 LDC2005T19)
text_normalize=none             # prepare-text --normalize (none, upper, ami)
# vocabulary (stage 1)
lang=data/lang_sw1_fsh_fg       # lang dir of the first pass: words.txt
unk="<unk>"
# LMs (stage 2)
lms="lstm:lstm_2x1024 transformer:transformer_6x512"   # name:preset (kaldi-mpq train-lm --list-presets) or YAML
lm_opts=""                      # extra train-lm options, e.g. "--set train.epochs=10"
lm_device=cuda                  # cuda (jobs on $cuda_cmd) or cpu ($train_cmd)
num_gpus=1                      # > 1: data-parallel training under torchrun, $cuda_cmd asking for that many GPUs
# quantization (stage 3)
systems=conf/systems.conf       # name lm method options, one a line
quant_opts=""                   # extra options of every quantize run (admm, bp, gq, fine-tuning)
sens_opts=""                    # extra options of kaldi-mpq sensitivity (prototype training, probes), e.g.
                                # "--word-bands 1000,3000": frequent words' embedding / output rows in
                                # clusters of their own (docs/quantization.md, "Word bands"; not the papers')
nas_opts=""                     # extra options of kaldi-mpq nas
# rescoring (stage 5)
test_sets="eval2000 rt03"       # rt02 too when decoded
data_dir_pattern=data/SET_hires                       # SET becomes each test set
decode_dir_pattern=exp/chain/tdnn7q_sp/decode_SET_sw1_fsh_fg
old_lm=data/lang_sw1_fsh_fg/G.carpa                   # first-pass 4-gram: ARPA (.gz), G.fst or G.carpa
nbest=20
lm_weight=0.5                   # weight of the neural LM (linear interpolation with the 4-gram)
rescore_systems=""              # LMs to rescore with (default: the float LMs and every system)
lattice_systems=""              # and lattice rescoring (default: the same; "none": no lattice rescoring)
rescore_device=cuda             # cuda ($cuda_cmd) or cpu ($decode_cmd)
lattice_opts=""                 # e.g. "--max-ngram-order 4 --lattice-prune-beam 8"
# scoring (stage 6)
min_lmwt=5
max_lmwt=20
word_ins_penalty=0.0,0.5,1.0
hyp_filter=swbd
score_opts=""                   # extra local/score_sclite.sh options
# results table (stage 8)
table_sets="eval2000_swbd eval2000_callhm rt03"       # test sets or subsets (below) of the table, in order
tune_set=                       # set LMWT/WIP are tuned on (default: the first table set; e.g. rt02)
subsets="eval2000_swbd:eval2000:en_ eval2000_callhm:eval2000:sw_ rt03_swbd:rt03:fsh_ rt03_fsh:rt03:sw_"
                                # name:test-set:file-prefix left out (score_sclite.sh's grep -v)
table_opts=""                   # extra results-table options, e.g. "--plot-dir exp/plots"
# ------------------------------------------------------------------------------------------------------

help_message="Usage: $0 [--kaldi-dir DIR] [--stage N] [--stop-stage N] [--config conf/quick.conf] [--<option> V]
(see the header of $0 for the stages and options)"

. ./cmd.sh
. ./path.sh
. ../../local/parse_options.sh

set -euo pipefail
. ../../local/lm_recipe.sh

set_path() { kpath "${1//SET/$2}"; }
data_dir_of() { set_path "$data_dir_pattern" "$1"; }

command -v kaldi-mpq > /dev/null || die "kaldi-mpq not found: run 'bash local/install.sh' in the repository root"
mkdir -p "$exp"

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: LM text -> $exp/data"
  texts=()
  if [ -n "$swbd_audio" ]; then
    opts=()
    [ -n "$fisher_corpus" ] && opts=(--fisher-corpus "$(kpath "$fisher_corpus")")
    local/lhotse_text.sh --cmd "$train_cmd" "${opts[@]}" "$(kpath "$swbd_audio")" "$(kpath "$swbd_transcripts")" \
      "$exp/lhotse"
    texts=("$exp"/lhotse/*_supervisions_all.jsonl.gz)
  else
    for f in $lm_text; do texts+=("$(kpath "$f")"); done
  fi
  opts=(--cmd "$train_cmd" --heldout-every "$heldout_every" --normalize "$text_normalize" --lm-text "${texts[*]}")
  [ -n "$lm_dev_text" ] && opts+=(--lm-dev-text "$(kpath "$lm_dev_text")")
  ../../local/prepare_lm_text.sh "${opts[@]}" "$exp/data"
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
  for set in $test_sets; do
    log "Stage 5: rescore $(set_path "$decode_dir_pattern" "$set")"
    old_lm=$(kpath "$old_lm") rescore_set "$(set_path "$decode_dir_pattern" "$set")" "$exp/decode/$set" \
      "$exp/lang/words.txt"
  done
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  for set in $test_sets; do
    log "Stage 6: score $set ($(set_path "$data_dir_pattern" "$set"))"
    score_set "$(set_path "$data_dir_pattern" "$set")" "$exp/lang/words.txt" \
      "$(set_path "$decode_dir_pattern" "$set")" "$exp/decode/$set"
  done
fi

if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  for set in $test_sets; do
    log "Stage 7: significance on $set"
    significance_set "$(set_path "$data_dir_pattern" "$set")" "$exp/decode/$set" "$exp/significance/$set"
  done
fi

if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  log "Stage 8: results table ($table_sets) -> $exp/RESULTS.{md,txt}; scoring summaries -> $exp/RESULTS_sclite.txt"
  # shellcheck disable=SC2086
  old_lm=$(kpath "$old_lm") results_table "$exp/RESULTS" "Switchboard" "$tune_set" $table_sets
  # shellcheck disable=SC2086
  collect_results "$exp/RESULTS_sclite.txt" $test_sets
  cat "$exp/RESULTS.txt"
fi
