# How jobs run. "run.pl" style runners are used when the recipe splits work into jobs (later stages);
# on a single machine the local runner of kaldi-mpq is enough. Set these to queue.pl / slurm.pl
# invocations on a cluster, as in any Kaldi recipe.
export train_cmd="run.pl"
export decode_cmd="run.pl"
export cuda_cmd="run.pl --gpu 1"
