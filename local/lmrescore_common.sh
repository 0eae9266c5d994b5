# Shared body of local/lmrescore_nbest.sh and local/lmrescore_lattice.sh (sourced, not run).
# Expects: mode, cmd, max_parallel, old_lm, ngram, acwt, weight, interpolation, device, here; optional
# extra_opts function printing mode-specific options.
. "$here/parse_options.sh"
if [ $# -ne 4 ]; then
  sed -n '2,/^set -euo/p' "$0" | grep -v '^set' | sed 's/^# \{0,1\}//' >&2
  exit 1
fi
lm=$1; words=$2; in_dir=$3; out_dir=$4
[ -f "$in_dir/num_jobs" ] || { echo "$0: $in_dir/num_jobs missing (not a Kaldi decode dir?)" >&2; exit 1; }
nj=$(cat "$in_dir/num_jobs")
if [ -z "$interpolation" ]; then
  if [ -n "$old_lm" ]; then interpolation=linear; else interpolation=log-linear; fi
fi
opts=(--lm "$lm" --words "$words" --acwt "$acwt" --weight "$weight" --interpolation "$interpolation")
[ -n "$old_lm" ] && opts+=(--old-lm "$old_lm")
[ -n "${ngram:-}" ] && opts+=(--ngram "$ngram")
[ -n "$device" ] && opts+=(--device "$device")
if declare -F extra_opts > /dev/null; then read -r -a more <<< "$(extra_opts)"; opts+=("${more[@]}"); fi
if [ "${n:-}" != "" ]; then opts+=(--n "$n"); fi
mkdir -p "$out_dir/log"
echo "$0: $mode of $in_dir ($nj jobs) -> $out_dir"
. "$here/run_jobs.sh"
run_jobs "$nj" "$out_dir/log/rescore.JOB.log" kaldi-mpq "$mode" "${opts[@]}" --job JOB "$in_dir" "$out_dir" || {
  echo "$0: see $out_dir/log/rescore.*.log" >&2
  exit 1
}
echo "$0: done; lattices in $out_dir/lat.{1..$nj}.gz"
