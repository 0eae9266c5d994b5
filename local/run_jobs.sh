# Sourced by the local/ scripts: run_jobs NJ LOG COMMAND...
#
# Kaldi's job contract: with NJ > 1, every "JOB" in LOG and COMMAND becomes the job number 1..NJ
# (run.pl/queue.pl/slurm.pl's JOB=1:NJ). The jobs go through $cmd when its launcher (the first word
# of $cmd, e.g. run.pl or utils/queue.pl) is found; otherwise they run here, ${max_parallel:-4} at a
# time, each job's stdout and stderr in its LOG, and a failure names the failed jobs and shows the end
# of the first failed log. Returns non-zero if any job failed.
run_jobs() {
  local nj=$1 log=$2
  shift 2
  local launcher=${cmd%% *}
  if command -v "$launcher" > /dev/null 2>&1; then
    if [ "$nj" -eq 1 ]; then
      $cmd "$log" "$@"
    else
      $cmd JOB=1:"$nj" "$log" "$@"
    fi
    return
  fi
  [ "$nj" -gt 1 ] && echo "${0##*/}: $launcher not found; running the $nj jobs here, ${max_parallel:-4} at a time" >&2
  local job arg args failed=() status_dir
  status_dir=$(mktemp -d)
  for job in $(seq 1 "$nj"); do
    args=()
    for arg in "$@"; do args+=("${arg//JOB/$job}"); done
    mkdir -p "$(dirname "${log//JOB/$job}")"
    { "${args[@]}" > "${log//JOB/$job}" 2>&1 || echo $? > "$status_dir/$job"; } &
    while [ "$(jobs -rp | wc -l)" -ge "${max_parallel:-4}" ]; do wait -n || true; done
  done
  wait
  for job in $(seq 1 "$nj"); do
    [ -f "$status_dir/$job" ] && failed+=("$job")
  done
  rm -rf "$status_dir"
  if [ ${#failed[@]} -gt 0 ]; then
    local first=${log//JOB/${failed[0]}}
    echo "${0##*/}: ${#failed[@]} of $nj job(s) failed (${failed[*]}); the end of $first:" >&2
    tail -n 5 "$first" >&2
    return 1
  fi
}
