#!/usr/bin/env bash
# N-best rescoring of a Kaldi decode dir with a neural LM, one job per lat.JOB.gz, through $cmd.
#
# Usage: local/lmrescore_nbest.sh [options] <lm-dir> <words.txt> <in-decode-dir> <out-decode-dir>
#   --cmd run.pl         job launcher (Kaldi's run.pl / queue.pl / slurm.pl); when it is not found
#                        the jobs run locally, --max-parallel (4) at a time
#   --old-lm ARPA        first-pass n-gram LM to remove and interpolate with (default: none, log-linear
#                        mix with the graph cost)
#   --ngram ARPA         another n-gram to interpolate with; --old-lm is then only removed
#   --n --acwt --weight --interpolation linear|log-linear --max-batch --device cpu|cuda
#                        passed to `kaldi-mpq nbest-rescore` when given; its defaults otherwise
#                        (see `kaldi-mpq nbest-rescore --help`)
# Example:
#   local/lmrescore_nbest.sh --cmd "$decode_cmd" --old-lm data/local/lm/3gram.arpa.gz \
#     exp/lstm data/lang/words.txt exp/tri3a/decode exp/tri3a/decode_lstm_nbest
set -euo pipefail
mode=nbest-rescore
passthrough="old_lm ngram n acwt weight interpolation max_batch device"
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lmrescore_common.sh"
