# Environment of the recipe and of its jobs (Kaldi's queue.pl/slurm.pl job scripts source ./path.sh):
# kaldi-mpq from the repository's .venv when it is not on the PATH, and the n-gram table cache
# $KALDI_MPQ_NGRAM_CACHE (default exp/ngram_cache of this recipe). KALDI_ROOT is only used by cmd.sh.
. "$(dirname "${BASH_SOURCE[0]}")/../ami_mini/path.sh"
