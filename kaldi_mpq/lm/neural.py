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
from kaldi_mpq.lm.loss import is_recurrent
from kaldi_mpq.lm.transformer import TransformerState
from kaldi_mpq.text.batching import pad_sentences
from kaldi_mpq.text.symbols import SymbolTable

logger = logging.getLogger(__name__)


# logits per output-layer call: on CPU 2.5 MB of fp32 (cache-sized; measured best for 10k-word
# vocabularies), on a GPU 256 MB (big enough to fill it, small enough to bound memory)
CPU_LOGIT_BLOCK = 640 * 1024
GPU_LOGIT_BLOCK = 64 * 1024 * 1024
# sentences per scoring chunk before padding waste may close it
MIN_CHUNK = 16


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
        output_chunk: hidden vectors per output-layer call when scoring (0: all at once). The default
            (CPU: about 640k logits per call, e.g. 64 rows at a 10k vocabulary; GPU: 64M) keeps each
            ``[rows, V]`` logit block in cache (CPU) or bounded (GPU), and reduces it to the wanted
            words' log-probs (``logit[w] - logsumexp``) before the next block: on CPU, sentence
            scoring became 1.55x faster than with all logits materialised and log-softmaxed
            (``bench/quant_speed.py``), and int8 output layers compute-bound instead of memory-bound.

    States: an LSTM state is ``(h, c)`` (each ``[layers, B, H]``); a Transformer state is a
    :class:`~kaldi_mpq.lm.transformer.TransformerState`.
    """

    def __init__(
        self,
        module: nn.Module,
        symbols: SymbolTable,
        device: Optional[torch.device | str] = None,
        max_tokens: int = 16384,
        output_chunk: Optional[int] = None,
    ) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.module = module.to(self.device).eval()
        self._symbols = symbols
        self.max_tokens = max_tokens
        if output_chunk is None:
            block = CPU_LOGIT_BLOCK if self.device.type == "cpu" else GPU_LOGIT_BLOCK
            output_chunk = max(16, block // max(1, symbols.size))
        self.output_chunk = output_chunk
        self._recurrent = is_recurrent(module)

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

    def _word_log_probs(self, hidden: torch.Tensor, rows: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        """``log P(words[i] | hidden[rows[i]])`` (float64), the output layer run ``output_chunk``
        hidden rows at a time; ``rows`` must be sorted (queries grouped by hidden row)."""
        n = hidden.shape[0]
        chunk = self.output_chunk if self.output_chunk > 0 else max(n, 1)
        out = torch.empty(rows.shape[0], dtype=torch.float64, device=hidden.device)
        bounds = torch.searchsorted(rows, torch.arange(0, n + chunk, chunk, device=rows.device)).tolist()
        for c, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
            if lo == hi:
                continue
            logits = self.module.logits(hidden[c * chunk : (c + 1) * chunk]).float()
            r = rows[lo:hi] - c * chunk
            picked = logits[r, words[lo:hi]]
            # logsumexp in place on this block (faster than torch.logsumexp's temporaries)
            top = logits.amax(dim=-1, keepdim=True)
            lse = logits.sub_(top).exp_().sum(dim=-1).log_().add_(top[:, 0])
            out[lo:hi] = (picked - lse[r]).double()
        return out

    @torch.no_grad()
    def advance(self, states: LMState, words: Sequence[int] | np.ndarray) -> tuple[np.ndarray, LMState]:
        ids = torch.as_tensor(np.asarray(words, dtype=np.int64), device=self.device)
        hidden = self._last_hidden(states)
        rows = torch.arange(hidden.shape[0], device=self.device)
        scores = self._word_log_probs(hidden, rows, ids).cpu().numpy()
        return scores, self._step(ids[:, None], states)

    @torch.no_grad()
    def next_log_probs(
        self, states: LMState, rows: Sequence[int] | np.ndarray, words: Sequence[int] | np.ndarray
    ) -> np.ndarray:
        """Each distinct state's output layer once (``output_chunk`` states at a time), then gathered."""
        rows = np.asarray(rows, dtype=np.int64)
        words = np.asarray(words, dtype=np.int64)
        if rows.size == 0:
            return np.empty(0, dtype=np.float64)
        uniq, inv = np.unique(rows, return_inverse=True)
        order = np.argsort(inv, kind="stable")  # queries grouped by state
        hidden = self._last_hidden(states).index_select(0, torch.as_tensor(uniq, device=self.device))
        scores = self._word_log_probs(hidden, torch.as_tensor(inv[order], device=self.device),
                                      torch.as_tensor(words[order], device=self.device)).cpu().numpy()
        out = np.empty(rows.size, dtype=np.float64)
        out[order] = scores
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
        ).compact()

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
            # grow the chunk (sentences sorted by length) while it fits max_tokens and, beyond
            # MIN_CHUNK sentences, padding stays under a quarter of the real tokens
            stop, real = start + 1, len(sentences[order[start]]) + 1
            while stop < n:
                width = len(sentences[order[stop]]) + 1
                padded = (stop - start + 1) * width
                if padded > self.max_tokens or (stop - start >= MIN_CHUNK and padded > 1.25 * (real + width)):
                    break
                real += width
                stop += 1
            chunk = order[start:stop]
            inputs, targets = pad_sentences([sentences[i] for i in chunk], bos, eos)
            inputs, targets = inputs.to(self.device), targets.to(self.device)
            try:
                hidden = self.module.hidden_states(inputs)
            except ValueError as e:  # e.g. longer than a Transformer's max_len
                raise TextFormatError(f"cannot score a sentence of {inputs.shape[1] - 1} words: {e}") from None
            # the output layer runs on real positions only, not on padding
            flat = targets.reshape(-1)
            positions = torch.nonzero(flat >= 0)[:, 0]
            scores = self._word_log_probs(hidden.reshape(flat.shape[0], -1).index_select(0, positions),
                                          torch.arange(positions.shape[0], device=self.device), flat[positions])
            tok = np.zeros(targets.shape, dtype=np.float64)
            tok.reshape(-1)[positions.cpu().numpy()] = scores.cpu().numpy()
            for row, i in enumerate(chunk):
                out[i] = tok[row, : len(sentences[i]) + 1].copy()
            start = stop
        return out  # type: ignore[return-value]

