"""Post-training quantization: solve each cluster's scale (Algorithm 1 of paper 1), round, no retraining.

Its config, :class:`~kaldi_mpq.quant.api.PTQConfig`, sits beside ``quantize_`` because a bare plan
means this method: ``quantize_(model, 4)``.
"""

from __future__ import annotations

from typing import Optional

from torch import nn

from kaldi_mpq.quant.api import PTQConfig, QuantResult, TrainingData, register_quantizer
from kaldi_mpq.quant.layout import QuantLayout
from kaldi_mpq.quant.training import valid_ppl


@register_quantizer(PTQConfig)
def _ptq(model: nn.Module, config: PTQConfig, data: Optional[TrainingData]) -> QuantResult:
    layout = QuantLayout(model, config.plan)
    alpha, codes = layout.quantize_model()
    result = QuantResult(layout, alpha, codes, "ptq")
    if data is not None:
        result.history.append({"iter": 0, "valid_ppl": valid_ppl(model, data.valid)})
    return result
