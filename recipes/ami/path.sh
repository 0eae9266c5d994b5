# Environment of the recipe and of its jobs (Kaldi's queue.pl/slurm.pl job scripts source ./path.sh):
# kaldi-mpq from the repository's .venv when it is not on the PATH. KALDI_ROOT is only used by cmd.sh.
# The n-gram table cache ($KALDI_MPQ_NGRAM_CACHE, default $exp/ngram_cache) is set by local/lm_recipe.sh.
. "$(dirname "${BASH_SOURCE[0]}")/../../local/path.sh"
