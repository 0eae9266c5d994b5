# Shared body of local/lmrescore_nbest.sh and local/lmrescore_lattice.sh (sourced, not run).
# Expects: mode (the kaldi-mpq command), here, and passthrough: the names of the command's options as
# variables. Options the user set are passed on as --name value; the others are left out, so the
# command's own defaults apply. --cmd and --max-parallel are the wrapper's own (see run_jobs.sh).
cmd=run.pl
max_parallel=4
for var in $passthrough; do printf -v "$var" '%s' ""; done
. "$here/parse_options.sh"
if [ $# -ne 4 ]; then
  sed -n '2,/^set -euo/p' "$0" | grep -v '^set' | sed 's/^# \{0,1\}//' >&2
  exit 1
fi
lm=$1; words=$2; in_dir=$3; out_dir=$4
[ -f "$in_dir/num_jobs" ] || { echo "$0: $in_dir/num_jobs missing (not a Kaldi decode dir?)" >&2; exit 1; }
nj=$(cat "$in_dir/num_jobs")
opts=(--lm "$lm" --words "$words")
for var in $passthrough; do
  if [ -n "${!var}" ]; then opts+=("--${var//_/-}" "${!var}"); fi
done
mkdir -p "$out_dir/log"
echo "$0: $mode of $in_dir ($nj jobs) -> $out_dir"
. "$here/run_jobs.sh"
run_jobs "$nj" "$out_dir/log/rescore.JOB.log" kaldi-mpq "$mode" "${opts[@]}" --job JOB "$in_dir" "$out_dir" || {
  echo "$0: see $out_dir/log/rescore.*.log" >&2
  exit 1
}
echo "$0: done; lattices in $out_dir/lat.{1..$nj}.gz"
