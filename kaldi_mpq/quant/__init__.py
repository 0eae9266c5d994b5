"""Low-bit and mixed-precision quantization of LMs: quantizer, clusters and plans, the quantization
methods, packed storage and its runtimes.

Public API::

    from kaldi_mpq.quant import quantize_, PTQConfig, ADMMConfig, BPConfig, GQConfig, TrainingData, Plan
    result = quantize_(model, ADMMConfig(plan=Plan.uniform(4)), data=TrainingData(train, valid))
    save_packed(out_dir, result.layout, result.alpha, result.codes, model_config, symbols)
    lm = load_packed(out_dir, runtime="auto")      # or kaldi_mpq.lm_loading.load_lm(out_dir)

Modules:

* ``api``       -- ``quantize_``, ``register_quantizer``, ``QuantConfig``, ``PTQConfig``, ``TrainingData``,
  ``QuantResult``: the verb and what every method shares.
* ``ptq``, ``admm``, ``bp`` -- one module per method: its config dataclass and its handler.
* ``training``  -- what the training methods share: ``TrainedConfig``, ``TrainStream`` (batches with the
  LSTM state carried), ``backward_lm_loss``, ``IterationTracker`` (best hard-quantized iteration).
* ``quantizer``, ``clusters``, ``plan``, ``layout`` -- codes and scales, named clusters, cluster -> bits.
* ``packing``, ``packed``, ``runtime`` -- bit-packed storage on disk and the runtimes that load it.
* ``pipeline``, ``plots`` -- the file-level tasks behind ``kaldi-mpq quantize`` and ``quant-report``.

Adding a method (e.g. ``gq``): write ``kaldi_mpq/quant/gq.py`` holding its config, a dataclass
subclassing :class:`QuantConfig` (or :class:`~kaldi_mpq.quant.training.TrainedConfig` when it trains, to
get the shared iteration budget and loss options), and its handler ``fn(model, config, data) ->
QuantResult`` decorated with ``@register_quantizer(GQConfig)``; compute losses with
:mod:`kaldi_mpq.lm.loss` (the one LM loss). Then import the module below and add its config to
``__all__``. Modules that produce plans rather than quantized models (sensitivity, allocation) are one
file each too and return a :class:`Plan`; nothing needs registering for them.
"""

from kaldi_mpq.quant.api import PTQConfig, QuantConfig, QuantResult, TrainingData, quantize_, register_quantizer
from kaldi_mpq.quant import ptq as _ptq  # noqa: F401  (registers the PTQ handler)
from kaldi_mpq.quant.admm import ADMMConfig
from kaldi_mpq.quant.bp import BPConfig
from kaldi_mpq.quant.gq import GQConfig
from kaldi_mpq.quant.training import TrainedConfig
from kaldi_mpq.quant.clusters import enumerate_clusters
from kaldi_mpq.quant.layout import QuantLayout
from kaldi_mpq.quant.nas import NASConfig, search_plan
from kaldi_mpq.quant.packed import save_packed
from kaldi_mpq.quant.plan import Plan
from kaldi_mpq.quant.runtime import RUNTIMES, load_packed

__all__ = ["ADMMConfig", "BPConfig", "GQConfig", "PTQConfig", "QuantConfig", "TrainedConfig", "QuantResult", "TrainingData",
           "quantize_", "register_quantizer", "enumerate_clusters", "QuantLayout", "NASConfig", "search_plan", "save_packed", "Plan",
           "RUNTIMES", "load_packed"]
