"""The one LM interface every scorer implements: n-gram, LSTM, Transformer, quantized or packed.

Rescoring and evaluation code only talks to this interface and never asks what kind of LM it holds.
Word ids are the ids of the LM's Kaldi ``words.txt`` (:class:`~kaldi_mpq.text.symbols.SymbolTable`);
log-probabilities are natural logs.

Two ways to score:

* **sentence scoring** -- :meth:`LanguageModel.score_sentences` takes a batch of word-id sequences
  *without* ``<s>``/``</s>`` and returns, per sentence, ``len(sentence) + 1`` log-probs: one per word
  and the last for ``</s>``. Neural LMs batch the whole set.
* **incremental scoring** -- :meth:`initial_state` gives ``n`` states that have seen ``<s>``;
  :meth:`advance` consumes one word per state and returns ``log P(word | history)`` with the new states.
  Scoring ``</s>`` is ``advance(states, [eos] * n)``. States are opaque batched objects; rescoring
  gathers and merges them with :meth:`select_states` and :meth:`concat_states`.
* **split incremental scoring** (optional, for prefix trees) -- :meth:`next_log_probs` scores many
  next words per state (a tree node's children and ``</s>``) and :meth:`step` moves states on without
  scoring. The defaults fall back to :meth:`advance`; neural LMs override them so that a state's
  output layer (log-softmax over the vocabulary) is computed once however many words it scores.

Both ways give the same numbers (tests hold every LM to 1e-4 nats).
"""

from __future__ import annotations

import abc
from typing import Any, Sequence

import numpy as np

from kaldi_mpq.text.symbols import SymbolTable

LMState = Any  # opaque, batched: one entry per hypothesis


class LanguageModel(abc.ABC):
    """Abstract LM. Subclasses implement the incremental methods; sentence scoring defaults to them."""

    @property
    @abc.abstractmethod
    def symbols(self) -> SymbolTable:
        """The LM's vocabulary (its words.txt)."""

    @abc.abstractmethod
    def initial_state(self, batch_size: int) -> LMState:
        """``batch_size`` states that have consumed ``<s>``."""

    @abc.abstractmethod
    def advance(self, states: LMState, words: Sequence[int] | np.ndarray) -> tuple[np.ndarray, LMState]:
        """Score one word per state and move on.

        Args:
            states: batched state of ``B`` hypotheses.
            words: ``B`` word ids.

        Returns:
            ``(log_probs, new_states)``: ``log_probs[b] = log P(words[b] | history_b)`` as float64
            ``[B]``, and the states after consuming ``words``.
        """

    @abc.abstractmethod
    def select_states(self, states: LMState, indices: Sequence[int] | np.ndarray) -> LMState:
        """The sub-batch ``states[indices]`` (indices may repeat)."""

    @abc.abstractmethod
    def concat_states(self, states: Sequence[LMState]) -> LMState:
        """Concatenate batched states along the batch axis."""

    def next_log_probs(
        self, states: LMState, rows: Sequence[int] | np.ndarray, words: Sequence[int] | np.ndarray
    ) -> np.ndarray:
        """``log P(words[k] | history of states[rows[k]])`` for every ``k``: several words per state.

        Args:
            states: batched state of ``B`` hypotheses.
            rows: ``K`` indices into ``states`` (may repeat: siblings of a prefix tree).
            words: ``K`` word ids.

        Returns:
            float64 ``[K]``. The default is ``advance(select_states(states, rows), words)[0]``.
        """
        return self.advance(self.select_states(states, rows), words)[0]

    def step(self, states: LMState, words: Sequence[int] | np.ndarray) -> LMState:
        """The states after consuming ``words`` (one per state), without scoring them.

        The default is ``advance(states, words)[1]``.
        """
        return self.advance(states, words)[1]

    def score_sentences(self, sentences: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Per-token log-probs of each sentence: ``len(s)`` words then ``</s>``.

        The default runs :meth:`advance` position by position over the whole batch; neural LMs
        override it with one batched forward pass.
        """
        n = len(sentences)
        if n == 0:
            return []
        eos = self.symbols.eos_id
        lengths = [len(s) for s in sentences]
        out = [np.empty(L + 1, dtype=np.float64) for L in lengths]
        states = self.initial_state(n)
        active = np.arange(n)  # sentences not yet finished; position t of each is scored at step t
        for t in range(max(lengths) + 1):
            words = np.array(
                [sentences[i][t] if t < lengths[i] else eos for i in active], dtype=np.int64
            )
            logp, states = self.advance(states, words)
            for k, i in enumerate(active):
                out[i][t] = logp[k]
            keep = np.flatnonzero([lengths[i] > t for i in active])
            if keep.size == 0:
                break
            if keep.size != active.size:
                states = self.select_states(states, keep)
                active = active[keep]
        return out

    def sentence_log_prob(self, sentence: Sequence[int]) -> float:
        """Total log-prob of one sentence, ``</s>`` included."""
        return float(self.score_sentences([sentence])[0].sum())
