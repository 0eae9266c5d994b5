# Environment of the recipe and of its jobs (Kaldi's queue.pl/slurm.pl job scripts source ./path.sh):
# the kaldi-mpq installed by ../../local/install.sh (if not already on the PATH).
. "$(dirname "${BASH_SOURCE[0]}")/../../local/path.sh"
# Built n-gram tables cached by content (kaldi_mpq/ngram/load.py), so that the rescoring jobs read the
# first-pass 3-gram's tables instead of each rebuilding them; set it (empty: no cache) to override.
export KALDI_MPQ_NGRAM_CACHE="${KALDI_MPQ_NGRAM_CACHE-$PWD/exp/ngram_cache}"
