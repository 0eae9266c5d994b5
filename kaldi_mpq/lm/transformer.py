"""Causal Transformer language model over Kaldi ``words.txt`` ids, with a key/value cache.

Parameters (names are a contract: quantization clusters address them)::

    embedding.weight                          [V, D]
    pos_embedding.weight                      [max_len, D]   (learned positions only; sinusoidal
                                                              positions are a non-persistent buffer)
    blocks.{i}.attn.{q,k,v,out}_proj.{weight,bias}           nn.Linear D -> D
    blocks.{i}.ff.fc1 (D -> F), blocks.{i}.ff.fc2 (F -> D)   nn.Linear, GELU between them
    blocks.{i}.ln1, blocks.{i}.ln2                           LayerNorm
    final_ln                                                 LayerNorm (pre-LN); identity, no parameters (post-LN)
    output.weight [V, D], output.bias [V]                    (``output.weight`` is ``embedding.weight`` when tied)

Layer norm placement (``norm``):

* ``pre`` (default): ``x = x + Attn(LN1(x)); x = x + FF(LN2(x))``, then ``final_ln`` before the output layer
  (GPT-2 style; trains stably without warm-up tricks).
* ``post``: ``x = LN1(x + Attn(x)); x = LN2(x + FF(x))`` (Vaswani et al. 2017); ``final_ln`` is the identity.

Learned positions are only trained up to the longest training sequence (``bptt`` for stream batches,
the longest sentence for sentence batches): choose ``bptt`` at least as long as the sentences to be scored
(or ``positions: sinusoidal``). ``max_len`` is a hard limit: longer inputs raise an error.

``forward(input_ids [B, T]) -> logits [B, T, V]`` is causal: position ``t`` sees ids ``<= t``; the logits of
``mask_ids`` (``<eps>``, ``<s>``, ``#N``) are ``-inf``. Right padding therefore never changes the scores of
real positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kaldi_mpq.lm.lstm import logit_mask


@dataclass
class TransformerState:
    """Key/value cache of a batch of histories.

    Attributes:
        keys, values: per layer ``[B, heads, P, head_dim]``; cached positions ``P`` may include holes
            (``key_mask`` False) where histories of different lengths were concatenated.
        key_mask: ``[B, P]`` bool, True where a cached position is real.
        lengths: ``[B]`` number of tokens consumed (the position id of the next token).
        hidden: ``[B, D]`` output of the final layer norm at the last consumed token.
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    key_mask: torch.Tensor
    lengths: torch.Tensor
    hidden: torch.Tensor

    def compact(self) -> "TransformerState":
        """The same histories with the holes squeezed out: each row's real positions moved to the front
        (in order), the cache as wide as the longest history.

        Attention does not depend on where a key sits in the cache (positions are in the embeddings),
        so this changes no score; it stops the cache from growing by one position per step of a
        batch that mixes histories of different lengths (lattice expansion would otherwise attend over
        and copy hundreds of empty positions per state)."""
        mask = self.key_mask
        width = int(mask.sum(dim=1).max()) if mask.shape[0] else 0
        if width == mask.shape[1]:
            return self
        # a stable sort of "is a hole" keeps real positions first, in their order
        order = torch.argsort((~mask).to(torch.uint8), dim=1, stable=True)[:, :width]

        def take(t: torch.Tensor) -> torch.Tensor:
            return t.gather(2, order[:, None, :, None].expand(-1, t.shape[1], -1, t.shape[3]))

        return TransformerState([take(k) for k in self.keys], [take(v) for v in self.values],
                                mask.gather(1, order), self.lengths, self.hidden)


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model {d_model} is not divisible by num_heads {num_heads}")
        self.num_heads, self.head_dim, self.dropout = num_heads, d_model // num_heads, dropout
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        past: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
        past_mask: Optional[torch.Tensor] = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x [B, T, D]`` -> ``(out [B, T, D], keys, values)`` (keys/values include ``past``)."""
        B, T, D = x.shape
        q, k, v = self._heads(self.q_proj(x)), self._heads(self.k_proj(x)), self._heads(self.v_proj(x))
        p = self.dropout if self.training else 0.0
        if past is None:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            mask = torch.cat([past_mask[:, None, :].expand(B, T, -1), causal.expand(B, T, T)], dim=2)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None], dropout_p=p)
        return self.out_proj(out.transpose(1, 2).reshape(B, T, D)), k, v


class FeedForward(nn.Module):
    def __init__(self, d_model: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_model, ff_dim)
        self.fc2 = nn.Linear(ff_dim, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(F.gelu(self.fc1(x))))


class Block(nn.Module):
    def __init__(self, d_model: int, num_heads: int, ff_dim: int, dropout: float, pre_ln: bool) -> None:
        super().__init__()
        self.pre_ln = pre_ln
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, num_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = FeedForward(d_model, ff_dim, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, past=None, past_mask=None):
        if self.pre_ln:
            a, k, v = self.attn(self.ln1(x), past, past_mask)
            x = x + self.drop(a)
            x = x + self.drop(self.ff(self.ln2(x)))
        else:
            a, k, v = self.attn(x, past, past_mask)
            x = self.ln1(x + self.drop(a))
            x = self.ln2(x + self.drop(self.ff(x)))
        return x, k, v


def sinusoidal_table(max_len: int, d_model: int) -> torch.Tensor:
    """Vaswani et al. positional encodings ``[max_len, D]``."""
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(pos * div)
    table[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
    return table


class TransformerLM(nn.Module):
    """Decoder-only causal Transformer LM.

    Args:
        vocab_size: V, the symbol table's ``size``.
        d_model: D. num_layers: blocks. num_heads: attention heads. ff_dim: F (GELU feed-forward).
        dropout: on embeddings, attention weights, sub-layer outputs and the feed-forward hidden layer.
        max_len: longest sequence (history + sentence) the model accepts.
        positions: ``learned`` or ``sinusoidal``.
        norm: ``pre`` or ``post`` layer norm (module docstring).
        tie_weights: share ``embedding.weight`` with ``output.weight``.
        mask_ids: ids whose logits are ``-inf``.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 256,
        num_layers: int = 2,
        num_heads: int = 4,
        ff_dim: int = 1024,
        dropout: float = 0.1,
        max_len: int = 512,
        positions: str = "learned",
        norm: str = "pre",
        tie_weights: bool = False,
        mask_ids: Sequence[int] = (),
    ) -> None:
        super().__init__()
        if positions not in ("learned", "sinusoidal"):
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {positions!r}")
        if norm not in ("pre", "post"):
            raise ValueError(f"norm must be 'pre' or 'post', got {norm!r}")
        self.vocab_size, self.d_model, self.max_len = vocab_size, d_model, max_len
        self.embedding = nn.Embedding(vocab_size, d_model)
        if positions == "learned":
            self.pos_embedding = nn.Embedding(max_len, d_model)
            self.embed_scale = 1.0
        else:
            self.register_buffer("pos_table", sinusoidal_table(max_len, d_model), persistent=False)
            self.embed_scale = math.sqrt(d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(d_model, num_heads, ff_dim, dropout, norm == "pre") for _ in range(num_layers)
        )
        self.final_ln = nn.LayerNorm(d_model) if norm == "pre" else nn.Identity()
        self.output = nn.Linear(d_model, vocab_size)
        self.register_buffer("logit_mask", logit_mask(vocab_size, mask_ids), persistent=False)
        self.apply(self._init)
        if tie_weights:
            self.output.weight = self.embedding.weight

    is_recurrent = False  # each batch is its own context: see kaldi_mpq.lm.loss.is_recurrent

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def _embed(self, input_ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        if int(positions.max()) >= self.max_len:
            raise ValueError(
                f"sequence of {int(positions.max()) + 1} tokens exceeds the model's max_len {self.max_len}"
            )
        pos = self.pos_embedding(positions) if hasattr(self, "pos_embedding") else self.pos_table[positions]
        return self.drop(self.embedding(input_ids) * self.embed_scale + pos)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Masked logits of final hidden vectors ``[..., D] -> [..., V]``."""
        return self.output(hidden).masked_fill(self.logit_mask, float("-inf"))

    def hidden_states(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Final (layer-normed) hidden vectors ``[B, T, D]`` of a full causal pass."""
        T = input_ids.shape[1]
        x = self._embed(input_ids, torch.arange(T, device=input_ids.device)[None])
        for block in self.blocks:
            x = block(x)[0]
        return self.final_ln(x)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.logits(self.hidden_states(input_ids))

    def empty_state(self, batch_size: int) -> TransformerState:
        # any float parameter gives the device and dtype (on the int8 runtime, Linear layers have none and
        # the output layer's bias is a method)
        w = next(p for p in self.parameters() if p.is_floating_point())
        h = self.blocks[0].attn if len(self.blocks) else None
        heads, hd = (h.num_heads, h.head_dim) if h is not None else (1, self.d_model)
        empty = w.new_zeros(batch_size, heads, 0, hd)
        return TransformerState(
            keys=[empty] * len(self.blocks), values=[empty] * len(self.blocks),
            key_mask=torch.zeros(batch_size, 0, dtype=torch.bool, device=w.device),
            lengths=torch.zeros(batch_size, dtype=torch.long, device=w.device),
            hidden=w.new_zeros(batch_size, self.d_model),
        )

    def step(self, input_ids: torch.Tensor, state: TransformerState) -> tuple[torch.Tensor, TransformerState]:
        """Consume ``input_ids [B, T]`` after the cached histories; ``(hidden [B, T, D], new state)``."""
        B, T = input_ids.shape
        positions = state.lengths[:, None] + torch.arange(T, device=input_ids.device)[None]
        x = self._embed(input_ids, positions)
        keys, values = [], []
        for i, block in enumerate(self.blocks):
            x, k, v = block(x, (state.keys[i], state.values[i]), state.key_mask)
            keys.append(k)
            values.append(v)
        x = self.final_ln(x)
        new_mask = torch.cat([state.key_mask, state.key_mask.new_ones(B, T)], dim=1)
        return x, TransformerState(keys, values, new_mask, state.lengths + T, x[:, -1])
