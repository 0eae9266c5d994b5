# Shared by local/score_kaldi.sh and local/score_sclite.sh (sourced after the option defaults):
# parses options, checks the three arguments, and defines run_logged LOG CMD... which runs CMD through
# $cmd (Kaldi's run.pl/queue.pl), or directly when $cmd is run.pl and utils/run.pl is absent.
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/parse_options.sh"
if [ $# -ne 3 ]; then
  sed -n '/^# Usage:/,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 1
fi
data=$1 lang=$2 dir=$3

run_logged() {
  local log=$1
  shift
  mkdir -p "$(dirname "$log")"
  if [ "$cmd" = run.pl ] && [ ! -x utils/run.pl ]; then
    "$@" 2> "$log" || { tail -n 3 "$log" >&2; return 1; }
  else
    $cmd "$log" "$@"
  fi
}
