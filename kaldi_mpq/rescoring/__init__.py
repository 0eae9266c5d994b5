"""The rescoring core and the pruned lattice rescorer: what n-best and lattice rescoring share.

* :mod:`~kaldi_mpq.rescoring.core` -- the LMs of a run (new LM, old n-gram to remove, n-gram to mix
  with), the settings check and the one new-graph-cost rule;
* :mod:`~kaldi_mpq.rescoring.decode_dir` -- Kaldi's decode-dir layout (``num_jobs``, ``lat.JOB.gz``);
* :mod:`~kaldi_mpq.rescoring.rescore_dir` -- rescoring a decode dir job by job into a new one;
* :mod:`~kaldi_mpq.rescoring.lattice_rescore` -- pruned lattice rescoring (n-gram history approximation).

N-best rescoring (:mod:`kaldi_mpq.nbest.rescore`) uses the same core. Layering: this package sits
above :mod:`kaldi_mpq.lattice` and :mod:`kaldi_mpq.ngram`, beside :mod:`kaldi_mpq.nbest`, and below
:mod:`kaldi_mpq.scoring` (which reads decode dirs through :mod:`~kaldi_mpq.rescoring.decode_dir`).
"""
