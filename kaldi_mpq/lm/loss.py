"""The one LM loss: forward pass, masked cross-entropy over predicted tokens, recurrent state carried.

Training (:mod:`kaldi_mpq.lm.train`), evaluation (:mod:`kaldi_mpq.lm.evaluate`) and every quantization
method (ADMM, BP, sensitivity, NAS, GQ) call these functions, so "what the loss of a batch is" has one
answer. Targets equal to :data:`IGNORE` (padding) do not count.

Example::

    nll, tokens, state = token_nll(model, (inputs, targets), state)     # summed nats, predicted tokens
    loss, state = lm_loss(model, (inputs, targets), state, "mean")      # what an optimiser minimises
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from kaldi_mpq.text.batching import IGNORE, Batch

__all__ = ["IGNORE", "is_recurrent", "token_nll", "lm_loss", "detach_state", "LOSS_REDUCTIONS"]

LOSS_REDUCTIONS = ("mean", "sum_over_time")


def is_recurrent(module: nn.Module) -> bool:
    """True for networks that carry a state across batches (an LSTM's ``(h, c)``); their class says so
    with ``is_recurrent = True`` and provides ``zero_state`` and ``forward_with_state``."""
    return bool(getattr(module, "is_recurrent", False))


def detach_state(state: Any) -> Any:
    """The state cut from the graph (truncated BPTT); ``None`` stays ``None``."""
    return None if state is None else tuple(s.detach() for s in state)


def token_nll(module: nn.Module, batch: Batch, state: Any = None, *, carry: Optional[bool] = None
              ) -> tuple[torch.Tensor, int, Any]:
    """``(summed negative log-likelihood, predicted tokens, new state)`` of one batch.

    Args:
        module: an ``LstmLM``/``TransformerLM`` (anything with their ``forward``).
        batch: ``(inputs [B, T], targets [B, T])``, moved to the module's device here.
        state: the recurrent state to continue from (``None``: zeros); ignored by non-recurrent models.
        carry: run the recurrent path and return its state (default: whenever the model is recurrent).

    The new state is *not* detached (the caller decides where BPTT is truncated); it is ``None`` for
    models without one. The sum is in float32 on the module's device (the logits are upcast first).
    """
    inputs, targets = batch
    p = next(module.parameters(), None)
    if p is not None and inputs.device != p.device:
        inputs, targets = inputs.to(p.device, non_blocking=True), targets.to(p.device, non_blocking=True)
    if carry is None:
        carry = is_recurrent(module)
    if carry:
        logits, new_state = module.forward_with_state(inputs, state)
    else:
        logits, new_state = module(inputs), None
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                          ignore_index=IGNORE, reduction="sum")
    return nll, int((targets != IGNORE).sum()), new_state


def lm_loss(module: nn.Module, batch: Batch, state: Any = None, reduction: str = "mean"
            ) -> tuple[torch.Tensor, Any]:
    """``(loss, detached new state)``: cross-entropy per predicted token (``mean``) or summed over time
    and averaged over the batch rows (``sum_over_time``, the classic PTB LSTM recipes' loss)."""
    if reduction not in LOSS_REDUCTIONS:
        raise ValueError(f"reduction must be one of {LOSS_REDUCTIONS}, got {reduction!r}")
    nll, tokens, new_state = token_nll(module, batch, state)
    denom = batch[0].shape[0] if reduction == "sum_over_time" else max(tokens, 1)
    return nll / denom, detach_state(new_state)
