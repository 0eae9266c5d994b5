# Job launchers for a recipe's cmd.sh (sourced): sets and exports train_cmd, decode_cmd and cuda_cmd, the
# $cmd of Kaldi's JOB=1:N contract ("$decode_cmd JOB=1:$nj exp/x/log/rescore.JOB.log kaldi-mpq ...").
#
#   queue=local   on this machine: Kaldi's utils/run.pl when $KALDI_ROOT is set, else kaldi-mpq's own
#                 runner (local/run_jobs.sh runs the jobs here when the launcher "run.pl" is not found)
#   queue=slurm   Kaldi's utils/slurm.pl (reads conf/slurm.conf) when $KALDI_ROOT is set, else
#                 local/slurm.sh (sbatch array jobs; sbatch options in $slurm_opts / $gpu_opts)
#   queue=sge     Kaldi's utils/queue.pl (needs $KALDI_ROOT; reads conf/queue.conf)
#
# Example cmd.sh:
#   queue=slurm
#   slurm_opts="--partition cpu --time 4:00:00"   # local/slurm.sh: sbatch options of every job
#   gpu_opts="--partition gpu"                    # local/slurm.sh: and of GPU jobs
# (Kaldi's slurm.pl and queue.pl take their site options from conf/slurm.conf and conf/queue.conf.)
#   . ../../local/cmd.sh
# Options every launcher understands: --mem, --num-threads, --gpu, --max-jobs-run (Kaldi's names).
queue=${queue:-local}
slurm_opts=${slurm_opts:-}
gpu_opts=${gpu_opts:-}

__cmd_kaldi_launcher() {
  local utils=${KALDI_ROOT}/egs/wsj/s5/utils
  if [ ! -x "$utils/$1" ]; then
    echo "local/cmd.sh: KALDI_ROOT=$KALDI_ROOT but $utils/$1 is missing" >&2
    return 1
  fi
  echo "$utils/$1"
}

case "$queue" in
  local)
    if [ -n "${KALDI_ROOT:-}" ]; then __cmd_launcher=$(__cmd_kaldi_launcher run.pl) || return 1
    else __cmd_launcher=run.pl; fi ;;
  slurm)
    if [ -n "${KALDI_ROOT:-}" ]; then __cmd_launcher=$(__cmd_kaldi_launcher slurm.pl) || return 1
    else __cmd_launcher="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/slurm.sh"; fi ;;
  sge)
    if [ -z "${KALDI_ROOT:-}" ]; then
      echo "local/cmd.sh: queue=sge uses Kaldi's utils/queue.pl: set KALDI_ROOT" >&2
      return 1
    fi
    __cmd_launcher=$(__cmd_kaldi_launcher queue.pl) || return 1 ;;
  *)
    echo "local/cmd.sh: queue must be local, slurm or sge, not '$queue'" >&2
    return 1 ;;
esac

if [[ $__cmd_launcher != */slurm.sh ]]; then  # sbatch options are for local/slurm.sh only
  slurm_opts= gpu_opts=
fi
export train_cmd="$__cmd_launcher --mem 4G${slurm_opts:+ $slurm_opts}"
export decode_cmd="$__cmd_launcher --mem 4G${slurm_opts:+ $slurm_opts}"
export cuda_cmd="$__cmd_launcher --gpu 1 --mem 8G${slurm_opts:+ $slurm_opts}${gpu_opts:+ $gpu_opts}"
unset __cmd_launcher
unset -f __cmd_kaldi_launcher
