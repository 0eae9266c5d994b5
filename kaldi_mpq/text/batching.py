"""Batching of word-id sentences for LM training and evaluation.

Two layouts:

* **sentence batches** (what rescoring scores): each sentence is ``<s> w1 .. wn`` as input and
  ``w1 .. wn </s>`` as target, right-padded; padded targets are :data:`IGNORE` and do not count.
* **stream (BPTT) batches** (classic LSTM LM training): all sentences are joined into one stream
  ``<s> w1 .. wn </s> <s> v1 .. </s> ...``, cut into ``batch_size`` contiguous rows, and read ``bptt``
  steps at a time so that the LSTM state carries over from one batch to the next. A target ``<s>`` is
  :data:`IGNORE` (the LM never predicts it), so a stream predicts exactly the tokens sentence scoring
  does: every word and one ``</s>`` per sentence.

Both split over data-parallel training processes with ``shard(rank, world_size)``: every process reads
the same batches (``batch_size`` is the global batch) and keeps its share of their rows, so the
processes together see exactly what one process sees.

Example (ids)::

    >>> inputs, targets = pad_sentences([[5, 6], [7]], bos=1, eos=2)
    >>> inputs.tolist(), targets.tolist()
    ([[1, 5, 6], [1, 7, 2]], [[5, 6, 2], [7, 2, -100]])
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator, Optional, Sequence

import numpy as np
import torch

from kaldi_mpq.errors import ConfigError, TextFormatError

IGNORE = -100  # target id that does not count (torch's cross-entropy ignore_index)

Batch = tuple[torch.Tensor, torch.Tensor]  # (inputs [B, T], targets [B, T]) LongTensors


def _check_shard(rank: int, world_size: int) -> None:
    if not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size {world_size}")


def pad_sentences(sentences: Sequence[Sequence[int]], bos: int, eos: int) -> Batch:
    """``(inputs, targets)`` ``[B, max_len + 1]`` for sentences without ``<s>``/``</s>``.

    Padding inputs are ``eos`` (any valid id: causal models never look right), padding targets :data:`IGNORE`.
    """
    B = len(sentences)
    T = max(len(s) for s in sentences) + 1
    inputs = np.full((B, T), eos, dtype=np.int64)
    targets = np.full((B, T), IGNORE, dtype=np.int64)
    inputs[:, 0] = bos
    for b, s in enumerate(sentences):
        n = len(s)
        inputs[b, 1 : n + 1] = s
        targets[b, :n] = s
        targets[b, n] = eos
    return torch.from_numpy(inputs), torch.from_numpy(targets)


def num_predicted(sentences: Sequence[Sequence[int]]) -> int:
    """Tokens a LM predicts over these sentences: words plus one ``</s>`` each."""
    return sum(len(s) + 1 for s in sentences)


@dataclass
class SentenceBatches:
    """Re-iterable sentence batches of at most ``batch_size`` sentences and ``max_tokens`` padded tokens.

    Sentences are grouped by length (less padding); with ``shuffle`` the batch order changes every
    epoch, drawn from ``seed + epoch`` (:meth:`set_epoch`), so runs are reproducible and resumable.
    """

    sentences: Sequence[Sequence[int]]
    bos: int
    eos: int
    batch_size: int = 32
    max_tokens: Optional[int] = None
    shuffle: bool = False
    seed: int = 0
    epoch: int = 0
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        _check_shard(self.rank, self.world_size)
        order = sorted(range(len(self.sentences)), key=lambda i: len(self.sentences[i]))
        self._groups: list[list[int]] = []
        cur: list[int] = []
        for i in order:
            width = len(self.sentences[i]) + 1
            if cur and (len(cur) >= self.batch_size
                        or (self.max_tokens and (len(cur) + 1) * width > self.max_tokens)):
                self._groups.append(cur)
                cur = []
            cur.append(i)
        if cur:
            self._groups.append(cur)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self._groups)

    def __iter__(self) -> Iterator[Batch]:
        groups = self._groups
        if self.shuffle:
            rng = np.random.default_rng(self.seed + self.epoch)
            groups = [groups[i] for i in rng.permutation(len(groups))]
        for g in groups:
            part = g[self.rank :: self.world_size]
            if part:
                yield pad_sentences([self.sentences[i] for i in part], self.bos, self.eos)
            else:  # a batch with fewer sentences than processes: nothing for this one
                yield torch.empty((0, 1), dtype=torch.long), torch.empty((0, 1), dtype=torch.long)

    def shard(self, rank: int, world_size: int) -> "SentenceBatches":
        """This process's sentences of every batch (every ``world_size``-th, from ``rank``); a batch
        smaller than ``world_size`` leaves some processes an empty ``[0, 1]`` batch."""
        return replace(self, rank=rank, world_size=world_size)

    @property
    def num_tokens(self) -> int:
        if self.world_size == 1:
            return num_predicted(self.sentences)
        return num_predicted([self.sentences[i] for g in self._groups for i in g[self.rank :: self.world_size]])

    @property
    def carries_state(self) -> bool:
        return False


def stream_ids(sentences: Sequence[Sequence[int]], bos: int, eos: int) -> torch.Tensor:
    """The stream ``<s> w.. </s> <s> v.. </s> ...`` as a 1-D LongTensor."""
    total = sum(len(s) + 2 for s in sentences)
    out = np.empty(total, dtype=np.int64)
    pos = 0
    for s in sentences:
        n = len(s)
        out[pos] = bos
        out[pos + 1 : pos + 1 + n] = s
        out[pos + 1 + n] = eos
        pos += n + 2
    return torch.from_numpy(out)


@dataclass
class StreamBatches:
    """Re-iterable BPTT batches ``[batch_size, <= bptt]`` over the sentence stream (module docstring).

    Row ``b`` of consecutive batches continues the same part of the stream, so a recurrent model passes
    its state on (``carries_state``). The stream's tail that does not fill a row is dropped, as in the
    classic PTB recipe; ``num_tokens`` counts the targets actually predicted.
    """

    sentences: Sequence[Sequence[int]]
    bos: int
    eos: int
    batch_size: int = 20
    bptt: int = 35
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        _check_shard(self.rank, self.world_size)
        if self.batch_size < self.world_size:
            raise ConfigError(f"batch_size {self.batch_size} cannot be split over {self.world_size} processes: "
                             f"stream batches give each process whole rows")
        stream = stream_ids(self.sentences, self.bos, self.eos)
        n_cols = (len(stream) - 1) // self.batch_size
        if n_cols < 1:
            raise TextFormatError(
                f"text too short for stream batches: {len(stream)} tokens for batch_size {self.batch_size}"
            )
        data = stream[: self.batch_size * n_cols + 1]
        targets = data[1:].clone()
        targets[targets == self.bos] = IGNORE
        rows = slice(self.batch_size * self.rank // self.world_size,
                     self.batch_size * (self.rank + 1) // self.world_size)
        self._inputs = data[:-1].view(self.batch_size, n_cols)[rows]
        self._targets = targets.view(self.batch_size, n_cols)[rows]

    def shard(self, rank: int, world_size: int) -> "StreamBatches":
        """This process's contiguous block of rows (``batch_size * rank // world_size`` up to the next
        process's); the rows keep their place in the stream, so a recurrent state carries over as in one
        process."""
        return replace(self, rank=rank, world_size=world_size)

    def set_epoch(self, epoch: int) -> None:  # same batches every epoch
        pass

    def __len__(self) -> int:
        return -(-self._inputs.shape[1] // self.bptt)

    def __iter__(self) -> Iterator[Batch]:
        for t in range(0, self._inputs.shape[1], self.bptt):
            yield self._inputs[:, t : t + self.bptt], self._targets[:, t : t + self.bptt]

    @property
    def num_tokens(self) -> int:
        return int((self._targets != IGNORE).sum())

    @property
    def carries_state(self) -> bool:
        return True


@dataclass
class WindowBatches:
    """Stream evaluation for models without a carried state (Transformers): sliding windows.

    The stream (as in :class:`StreamBatches`) is scored ``stride`` targets at a time; each block of
    targets is predicted from a window of up to ``window`` tokens ending at its last target, so every
    target except the first few sees at least ``window - stride`` tokens of history. Each target counts
    exactly once; rows are right-padded (inputs ``eos``, targets :data:`IGNORE`).
    """

    sentences: Sequence[Sequence[int]]
    bos: int
    eos: int
    window: int = 256
    stride: int = 64
    batch_size: int = 16

    def __post_init__(self) -> None:
        if not 1 <= self.stride <= self.window:
            raise ValueError(f"need 1 <= stride <= window, got stride {self.stride}, window {self.window}")
        stream = stream_ids(self.sentences, self.bos, self.eos)
        self._inputs = stream[:-1]
        self._targets = stream[1:].clone()
        self._targets[self._targets == self.bos] = IGNORE

    carries_state = False

    def set_epoch(self, epoch: int) -> None:
        pass

    def _blocks(self) -> list[tuple[int, int, int]]:
        n = len(self._inputs)
        return [(max(0, min(s + self.stride, n) - self.window), s, min(s + self.stride, n))
                for s in range(0, n, self.stride)]

    def __len__(self) -> int:
        return -(-len(self._blocks()) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        blocks = self._blocks()
        for b in range(0, len(blocks), self.batch_size):
            group = blocks[b : b + self.batch_size]
            width = max(end - start for start, _, end in group)
            inputs = torch.full((len(group), width), self.eos, dtype=torch.long)
            targets = torch.full((len(group), width), IGNORE, dtype=torch.long)
            for row, (start, first, end) in enumerate(group):
                inputs[row, : end - start] = self._inputs[start:end]
                targets[row, first - start : end - start] = self._targets[first:end]
            yield inputs, targets

    @property
    def num_tokens(self) -> int:
        return int((self._targets != IGNORE).sum())
