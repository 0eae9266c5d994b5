"""Result tables of whole experiments: one row per system, assembled from the outputs of the other
commands (``quant-report --json``, scored decode dirs). See :mod:`kaldi_mpq.report.results`."""
