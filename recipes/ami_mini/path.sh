# Environment of the recipe: the kaldi-mpq installed by ../../local/install.sh (if not already on PATH).
export LC_ALL=C
export PYTHONUNBUFFERED=1
if ! command -v kaldi-mpq >/dev/null 2>&1 && [ -x "$(dirname "${BASH_SOURCE[0]}")/../../.venv/bin/kaldi-mpq" ]; then
  export PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.venv/bin" && pwd):$PATH"
fi
