"""Scoring many word sequences at once through a prefix tree: shared prefixes are scored once.

The sequences (all hypotheses of many utterances) are sorted and cut into groups of at most
``max_batch``; each group is laid out as a trie and walked depth by depth. At depth ``d`` one
:meth:`~kaldi_mpq.lm.interface.LanguageModel.advance` call scores every trie edge leaving depth ``d``
(the next words) and every ``</s>`` of a sequence ending there, so a group costs ``max length + 1``
LM calls whatever its number of sequences, and an N-best list whose hypotheses share their first
words computes those words once. Only the states of one depth are alive at a time.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from kaldi_mpq.lm.interface import LanguageModel

DEFAULT_MAX_BATCH = 4096


def score_with_prefix_tree(
    lm: LanguageModel, sentences: Sequence[Sequence[int]], max_batch: int = DEFAULT_MAX_BATCH
) -> list[np.ndarray]:
    """Per-token natural-log probabilities of each sentence, as :meth:`LanguageModel.score_sentences`.

    Args:
        lm: any LM of the common interface.
        sentences: word-id sequences without ``<s>``/``</s>`` (empty ones allowed).
        max_batch: at most this many sentences per trie, so at most this many states per LM call.

    Returns:
        One float64 array per sentence, ``len(sentence) + 1`` long (the last entry is ``</s>``).
    """
    n = len(sentences)
    out: list[np.ndarray] = [np.empty(0)] * n
    if n == 0:
        return out
    tuples = [tuple(int(w) for w in s) for s in sentences]
    order = sorted(range(n), key=tuples.__getitem__)
    for start in range(0, n, max(1, max_batch)):
        group = order[start : start + max_batch]
        for i, scores in zip(group, _score_trie(lm, [tuples[i] for i in group])):
            out[i] = scores
    return out


def _score_trie(lm: LanguageModel, sentences: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Score sorted ``sentences`` through their trie, one LM call per depth."""
    parent, word, depth = [-1], [-1], [0]  # node 0 is the root (<s>)
    paths: list[list[int]] = []
    prev: tuple[int, ...] = ()
    prev_path = [0]
    for s in sentences:  # sorted: the shared prefix with the previous sentence is its trie path
        lcp = 0
        for a, b in zip(prev, s):
            if a != b:
                break
            lcp += 1
        path = prev_path[: lcp + 1]
        for t in range(lcp, len(s)):
            parent.append(path[-1])
            word.append(s[t])
            depth.append(t + 1)
            path.append(len(parent) - 1)
        paths.append(path)
        prev, prev_path = s, path
    parent_a, word_a, depth_a = (np.asarray(x, dtype=np.int64) for x in (parent, word, depth))
    terminal = np.zeros(len(parent), dtype=bool)
    terminal[[p[-1] for p in paths]] = True
    col = np.zeros(len(parent), dtype=np.int64)  # a node's column in its depth's state batch
    node_logp = np.zeros(len(parent), dtype=np.float64)
    eos_logp = np.zeros(len(parent), dtype=np.float64)
    eos = lm.symbols.eos_id
    states = lm.initial_state(1)
    at_depth = np.array([0])
    for d in range(int(depth_a.max()) + 1):
        children = np.flatnonzero(depth_a == d + 1)
        finals = at_depth[terminal[at_depth]]
        col[children] = np.arange(children.size)
        queries = np.concatenate([col[parent_a[children]], col[finals]])
        words = np.concatenate([word_a[children], np.full(finals.size, eos, dtype=np.int64)])
        logp, new_states = lm.advance(lm.select_states(states, queries), words)
        node_logp[children] = logp[: children.size]
        eos_logp[finals] = logp[children.size :]
        if children.size == 0:
            break
        states = lm.select_states(new_states, np.arange(children.size))
        at_depth = children
    return [np.append(node_logp[p[1:]], eos_logp[p[-1]]) for p in paths]
