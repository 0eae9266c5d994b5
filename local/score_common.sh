# Shared by local/score_kaldi.sh and local/score_sclite.sh (sourced after the option defaults):
# parses options, checks the three arguments, and defines run_jobs (local/run_jobs.sh): the scoring job
# runs through $cmd (Kaldi's run.pl/queue.pl), or here when that launcher is not found.
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/parse_options.sh"
if [ $# -ne 3 ]; then
  sed -n '/^# Usage:/,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 1
fi
data=$1 lang=$2 dir=$3

. "$here/run_jobs.sh"
