#!/usr/bin/env bash
# Pruned lattice rescoring of a Kaldi decode dir with a neural LM, one job per lat.JOB.gz, through $cmd.
#
# Usage: local/lmrescore_lattice.sh [options] <lm-dir> <words.txt> <in-decode-dir> <out-decode-dir>
#   --cmd run.pl --max-parallel 4 --old-lm ARPA --ngram ARPA --acwt 0.1 --weight 0.5 --interpolation linear|log-linear
#   --max-ngram-order 4 --lattice-prune-beam 8 --max-arcs 100000 --device cpu|cuda
# Example:
#   local/lmrescore_lattice.sh --cmd "$decode_cmd" --old-lm data/local/lm/3gram.arpa.gz \
#     exp/transformer data/lang/words.txt exp/tri3a/decode exp/tri3a/decode_tf_lat
set -euo pipefail
mode=lattice-rescore
cmd=run.pl
max_parallel=4
old_lm=
ngram=
acwt=0.1
weight=0.5
interpolation=
device=
max_ngram_order=4
lattice_prune_beam=8
max_arcs=100000
here="$(cd "$(dirname "$0")" && pwd)"
extra_opts() { echo "--max-ngram-order $max_ngram_order --lattice-prune-beam $lattice_prune_beam --max-arcs $max_arcs"; }
. "$here/lmrescore_common.sh"
