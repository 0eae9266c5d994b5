# Environment of the recipe: the kaldi-mpq installed by ../../local/install.sh (if not already on PATH).
export LC_ALL=C
export PYTHONUNBUFFERED=1
if ! command -v kaldi-mpq >/dev/null 2>&1 && [ -x "$(dirname "${BASH_SOURCE[0]}")/../../.venv/bin/kaldi-mpq" ]; then
  export PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.venv/bin" && pwd):$PATH"
fi
# Built n-gram tables cached by content (kaldi_mpq/ngram/load.py), so that the rescoring jobs read the
# first-pass 3-gram's tables instead of each rebuilding them; set it (empty: no cache) to override.
export KALDI_MPQ_NGRAM_CACHE="${KALDI_MPQ_NGRAM_CACHE-$PWD/exp/ngram_cache}"
