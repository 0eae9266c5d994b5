#!/usr/bin/env bash
# AMI transcripts as lhotse supervision manifests, by lhotse's own preparation (Kaldi text normalisation),
# for ../../local/prepare_lm_text.sh --lm-text: <dir>/ami-<mic>_supervisions_{train,dev,test}.jsonl.gz.
#
# Usage: local/lhotse_text.sh [--cmd run.pl] [--annotations DIR] [--mic ihm] <ami-corpus-dir> <dir>
set -euo pipefail
cmd=run.pl
annotations=
mic=ihm
. ../../local/parse_options.sh
. ../../local/lm_recipe.sh
[ $# -eq 2 ] || { sed -n '2,/^set -euo/p' "$0" | grep -v '^set' | sed 's/^# \{0,1\}//' >&2; exit 1; }
corpus=$1 dir=$2
command -v lhotse > /dev/null || die "lhotse not found: pip install 'kaldi-mpq[lhotse]'"
[ -f "$dir/.done" ] && exit 0
opts=(--mic "$mic" --normalize-text kaldi)
[ -n "$annotations" ] && opts+=(--annotations "$annotations")
run_job "$cmd" "lhotse prepare ami" "$dir/log/ami.log" lhotse prepare ami "${opts[@]}" "$corpus" "$dir"
touch "$dir/.done"
