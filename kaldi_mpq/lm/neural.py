""":class:`NeuralLM`: any LSTM or Transformer LM module behind the one LM interface.

Sentence scoring runs one padded forward pass per chunk of sentences (sorted by length); incremental
scoring keeps LSTM ``(h, c)`` states or a Transformer key/value cache. Both give the same numbers.
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from kaldi_mpq.errors import TextFormatError
from kaldi_mpq.lm.interface import LanguageModel, LMState
from kaldi_mpq.lm.transformer import TransformerState
from kaldi_mpq.text.batching import pad_sentences
from kaldi_mpq.text.symbols import SymbolTable

logger = logging.getLogger(__name__)


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class NeuralLM(LanguageModel):
    """Wrap an :class:`LstmLM`, a :class:`TransformerLM` or any module with their ``step``/``logits``/
    ``forward`` methods (quantized variants) as a :class:`LanguageModel`.

    Args:
        module: the network; put in eval mode.
        symbols: its vocabulary (``module`` outputs ``symbols.size`` logits).
        device: where to run (default: CUDA when present).
        max_tokens: padded tokens per forward pass in :meth:`score_sentences`.

    States: an LSTM state is ``(h, c)`` (each ``[layers, B, H]``); a Transformer state is a
    :class:`~kaldi_mpq.lm.transformer.TransformerState`.
    """

    def __init__(
        self,
        module: nn.Module,
        symbols: SymbolTable,
        device: Optional[torch.device | str] = None,
        max_tokens: int = 16384,
    ) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.module = module.to(self.device).eval()
        self._symbols = symbols
        self.max_tokens = max_tokens
        self._recurrent = hasattr(module, "zero_state")

    @property
    def symbols(self) -> SymbolTable:
        return self._symbols

    # -- incremental ---------------------------------------------------------------------------------
    @torch.no_grad()
    def initial_state(self, batch_size: int) -> LMState:
        # computed on every call (one step): the weights may change in place (quantization)
        bos = torch.tensor([[self._symbols.bos_id]], device=self.device)
        start = self.module.zero_state(1) if self._recurrent else self.module.empty_state(1)
        return self.select_states(self._step(bos, start), np.zeros(batch_size, dtype=np.int64))

    def _step(self, ids: torch.Tensor, state: LMState) -> LMState:
        return self.module.step(ids, state)[1]

    def _last_hidden(self, state: LMState) -> torch.Tensor:
        return state[0][-1] if self._recurrent else state.hidden

    @torch.no_grad()
    def advance(self, states: LMState, words: Sequence[int] | np.ndarray) -> tuple[np.ndarray, LMState]:
        ids = torch.as_tensor(np.asarray(words, dtype=np.int64), device=self.device)
        logp = torch.log_softmax(self.module.logits(self._last_hidden(states)).float(), dim=-1)
        scores = logp.gather(1, ids[:, None])[:, 0].double().cpu().numpy()
        return scores, self._step(ids[:, None], states)

    @torch.no_grad()
    def next_log_probs(
        self, states: LMState, rows: Sequence[int] | np.ndarray, words: Sequence[int] | np.ndarray
    ) -> np.ndarray:
        """Each distinct state's log-softmax once (chunks of ``max_tokens // 4`` states), then gathered."""
        rows = np.asarray(rows, dtype=np.int64)
        words = np.asarray(words, dtype=np.int64)
        out = np.empty(rows.size, dtype=np.float64)
        if rows.size == 0:
            return out
        uniq, inv = np.unique(rows, return_inverse=True)
        hidden = self._last_hidden(states)
        order = np.argsort(inv, kind="stable")  # queries grouped by state, chunk by chunk
        bounds = np.searchsorted(inv[order], np.arange(0, uniq.size, max(1, self.max_tokens // 4)))
        bounds = np.append(bounds, rows.size)
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            q = order[lo:hi]
            first = int(inv[q[0]])
            rows_t = torch.as_tensor(uniq[first : int(inv[q[-1]]) + 1], device=self.device)
            logp = torch.log_softmax(self.module.logits(hidden.index_select(0, rows_t)).float(), dim=-1)
            r = torch.as_tensor(inv[q] - first, device=self.device)
            w = torch.as_tensor(words[q], device=self.device)
            out[q] = logp[r, w].double().cpu().numpy()
        return out

    @torch.no_grad()
    def step(self, states: LMState, words: Sequence[int] | np.ndarray) -> LMState:
        ids = torch.as_tensor(np.asarray(words, dtype=np.int64), device=self.device)
        return self._step(ids[:, None], states)

    def select_states(self, states: LMState, indices: Sequence[int] | np.ndarray) -> LMState:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=self.device)
        if self._recurrent:
            return states[0].index_select(1, idx), states[1].index_select(1, idx)
        return TransformerState(
            keys=[k.index_select(0, idx) for k in states.keys],
            values=[v.index_select(0, idx) for v in states.values],
            key_mask=states.key_mask.index_select(0, idx),
            lengths=states.lengths.index_select(0, idx),
            hidden=states.hidden.index_select(0, idx),
        )

    def concat_states(self, states: Sequence[LMState]) -> LMState:
        if self._recurrent:
            return torch.cat([s[0] for s in states], 1), torch.cat([s[1] for s in states], 1)
        P = max(s.key_mask.shape[1] for s in states)

        def pad(t: torch.Tensor, dim: int) -> torch.Tensor:
            missing = P - t.shape[dim]
            if missing == 0:
                return t
            shape = list(t.shape)
            shape[dim] = missing
            return torch.cat([t, t.new_zeros(shape)], dim=dim)

        n_layers = len(states[0].keys)
        return TransformerState(
            keys=[torch.cat([pad(s.keys[i], 2) for s in states]) for i in range(n_layers)],
            values=[torch.cat([pad(s.values[i], 2) for s in states]) for i in range(n_layers)],
            key_mask=torch.cat([pad(s.key_mask, 1) for s in states]),
            lengths=torch.cat([s.lengths for s in states]),
            hidden=torch.cat([s.hidden for s in states]),
        )

    # -- sentences -----------------------------------------------------------------------------------
    @torch.no_grad()
    def score_sentences(self, sentences: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Per-token log-probs (words then ``</s>``), one padded forward pass per chunk."""
        n = len(sentences)
        out: list[Optional[np.ndarray]] = [None] * n
        order = sorted(range(n), key=lambda i: len(sentences[i]))
        bos, eos = self._symbols.bos_id, self._symbols.eos_id
        start = 0
        while start < n:
            stop = start + 1
            while stop < n and (stop - start + 1) * (len(sentences[order[stop]]) + 1) <= self.max_tokens:
                stop += 1
            chunk = order[start:stop]
            inputs, targets = pad_sentences([sentences[i] for i in chunk], bos, eos)
            inputs, targets = inputs.to(self.device), targets.to(self.device)
            try:
                logits = self.module(inputs)
            except ValueError as e:  # e.g. longer than a Transformer's max_len
                raise TextFormatError(f"cannot score a sentence of {inputs.shape[1] - 1} words: {e}") from None
            logp = torch.log_softmax(logits.float(), dim=-1)
            tok = logp.gather(2, targets.clamp(min=0)[..., None])[..., 0].double().cpu().numpy()
            for row, i in enumerate(chunk):
                out[i] = tok[row, : len(sentences[i]) + 1].copy()
            start = stop
        return out  # type: ignore[return-value]

