#!/usr/bin/env bash
# Install kaldi-mpq into ./.venv (created if missing).
#
# Usage: bash local/install.sh          # the package with the extras the recipes use (plot, lhotse)
#        bash local/install.sh --test   # also the test extra (pytest, hypothesis, kaldifst), and (when root)
#                                       # Debian's sctk (sclite) and slurm-wlm's slurmctld, slurmd,
#                                       # slurm-client + munge
#
# PyTorch is installed first so that pip does not pull a multi-GB CUDA build on CPU-only machines;
# set TORCH_SPEC (e.g. TORCH_SPEC=torch) to choose another build, or pre-install torch in the venv.
set -euo pipefail
cd "$(dirname "$0")/.."

with_test=false
[ "${1:-}" = "--test" ] && with_test=true

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
. .venv/bin/activate
pip install -q --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
  pip install -q "${TORCH_SPEC:-torch==2.13.0}"
fi
if $with_test; then
  pip install -q -e ".[plot,lhotse,test]"
  # Debian packages the tests use when present: sctk (sclite, hubscr.pl) and a single-node Slurm
  # (tests/test_slurm.py starts munged, slurmctld and slurmd itself; it needs root).
  slurm_debs=()
  for prog in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
    PATH=/usr/sbin:$PATH command -v "${prog%%:*}" > /dev/null || slurm_debs+=("${prog#*:}")
  done
  if { ! [ -x /usr/lib/sctk/bin/sclite ] || [ ${#slurm_debs[@]} -gt 0 ]; } && [ "$(id -u)" = 0 ] \
      && command -v apt-get >/dev/null; then
    apt-get update -qq > /dev/null || true
    export DEBIAN_FRONTEND=noninteractive
    [ -x /usr/lib/sctk/bin/sclite ] || apt-get install -y -qq sctk > /dev/null \
      || echo "local/install.sh: could not install sctk; sclite tests will be skipped" >&2
    [ ${#slurm_debs[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${slurm_debs[@]}" > /dev/null \
      || echo "local/install.sh: could not install ${slurm_debs[*]}; the Slurm tests will be skipped" >&2
  fi
else
  pip install -q -e ".[plot,lhotse]"
fi
echo "kaldi-mpq installed in $(pwd)/.venv ($(.venv/bin/kaldi-mpq --version))"
