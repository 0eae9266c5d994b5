# How jobs run: see ../../local/cmd.sh (queue=local | slurm | sge; Kaldi's utils/*.pl when $KALDI_ROOT is set).
queue=local
. ../../local/cmd.sh
