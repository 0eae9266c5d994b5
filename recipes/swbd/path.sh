# Environment of the recipe and of its jobs (Kaldi's queue.pl/slurm.pl job scripts source ./path.sh):
# kaldi-mpq from the repository's .venv when it is not on the PATH. KALDI_ROOT is only used by cmd.sh.
. "$(dirname "${BASH_SOURCE[0]}")/../default/path.sh"
