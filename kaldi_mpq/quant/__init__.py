"""Low-bit and mixed-precision quantization of LMs: quantizer, clusters and plans, ADMM / modified BP / GQ /
post-training quantization, packed storage and its runtimes.

Public API::

    from kaldi_mpq.quant import quantize_, PTQConfig, ADMMConfig, BPConfig, GQConfig, TrainingData, Plan
    result = quantize_(model, ADMMConfig(plan=Plan.uniform(4)), data=TrainingData(train, valid))
    save_packed(out_dir, result.layout, result.alpha, result.codes, model_config, symbols)
    lm = load_packed(out_dir, runtime="auto")      # or kaldi_mpq.lm.checkpoint.load_lm(out_dir)
"""

from kaldi_mpq.quant.api import (ADMMConfig, BPConfig, PTQConfig, QuantConfig, QuantResult, TrainingData,
                                 quantize_, register_quantizer)
from kaldi_mpq.quant import admm as _admm  # noqa: F401  (registers the ADMM and BP handlers)
from kaldi_mpq.quant.gq import GQConfig
from kaldi_mpq.quant.clusters import enumerate_clusters
from kaldi_mpq.quant.layout import QuantLayout
from kaldi_mpq.quant.nas import NASConfig, search_plan
from kaldi_mpq.quant.packed import save_packed
from kaldi_mpq.quant.plan import Plan
from kaldi_mpq.quant.runtime import RUNTIMES, load_packed

__all__ = ["ADMMConfig", "BPConfig", "GQConfig", "PTQConfig", "QuantConfig", "QuantResult", "TrainingData",
           "quantize_", "register_quantizer", "enumerate_clusters", "QuantLayout", "NASConfig", "search_plan",
           "save_packed", "Plan", "RUNTIMES", "load_packed"]
