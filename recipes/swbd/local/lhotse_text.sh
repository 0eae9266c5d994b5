#!/usr/bin/env bash
# Switchboard (and Fisher) transcripts as lhotse supervision manifests, by lhotse's own preparation, for
# ../../local/prepare_lm_text.sh --lm-text: <dir>/swbd_supervisions_all.jsonl.gz and, with --fisher-corpus,
# <dir>/fisher-english_supervisions_all.jsonl.gz.
#
# Usage: local/lhotse_text.sh [--cmd run.pl] [--fisher-corpus DIR] <swbd-audio-dir> <swbd-transcript-dir> <dir>
#   <swbd-audio-dir>       LDC97S62; <swbd-transcript-dir>: the MS-State word alignments (swb_ms98_transcriptions)
#   --fisher-corpus DIR    the dir holding LDC2004T19 and LDC2005T19 (and the audio dirs lhotse scans)
set -euo pipefail
cmd=run.pl
fisher_corpus=
. ../../local/parse_options.sh
. ../../local/lm_recipe.sh
[ $# -eq 3 ] || { sed -n '2,/^set -euo/p' "$0" | grep -v '^set' | sed 's/^# \{0,1\}//' >&2; exit 1; }
audio=$1 transcripts=$2 dir=$3
command -v lhotse > /dev/null || die "lhotse not found: pip install 'kaldi-mpq[lhotse]'"
if [ ! -f "$dir/.done_swbd" ]; then
  run_job "$cmd" "lhotse prepare switchboard" "$dir/log/swbd.log" \
    lhotse prepare switchboard --transcript-dir "$transcripts" "$audio" "$dir"
  touch "$dir/.done_swbd"
fi
if [ -n "$fisher_corpus" ] && [ ! -f "$dir/.done_fisher" ]; then
  run_job "$cmd" "lhotse prepare fisher-english" "$dir/log/fisher.log" \
    lhotse prepare fisher-english "$fisher_corpus" "$dir"
  touch "$dir/.done_fisher"
fi
