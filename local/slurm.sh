#!/usr/bin/env bash
# Run a command as a Slurm array job, with the contract of Kaldi's run.pl / queue.pl / slurm.pl, and wait.
#
# Usage: local/slurm.sh [options] [JOB=1:N] <log> <command> [args...]
#   JOB=1:N         N array tasks; every "JOB" in <log> and the command becomes the task's number (any
#                   upper-case name works, e.g. TASK=1:4, as in Kaldi)
#   --mem 4G        memory per CPU (sbatch --mem-per-cpu; 0: none), as Kaldi's slurm.pl
#   --num-threads N CPUs per task (sbatch --cpus-per-task)
#   --gpu N         GPUs per task (sbatch --gres=gpu:N; 0: none)
#   --max-jobs-run N  at most N tasks at a time (the array's %N throttle)
#   --time T, --partition P, --account A, any other --opt VALUE: passed to sbatch as --opt=VALUE
# Example (a recipe's cmd.sh):
#   export decode_cmd="local/slurm.sh --mem 4G --time 4:00:00"
#   export cuda_cmd="local/slurm.sh --gpu 1 --partition gpu"
#   $decode_cmd JOB=1:20 exp/decode/log/rescore.JOB.log kaldi-mpq lattice-rescore ... --job JOB ...
#
# Each task writes its stdout and stderr to its own <log> (with JOB replaced), framed as Kaldi's
# launchers frame it ("# <command>", "# Started at", ..., "# Ended (code N) at"), and its exit status to
# <log dir>/q/<name>.JOB.status. The command line is built as run.pl builds it: arguments without white
# space are taken as they are (so "\|" pipes work), others are quoted. The job runs in the current
# directory with the submitting environment (and ./path.sh sourced when present, as Kaldi's queue.pl
# does). The script blocks until every task has ended (sbatch --wait; Ctrl-C cancels the job) and exits 0
# only if all succeeded; otherwise it names the failed tasks, the Slurm job and the logs, and shows the
# end of the first failed log.
#
# Slurm's own messages (time limit, out of memory, node failure) go to <log dir>/q/<name>.JOB.out.
# Hand-written sbatch rather than a Python submission library: the contract is a shell command line with
# Kaldi's log paths, which an array job with per-task redirection states directly.
set -uo pipefail
me=${0##*/}

sbatch_opts=()
max_jobs_run=
while [ $# -gt 0 ]; do
  case "$1" in
    --*=*) opt=${1%%=*}; val=${1#*=}; shift ;;
    --*)   [ $# -ge 2 ] || { echo "$me: option $1 needs a value" >&2; exit 1; }
           opt=$1; val=$2; shift 2 ;;
    *) break ;;
  esac
  case "$opt" in
    --mem)          [ "$val" = 0 ] || sbatch_opts+=("--mem-per-cpu=$val") ;;
    --num-threads)  sbatch_opts+=("--cpus-per-task=$val") ;;
    --gpu)          [ "$val" = 0 ] || sbatch_opts+=("--gres=gpu:$val") ;;
    --max-jobs-run) max_jobs_run=$val ;;
    --config)       echo "$me: --config (Kaldi's conf/slurm.conf) is not read; give sbatch options directly" >&2
                    exit 1 ;;
    *)              sbatch_opts+=("$opt=$val") ;;
  esac
done

var= first=1 last=1
if [[ ${1:-} =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
  var=${BASH_REMATCH[1]} first=${BASH_REMATCH[2]} last=${BASH_REMATCH[3]}
  shift
  [ "$first" -le "$last" ] || { echo "$me: empty job range $var=$first:$last" >&2; exit 1; }
fi
if [ $# -lt 2 ]; then
  sed -n '2,/^set -uo/p' "$0" | grep -v '^set' | sed 's/^# \{0,1\}//' >&2
  exit 1
fi
log=$1
shift
if [ -z "$var" ] && [[ $log == *JOB* ]] ; then
  echo "$me: the log $log names JOB but no JOB=1:N range was given" >&2
  exit 1
fi

# The command line, quoted as Kaldi's run.pl quotes it.
cmdline=
for arg in "$@"; do
  if [[ $arg =~ ^[^[:space:]]+$ ]]; then cmdline+="$arg "
  elif [[ $arg == *\"* ]]; then cmdline+="'$arg' "
  else cmdline+="\"$arg\" "; fi
done
cmdline=${cmdline% }

log_dir=$(dirname "$log")
mkdir -p "$log_dir/q" || exit 1
q_dir=$(cd "$log_dir/q" && pwd)
name=$(basename "$log")
name=${name%.log}
[ -n "$var" ] && { name=${name//.$var/}; name=${name//$var/}; }
jobs_in() { seq "$first" "$last"; }
task_log() { if [ -n "$var" ]; then echo "${log//$var/$1}"; else echo "$log"; fi; }
status_file() { echo "$q_dir/$name.$1.status"; }

# The job script: each array task picks its own command line and log (JOB replaced by its number, as
# run.pl does) and runs the line through bash, as run.pl does.
script=$q_dir/$name.sh
{
  echo "#!/usr/bin/env bash"
  echo "# written by $me for $log"
  echo "cd $(printf %q "$PWD")"
  echo "[ -f ./path.sh ] && . ./path.sh"
  echo 'task=${SLURM_ARRAY_TASK_ID:-1}'
  echo 'case $task in'
  for j in $(jobs_in); do
    line=$cmdline
    [ -n "$var" ] && line=${cmdline//$var/$j}
    echo "  $j) log=$(printf %q "$(task_log "$j")"); cmd=$(printf %q "$line") ;;"
  done
  echo '  *) echo "no task $task" >&2; exit 1 ;;'
  echo 'esac'
  echo "status=$(printf %q "$q_dir/$name").\$task.status"
  cat <<'EOF'
mkdir -p "$(dirname "$log")"
{ echo "# $cmd"; echo "# Started at $(date)"; echo "#"; } > "$log"
start=$(date +%s)
( eval "$cmd" ) >> "$log" 2>&1
ret=$?
end=$(date +%s)
echo "# Accounting: time=$((end - start)) threads=${SLURM_CPUS_PER_TASK:-1}" >> "$log"
echo "# Ended (code $ret) at $(date), elapsed time $((end - start)) seconds" >> "$log"
echo $ret > "$status"
exit $ret
EOF
} > "$script.tmp" || exit 1
mv "$script.tmp" "$script"

for j in $(jobs_in); do rm -f "$(status_file "$j")"; done
array=()
out=$q_dir/$name.out
if [ -n "$var" ]; then
  array=("--array=$first-$last${max_jobs_run:+%$max_jobs_run}")
  out=$q_dir/$name.%a.out
fi
id_file=$q_dir/$name.jobid
: > "$id_file"
sbatch --parsable --wait --job-name="$name" --output="$out" "${array[@]}" "${sbatch_opts[@]}" "$script" \
  > "$id_file" 2> "$q_dir/$name.sbatch.err" &
sbatch_pid=$!
cancel() {
  local id
  id=$(cut -d';' -f1 "$id_file" 2> /dev/null)
  [ -n "$id" ] && scancel "$id" && echo "$me: cancelled Slurm job $id" >&2
  kill "$sbatch_pid" 2> /dev/null
  exit 130
}
trap cancel INT TERM
while [ ! -s "$id_file" ] && kill -0 "$sbatch_pid" 2> /dev/null; do sleep 0.2; done
job_id=$(cut -d';' -f1 "$id_file")
range=${var:+ $var=$first:$last}
if [ -n "$job_id" ]; then
  echo "$me: Slurm job $job_id$range, logs $log" >&2
fi
wait "$sbatch_pid"
sbatch_rc=$?
trap - INT TERM
if [ -z "$job_id" ]; then
  echo "$me: sbatch failed (exit $sbatch_rc) for $log:" >&2
  cat "$q_dir/$name.sbatch.err" >&2
  exit 1
fi

failed=() missing=()
for j in $(jobs_in); do
  st=$(cat "$(status_file "$j")" 2> /dev/null)
  if [ -z "$st" ]; then missing+=("$j")
  elif [ "$st" != 0 ]; then failed+=("$j"); fi
done
n_jobs=$((last - first + 1))
if [ ${#failed[@]} -eq 0 ] && [ ${#missing[@]} -eq 0 ]; then
  [ "$sbatch_rc" = 0 ] || echo "$me: warning: sbatch exited $sbatch_rc although every task reported success" >&2
  exit 0
fi
label() { if [ -n "$var" ]; then echo "$var=$1"; else echo "the job"; fi; }
for j in "${failed[@]}"; do
  echo "$me: $(label "$j") failed (exit $(cat "$(status_file "$j")"), Slurm job $job_id${var:+_$j}); see $(task_log "$j")" >&2
done
for j in "${missing[@]}"; do
  slurm_out=$out; [ -n "$var" ] && slurm_out=$q_dir/$name.$j.out
  echo "$me: $(label "$j") did not finish (Slurm job $job_id${var:+_$j}: cancelled, time or memory limit," \
       "node failure?); see $(task_log "$j") and $slurm_out" >&2
done
echo "$me: $((${#failed[@]} + ${#missing[@]})) of $n_jobs job(s) failed" >&2
first_bad=${failed[0]:-${missing[0]}}
if [ -f "$(task_log "$first_bad")" ]; then
  echo "$me: the end of $(task_log "$first_bad"):" >&2
  tail -n 5 "$(task_log "$first_bad")" >&2
fi
exit 1
