# Environment shared by the recipes' path.sh (sourced by them, and so by their jobs): C locale, unbuffered
# Python, and the kaldi-mpq installed by local/install.sh in the repository's .venv when it is not on the PATH.
export LC_ALL=C
export PYTHONUNBUFFERED=1
if ! command -v kaldi-mpq >/dev/null 2>&1 && [ -x "$(dirname "${BASH_SOURCE[0]}")/../.venv/bin/kaldi-mpq" ]; then
  export PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.venv/bin" && pwd):$PATH"
fi
