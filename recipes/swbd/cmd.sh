# How the recipe's jobs run (sourced by run.sh; Kaldi's cmd.sh contract: train_cmd, decode_cmd, cuda_cmd).
#   queue=local  this machine (Kaldi's utils/run.pl when KALDI_ROOT is set)
#   queue=slurm  Kaldi's utils/slurm.pl with KALDI_ROOT (conf/slurm.conf), else ../../local/slurm.sh
#   queue=sge    Kaldi's utils/queue.pl (needs KALDI_ROOT; conf/queue.conf)
# $cuda_cmd asks for one GPU (--gpu 1); run.sh --num-gpus N asks for N. See ../../local/cmd.sh.
queue=${queue:-local}
slurm_opts=${slurm_opts:-}      # e.g. "--partition cpu --time 24:00:00" (local/slurm.sh only)
gpu_opts=${gpu_opts:-}          # e.g. "--partition gpu" (local/slurm.sh only)
. ../../local/cmd.sh
