"""Language models behind one interface (:class:`kaldi_mpq.lm.interface.LanguageModel`).

Modules:

* ``interface``  -- the LM interface (sentence scoring, incremental ``advance``).
* ``lstm``, ``transformer`` -- the networks (``LstmLM``, ``TransformerLM``; parameter names are a contract).
* ``neural``     -- ``NeuralLM``: a network + its words.txt behind the interface (batched and incremental).
* ``checkpoint`` -- ``build_model``, ``save_checkpoint``, ``load_float_lm`` (float checkpoint dirs; any LM dir,
  float or packed: ``kaldi_mpq.lm_loading.load_lm``, above ``lm`` and ``quant``).
* ``train``      -- ``TrainConfig``, ``make_batches``, ``train_lm``, ``train_epoch`` (the training loop).
* ``evaluate``   -- ``evaluate_perplexity`` over sentence / stream / window batches.
* ``config``     -- YAML presets (``kaldi_mpq/conf/lm``) and ``key=value`` overrides.
* ``pipeline``   -- file-level ``train_lm_files`` / ``eval_lm_files`` behind ``train-lm`` / ``eval-lm``.
"""
