#!/usr/bin/env bash
# LM training and dev text of a recipe from Kaldi text or lhotse supervision manifests: <dir>/train.txt and
# <dir>/dev.txt, one sentence a line (kaldi-mpq prepare-text, format detected per file).
#
# Usage: local/prepare_lm_text.sh [options] <dir>
#   --cmd run.pl              job launcher
#   --lm-text "FILE..."       in-domain text: Kaldi text (utt-id words) or lhotse *.jsonl[.gz] manifests
#   --repeat 1                copies of the in-domain text in train.txt (the AMI papers: 3)
#   --extra-lm-text "FILE..." more text, once (e.g. Fisher transcripts)
#   --lm-dev-text "FILE..."   dev text (default: every --heldout-every'th in-domain sentence, kept out of train)
#   --heldout-every 50 --normalize none
# Example:
#   local/prepare_lm_text.sh --lm-text data/ihm/train/text --repeat 3 --extra-lm-text data/fisher/text \
#     --lm-dev-text data/ihm/dev/text exp/data
set -euo pipefail
cmd=run.pl
lm_text=
repeat=1
extra_lm_text=
lm_dev_text=
heldout_every=50
normalize=none
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/parse_options.sh"
. "$here/lm_recipe.sh"
[ $# -eq 1 ] || { sed -n '2,/^set -euo/p' "$0" | grep -v '^set' | sed 's/^# \{0,1\}//' >&2; exit 1; }
dir=$1

if [ -f "$dir/.done" ]; then log "$dir/.done exists, skipping"; exit 0; fi
[ -n "$lm_text" ] || die "give --lm-text"
mkdir -p "$dir/log"

prepare() {
  # prepare <name> <out> <files...>
  local name=$1 out=$2
  shift 2
  need "$@"
  run_job "$cmd" "prepare-text $name" "$dir/log/prepare_text_$name.log" kaldi-mpq prepare-text \
    --normalize "$normalize" "$@" --out "$out"
}

# shellcheck disable=SC2086
prepare in_domain "$dir/in_domain.txt" $lm_text
if [ -n "$lm_dev_text" ]; then
  # shellcheck disable=SC2086
  prepare dev "$dir/dev.txt" $lm_dev_text
  mv "$dir/in_domain.txt" "$dir/in_domain_train.txt"
else
  split_heldout "$dir/in_domain.txt" "$dir/in_domain_train.txt" "$dir/dev.txt" "$heldout_every"
  rm "$dir/in_domain.txt"
fi
: > "$dir/extra.txt"
# shellcheck disable=SC2086
[ -n "$extra_lm_text" ] && prepare extra "$dir/extra.txt" $extra_lm_text
for _ in $(seq "$repeat"); do cat "$dir/in_domain_train.txt"; done | cat - "$dir/extra.txt" > "$dir/train.txt"
rm "$dir/in_domain_train.txt" "$dir/extra.txt"
log "$(wc -l < "$dir/train.txt") training and $(wc -l < "$dir/dev.txt") dev sentences in $dir"
touch "$dir/.done"
