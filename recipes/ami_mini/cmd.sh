# How jobs run ($train_cmd, $decode_cmd, $cuda_cmd): on this machine by default; set queue=slurm or sge
# (and slurm_opts / gpu_opts) here to use a cluster. See ../../local/cmd.sh.
queue=${queue:-local}
. ../../local/cmd.sh
