#!/usr/bin/env bash
# Kaldi's steps/score_kaldi.sh, with kaldi-mpq: LMWT x WIP sweep over a decode dir's lattices, writing
# scoring_kaldi/{test_filt.txt,penalty_P/LMWT.txt,best_wer,wer_details/} and wer_LMWT_P.
#
# Usage: local/score_kaldi.sh [options] <data-dir> <lang-dir|graph-dir> <decode-dir>
#   --cmd run.pl                 job launcher for the (single) scoring job; run here when it is not found
#   --stage 0                    0: everything; >0: nothing left to do (details are written with the sweep)
#   --min-lmwt 7 --max-lmwt 17   LM weights
#   --word-ins-penalty 0.0,0.5,1.0
#   --hyp-filter none --ref-filter none   kaldi-mpq word filters (noise, unk, hesitation, partial, swbd, ami)
#   --layout kaldi               or old (scoring/LMWT.tra + wer_LMWT, lattice-best-path --lm-scale=LMWT)
# Example:
#   local/score_kaldi.sh --cmd "$decode_cmd" --hyp-filter unk data/test data/lang exp/tri3a/decode
set -euo pipefail
cmd=run.pl
stage=0
min_lmwt=7
max_lmwt=17
word_ins_penalty=0.0,0.5,1.0
hyp_filter=none
ref_filter=none
layout=kaldi

. "$(cd "$(dirname "$0")" && pwd)/score_common.sh"

if [ "$stage" -le 0 ]; then
  set -- kaldi-mpq score --min-lmwt "$min_lmwt" --max-lmwt "$max_lmwt" --word-ins-penalty "$word_ins_penalty" \
    --hyp-filter "$hyp_filter" --ref-filter "$ref_filter" --layout "$layout" "$data" "$lang" "$dir"
  run_jobs 1 "$dir/scoring_kaldi/log/score.log" "$@"
fi
[ -f "$dir/scoring_kaldi/best_wer" ] && cat "$dir/scoring_kaldi/best_wer"
exit 0
