"""Sentence batches and stream (BPTT) batches."""

import numpy as np
import pytest
import torch

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.text.batching import IGNORE, SentenceBatches, StreamBatches, pad_sentences, stream_ids

BOS, EOS = 1, 2


def test_pad_sentences():
    inputs, targets = pad_sentences([[5, 6], [7], []], BOS, EOS)
    assert inputs.tolist() == [[1, 5, 6], [1, 7, 2], [1, 2, 2]]
    assert targets.tolist() == [[5, 6, 2], [7, 2, IGNORE], [2, IGNORE, IGNORE]]


def test_sentence_batches_cover_every_sentence_once_and_respect_limits():
    sents = [[10 + i] * (i % 7) for i in range(50)]
    b = SentenceBatches(sents, BOS, EOS, batch_size=8, max_tokens=30, shuffle=True, seed=3)
    seen = []
    for inputs, targets in b:
        assert inputs.shape[0] <= 8 and inputs.numel() <= 30
        for row_in, row_t in zip(inputs.tolist(), targets.tolist()):
            n = sum(t != IGNORE for t in row_t) - 1
            seen.append(tuple(row_in[1 : n + 1]))
    assert sorted(seen) == sorted(tuple(s) for s in sents)
    assert sum(int((t != IGNORE).sum()) for _, t in b) == b.num_tokens == sum(len(s) + 1 for s in sents)
    first = [x.tolist() for x, _ in b]
    b.set_epoch(1)
    assert [x.tolist() for x, _ in b] != first  # reshuffled per epoch
    b.set_epoch(0)
    assert [x.tolist() for x, _ in b] == first  # reproducible


def test_stream_batches_are_contiguous_rows_and_ignore_bos_targets():
    sents = [[5, 6], [7], [8, 9, 10], [11]]
    assert stream_ids(sents, BOS, EOS).tolist() == [1, 5, 6, 2, 1, 7, 2, 1, 8, 9, 10, 2, 1, 11, 2]
    b = StreamBatches(sents, BOS, EOS, batch_size=2, bptt=3)
    inputs = torch.cat([x for x, _ in b], dim=1)
    targets = torch.cat([t for _, t in b], dim=1)
    assert inputs.tolist() == [[1, 5, 6, 2, 1, 7, 2], [1, 8, 9, 10, 2, 1, 11]]
    assert targets.tolist() == [[5, 6, 2, IGNORE, 7, 2, IGNORE], [8, 9, 10, 2, IGNORE, 11, 2]]
    assert [x.shape[1] for x, _ in b] == [3, 3, 1] and len(b) == 3
    assert b.num_tokens == 11 and b.carries_state


def test_window_batches_count_every_target_once_with_history():
    from kaldi_mpq.text.batching import WindowBatches

    sents = [[10 + i, 20 + i, 30 + i] for i in range(9)]
    w = WindowBatches(sents, BOS, EOS, window=8, stride=3, batch_size=4)
    stream = stream_ids(sents, BOS, EOS).tolist()
    scored = []
    for inputs, targets in w:
        for row_in, row_t in zip(inputs.tolist(), targets.tolist()):
            live = [p for p, t in enumerate(row_t) if t != IGNORE]
            end = live[-1] + 1
            # the row's inputs are the stream slice that ends just before its last target
            first_stream_pos = stream_end = None
            for e in range(end, len(stream)):
                if stream[e - end : e] == row_in[:end]:
                    first_stream_pos, stream_end = e - end, e
            assert stream_end is not None
            assert [row_t[p] for p in live] == [t for t in stream[first_stream_pos + live[0] + 1 : stream_end + 1]
                                               if t != BOS]
            if scored:
                assert live[0] >= 8 - 3 or first_stream_pos == 0  # full history once past the start
            scored += [row_t[p] for p in live]
    expected = [t for t in stream[1:] if t != BOS]
    assert scored == expected and w.num_tokens == len(expected)
    assert max(x.shape[1] for x, _ in w) == 8


@pytest.mark.parametrize("world_size", [2, 3])
def test_stream_shards_are_the_rows_of_the_global_batches(world_size):
    rng = np.random.default_rng(0)
    sents = [list(rng.integers(3, 20, size=rng.integers(1, 9))) for _ in range(60)]
    whole = StreamBatches(sents, bos=1, eos=2, batch_size=7, bptt=5)
    shards = [whole.shard(r, world_size) for r in range(world_size)]
    assert all(len(s) == len(whole) for s in shards)  # every process steps through the same batches
    for b, parts in zip(whole, zip(*shards)):
        for k in (0, 1):
            assert torch.equal(torch.cat([p[k] for p in parts]), b[k])
    assert sum(s.num_tokens for s in shards) == whole.num_tokens
    with pytest.raises(ConfigError, match="cannot be split over 8 processes"):
        whole.shard(0, 8)


@pytest.mark.parametrize("world_size", [2, 3])
def test_sentence_shards_split_each_batch_and_leave_small_ones_empty(world_size):
    rng = np.random.default_rng(1)
    sents = [list(rng.integers(3, 20, size=rng.integers(1, 9))) for _ in range(21)]  # last batch: 1
    whole = SentenceBatches(sents, bos=1, eos=2, batch_size=4, shuffle=True, seed=3)
    shards = [whole.shard(r, world_size) for r in range(world_size)]
    for s in (whole, *shards):
        s.set_epoch(2)

    def sentences_of(batch):  # each row's targets without the padding
        return sorted(tuple(t[t != IGNORE].tolist()) for t in batch[1])

    empty = 0
    for b, parts in zip(whole, zip(*shards)):
        assert sorted(sum((sentences_of(p) for p in parts), [])) == sentences_of(b)
        empty += sum(p[0].shape[0] == 0 for p in parts)
    assert empty == world_size - 1  # the one-sentence batch
    assert sum(s.num_tokens for s in shards) == whole.num_tokens
