"""LSTM-RNN language model (Mikolov / Zaremba style), over Kaldi ``words.txt`` ids.

Parameters (names are a contract: quantization clusters address them)::

    embedding.weight          [V, E]
    rnn.weight_ih_l{k}        [4H, in]   PyTorch gate order i, f, g, o
    rnn.weight_hh_l{k}        [4H, H]
    rnn.bias_ih_l{k}, rnn.bias_hh_l{k}   [4H]
    output.weight [V, H], output.bias [V]   (``output.weight`` is ``embedding.weight`` when tied)

``forward(input_ids [B, T]) -> logits [B, T, V]``; the logits of the ids in ``mask_ids`` (``<eps>``,
``<s>``, ``#N``: words the LM never predicts) are ``-inf``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

LstmState = tuple[torch.Tensor, torch.Tensor]  # (h, c), each [num_layers, B, H]


def logit_mask(vocab_size: int, mask_ids: Sequence[int]) -> torch.Tensor:
    """Boolean ``[V]`` mask, True at ids whose logit is forced to ``-inf``."""
    mask = torch.zeros(vocab_size, dtype=torch.bool)
    if len(mask_ids):
        mask[torch.as_tensor(list(mask_ids), dtype=torch.long)] = True
    return mask


class LstmLM(nn.Module):
    """Embedding -> ``num_layers`` LSTM -> linear output layer.

    Args:
        vocab_size: V, the symbol table's ``size`` (max id + 1).
        embed_dim: E.
        hidden_dim: H.
        num_layers: LSTM layers.
        dropout: dropout on the embedding output, between layers and before the output layer
            (Zaremba et al. 2014); 0 disables it.
        tie_weights: share ``embedding.weight`` with ``output.weight`` (needs ``E == H``).
        init_range: weights drawn from U(-r, r) (biases too, as in the classic PTB recipe); 0 keeps
            PyTorch's default initialisation.
        mask_ids: ids whose logits are ``-inf``.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 200,
        hidden_dim: int = 200,
        num_layers: int = 2,
        dropout: float = 0.0,
        tie_weights: bool = False,
        init_range: float = 0.1,
        mask_ids: Sequence[int] = (),
    ) -> None:
        super().__init__()
        if tie_weights and embed_dim != hidden_dim:
            raise ValueError(f"tie_weights needs embed_dim == hidden_dim, got {embed_dim} != {hidden_dim}")
        self.vocab_size, self.embed_dim, self.hidden_dim = vocab_size, embed_dim, hidden_dim
        self.num_layers = num_layers
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.drop = nn.Dropout(dropout)
        self.rnn = nn.LSTM(
            embed_dim, hidden_dim, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.output = nn.Linear(hidden_dim, vocab_size)
        if tie_weights:
            self.output.weight = self.embedding.weight
        self.register_buffer("logit_mask", logit_mask(vocab_size, mask_ids), persistent=False)
        if init_range > 0:
            for p in self.parameters():
                nn.init.uniform_(p, -init_range, init_range)

    is_recurrent = True  # carries (h, c) across batches: see kaldi_mpq.lm.loss.is_recurrent

    def zero_state(self, batch_size: int) -> LstmState:
        w = getattr(self.rnn, "weight_hh_l0", None)  # absent when the int8 runtime swapped the LSTM in
        if isinstance(w, torch.Tensor):
            z = w.new_zeros(self.num_layers, batch_size, self.hidden_dim)
        else:  # the dynamic int8 LSTM takes float32 states
            z = torch.zeros(self.num_layers, batch_size, self.hidden_dim, device=self.logit_mask.device)
        return z, z.clone()

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Masked output-layer logits of top-layer hidden vectors ``[..., H] -> [..., V]``."""
        return self.output(self.drop(hidden)).masked_fill(self.logit_mask, float("-inf"))

    def forward_with_state(
        self, input_ids: torch.Tensor, state: Optional[LstmState] = None
    ) -> tuple[torch.Tensor, LstmState]:
        """``(logits [B, T, V], (h, c))``: continue from ``state`` (zeros if ``None``)."""
        hidden, new_state = self.rnn(self.drop(self.embedding(input_ids)), state)
        return self.logits(hidden), new_state

    def hidden_states(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Top-layer hidden vectors ``[B, T, H]`` of a pass from the zero state."""
        return self.step(input_ids, None)[0]

    def step(self, input_ids: torch.Tensor, state: Optional[LstmState]) -> tuple[torch.Tensor, LstmState]:
        """Consume ``input_ids [B, T]``; return the top-layer hidden ``[B, T, H]`` and the new state."""
        return self.rnn(self.drop(self.embedding(input_ids)), state)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.forward_with_state(input_ids)[0]
