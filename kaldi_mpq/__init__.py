"""kaldi-mpq: quantized neural language models for Kaldi ASR systems.

The package follows the pipeline of DESIGN.md: ``text`` (vocabulary and batching), ``lm`` (LSTM and
Transformer LMs), ``quant`` (low-bit and mixed-precision quantization), ``ngram`` (ARPA LMs),
``lm_loading`` (any LM directory, float or packed, above ``lm`` and ``quant``), ``lattice`` and ``nbest``
(Kaldi lattices and rescoring), ``scoring`` (WER as Kaldi and NIST compute it). Sub-commands of the
``kaldi-mpq`` console script live in ``kaldi_mpq.bin``. Lower layers never import higher ones
(``tests/test_layering.py`` lists the layers); optional dependencies load through ``extras``.
"""

__version__ = "0.1.0"
