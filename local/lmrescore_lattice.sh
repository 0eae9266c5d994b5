#!/usr/bin/env bash
# Pruned lattice rescoring of a Kaldi decode dir with a neural LM, one job per lat.JOB.gz, through $cmd.
#
# Usage: local/lmrescore_lattice.sh [options] <lm-dir> <words.txt> <in-decode-dir> <out-decode-dir>
#   --cmd run.pl --max-parallel 4    job launcher, as in local/lmrescore_nbest.sh
#   --old-lm ARPA --ngram ARPA --acwt --weight --interpolation linear|log-linear --max-ngram-order
#   --lattice-prune-beam --max-arcs --batch-lattices --device cpu|cuda
#                        passed to `kaldi-mpq lattice-rescore` when given; its defaults otherwise
#                        (see `kaldi-mpq lattice-rescore --help`)
# Example:
#   local/lmrescore_lattice.sh --cmd "$decode_cmd" --old-lm data/local/lm/3gram.arpa.gz \
#     exp/transformer data/lang/words.txt exp/tri3a/decode exp/tri3a/decode_tf_lat
set -euo pipefail
mode=lattice-rescore
passthrough="old_lm ngram acwt weight interpolation max_ngram_order lattice_prune_beam max_arcs batch_lattices device"
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lmrescore_common.sh"
