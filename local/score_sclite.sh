#!/usr/bin/env bash
# Kaldi's swbd/AMI local/score_sclite.sh (and score_asclite.sh), with kaldi-mpq: a CTM per LMWT/WIP
# from the lattices, scored with hubscr.pl (data/glm present), sclite or asclite; the built-in Python
# scorer when SCTK is absent (said in the log). eval2000 / rt03 also get their subset scores.
#
# Usage: local/score_sclite.sh [options] <data-dir> <lang-dir|graph-dir> <decode-dir>
#   --cmd run.pl --stage 0
#   --min-lmwt 5 --max-lmwt 20 --word-ins-penalty 0.0,0.5,1.0
#   --frame-subsampling-factor N   default: <decode-dir>/../frame_subsampling_factor, else 1 (chain: 3)
#   --hyp-filter swbd              CTM word filter (swbd, ami, none, ...)
#   --asclite false --overlap-spk 4   AMI sdm/mdm overlap scoring
# Reads <data-dir>/stm, <data-dir>/glm (optional), segments and reco2file_and_channel.
set -euo pipefail
cmd=run.pl
stage=0
min_lmwt=5
max_lmwt=20
word_ins_penalty=0.0,0.5,1.0
frame_subsampling_factor=
hyp_filter=swbd
asclite=false
overlap_spk=4

. "$(cd "$(dirname "$0")" && pwd)/score_common.sh"

if [ -z "$frame_subsampling_factor" ]; then
  frame_subsampling_factor=1
  [ -f "$dir/../frame_subsampling_factor" ] && frame_subsampling_factor=$(cat "$dir/../frame_subsampling_factor")
fi
extra=()
$asclite && extra=(--asclite --overlap-limit "$overlap_spk")

if [ "$stage" -le 0 ]; then
  set -- kaldi-mpq score --sclite --min-lmwt "$min_lmwt" --max-lmwt "$max_lmwt" \
    --word-ins-penalty "$word_ins_penalty" --frame-subsampling-factor "$frame_subsampling_factor" \
    --hyp-filter "$hyp_filter" "${extra[@]}" "$data" "$lang" "$dir"
  run_jobs 1 "$dir/scoring/log/score_sclite.log" "$@"
fi
grep -h "best " "$dir/scoring/log/score_sclite.log" || true
exit 0
