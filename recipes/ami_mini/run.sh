#!/usr/bin/env bash
# AMI mini recipe: rescore real first-pass lattices of AMI sentences with neural LMs and score WER.
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
#
# Usage (from this directory, with kaldi-mpq installed by ../../local/install.sh):
#   ./run.sh                                         # everything
#   ./run.sh --stage 0 --stop-stage 0                # only the data
#   ./run.sh --stop-stage 0 --regenerate-first-pass true   # synthesise and decode again (needs flite, sox,
#                                                    # pocketsphinx: apt-get install -y flite sox;
#                                                    # pip install 'kaldi-mpq[first-pass]')
# A stage whose output directory holds .done is skipped; delete the directory to re-run it.

# ---- configuration ----------------------------------------------------------------------------------
stage=0
stop_stage=100
nj=2                              # parallel jobs of the later (rescoring) stages
corpus=../../data/ami             # transcripts/<MEETING>.transcript.txt, lists/{train,dev,eval}.txt
first_pass=../../data/ami_mini    # the committed first pass (lang/words.txt, {dev,eval}, decode_{dev,eval})
regenerate_first_pass=false       # true: run local/make_first_pass.sh instead of copying $first_pass
first_pass_config=conf/first_pass.conf
# ------------------------------------------------------------------------------------------------------

help_message="Usage: $0 [--stage N] [--stop-stage N] [--nj N] [--regenerate-first-pass true|false] (see the header of $0)"

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
