# Environment shared by the recipes' path.sh (sourced by them, and so by their jobs): C locale, unbuffered
# Python, and the kaldi-mpq installed by local/install.sh in the repository's .venv when it is not on the PATH.
export LC_ALL=C
export PYTHONUNBUFFERED=1
# One thread per job (as Kaldi's and icefall's recipes): the recipes get their parallelism from running
# jobs side by side. PyTorch otherwise starts a thread per core in every job, and on a machine whose
# cores are also busy with other work its threads wait for each other: LM training on 2 cores with one
# core busy ran at 555 tokens/s with 2 threads and 5,469 with 1. Set OMP_NUM_THREADS to override.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export MKL_NUM_THREADS="${MKL_NUM_THREADS:-$OMP_NUM_THREADS}"
if ! command -v kaldi-mpq >/dev/null 2>&1 && [ -x "$(dirname "${BASH_SOURCE[0]}")/../.venv/bin/kaldi-mpq" ]; then
  export PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.venv/bin" && pwd):$PATH"
fi
