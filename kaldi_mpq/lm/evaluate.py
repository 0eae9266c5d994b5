"""Perplexity of an LM module (or :class:`NeuralLM`) over sentence or stream batches.

``ppl = exp(total negative log-likelihood / predicted tokens)``; predicted tokens are the words and one
``</s>`` per sentence (:mod:`kaldi_mpq.text.batching`), so sentence- and stream-mode perplexities use the
same count. In stream mode an LSTM carries its state across batches (the whole text is one history); a
Transformer sees each ``bptt`` chunk on its own, or sliding windows with
:class:`~kaldi_mpq.text.batching.WindowBatches`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterable, Optional, Union

import torch
from torch import nn

from kaldi_mpq.errors import TextFormatError
from kaldi_mpq.lm.loss import is_recurrent, token_nll
from kaldi_mpq.lm.neural import NeuralLM
from kaldi_mpq.text.batching import Batch


@dataclass
class PerplexityResult:
    """``loss`` in nats per predicted token; ``seconds`` of wall time; ``tokens`` predicted."""

    loss: float
    tokens: int
    seconds: float

    @property
    def ppl(self) -> float:
        return math.exp(self.loss) if self.loss < 700 else float("inf")

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("inf")


def _device_of(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def total_log_prob(lm, sentences, batch_size: int = 64) -> tuple[float, int]:
    """``(sum of natural-log probs, tokens)`` of id ``sentences`` (words and ``</s>`` each) under any
    :class:`~kaldi_mpq.lm.interface.LanguageModel`, scored ``batch_size`` sentences at a time."""
    total, tokens = 0.0, 0
    for i in range(0, len(sentences), max(1, batch_size)):
        for s in lm.score_sentences(sentences[i:i + batch_size]):
            total += float(s.sum())
            tokens += len(s)
    return total, tokens


def evaluate_perplexity(
    lm: Union[nn.Module, NeuralLM],
    batches: Iterable[Batch],
    device: Optional[Union[str, torch.device]] = None,
) -> PerplexityResult:
    """Perplexity of ``lm`` on ``batches`` (:class:`~kaldi_mpq.text.batching.SentenceBatches` or
    :class:`~kaldi_mpq.text.batching.StreamBatches`).

    Args:
        lm: an ``LstmLM``/``TransformerLM`` (or any module with their ``forward``) or a :class:`NeuralLM`.
        batches: re-iterable batches; an LSTM carries its state across batches whose
            ``carries_state`` is True.
        device: where to run (default: where the module is).

    The module is put in eval mode and restored to its previous mode afterwards.
    """
    module = lm.module if isinstance(lm, NeuralLM) else lm
    dev = torch.device(device) if device is not None else _device_of(module)
    was_training = module.training
    module.eval()
    carry = getattr(batches, "carries_state", False) and is_recurrent(module)
    state = None
    total = torch.zeros((), dtype=torch.float64, device=dev)
    n = 0
    start = time.perf_counter()
    try:
        for inputs, targets in batches:
            inputs, targets = inputs.to(dev, non_blocking=True), targets.to(dev, non_blocking=True)
            try:
                nll, tokens, state = token_nll(module, (inputs, targets), state, carry=carry)
            except ValueError as e:  # e.g. a sentence longer than a Transformer's max_len
                raise TextFormatError(f"cannot evaluate a batch of {inputs.shape[1]} positions: {e}") from None
            total += nll.detach().double()
            n += tokens
        loss = float(total) / max(n, 1)
    finally:
        module.train(was_training)
    return PerplexityResult(loss=loss, tokens=n, seconds=time.perf_counter() - start)
