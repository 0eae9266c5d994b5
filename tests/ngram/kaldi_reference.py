"""A transcription of how Kaldi's ``ConstArpaLmDeterministicFst`` scores a word sequence, working on the
raw arrays of a ``G.carpa`` (test reference only; the library reads G.carpa into an n-gram model instead).

Behaviour reproduced (kaldi src/lm/const-arpa-lm.cc):
* ``GetNgramLogprob(word, hist)``: keep the last ``order - 1`` history words; with an unk symbol, a word
  (or history word) without a unigram state is replaced by unk; then look the n-gram up, backing off
  (adding the history state's back-off weight, if the state exists) to shorter histories; an unknown
  unigram gives ``FLT_MIN`` (the arc is then refused).
* ``GetArc``: the next history is the old one plus the *unmapped* word, cut to ``order - 1`` words, then
  shortened from the front until it names a state with children (``HistoryStateExists``): a word
  without a unigram state never stays in a history.
* ``Final``: ``GetNgramLogprob(</s>, hist)``.
"""

from __future__ import annotations

import struct

import numpy as np

FLT_MIN = float(np.finfo(np.float32).tiny)


class KaldiConstArpaReference:
    def __init__(self, path):
        data = open(path, "rb").read()
        assert data.startswith(b"\0B<ConstArpaLm> <LmInfo> ")
        pos = len(b"\0B<ConstArpaLm> <LmInfo> ")
        vals = []
        for _ in range(4):
            assert data[pos] == 4
            vals.append(struct.unpack_from("<i", data, pos + 1)[0])
            pos += 5
        self.bos, self.eos, self.unk, self.order = vals
        pos += len(b"</LmInfo> <LmStates> ")
        size = struct.unpack_from("<q", data, pos + 1)[0]
        pos += 9
        self.states = np.frombuffer(data, "<i4", size, pos).tolist()
        self.floats = np.frombuffer(data, "<f4", size, pos).tolist()
        pos += 4 * size + len(b"</LmStates> <LmUnigram> ")
        nw = struct.unpack_from("<i", data, pos + 1)[0]
        pos += 5
        self.unigram = [a - 1 if a else None for a in np.frombuffer(data, "<i8", nw, pos).tolist()]
        pos += 8 * nw + len(b"</LmUnigram> <LmOverflow> ")
        no = struct.unpack_from("<i", data, pos + 1)[0]
        pos += 5
        self.overflow = [a - 1 for a in np.frombuffer(data, "<i8", no, pos).tolist()]

    def _unigram_state(self, w):
        return self.unigram[w] if 0 <= w < len(self.unigram) else None

    def _child(self, word, parent):
        """(child state or None, log-prob) or None when ``parent`` has no child ``word``."""
        n = self.states[parent + 2]
        lo, hi = 0, n - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            w = self.states[parent + 3 + 2 * mid]
            if w == word:
                info = self.states[parent + 4 + 2 * mid]
                if info % 2 == 0:
                    return None, float(np.array(info, dtype=np.int32).view(np.float32))
                child = parent + info // 2 if info > 0 else self.overflow[(-info) // 2]
                return child, self.floats[child]
            if w < word:
                lo = mid + 1
            else:
                hi = mid - 1
        return None

    def _state(self, seq):
        s = self._unigram_state(seq[0])
        for w in seq[1:]:
            if s is None:
                return None
            got = self._child(w, s)
            if got is None:
                return None
            s = got[0]
        return s

    def history_exists(self, hist):
        if not hist:
            return True
        s = self._state(hist)
        return s is not None and self.states[s + 2] > 0

    def _logprob_recurse(self, word, hist):
        if not hist:
            s = self._unigram_state(word)
            return FLT_MIN if s is None else self.floats[s]
        backoff = 0.0
        s = self._state(hist)
        if s is not None:
            got = self._child(word, s)
            if got is not None:
                return got[1]
            backoff = self.floats[s + 1]
        return backoff + self._logprob_recurse(word, hist[1:])

    def logprob(self, word, hist):
        hist = list(hist)[-(self.order - 1):] if self.order > 1 else []
        if self.unk != -1:
            if self._unigram_state(word) is None:
                word = self.unk
            hist = [self.unk if self._unigram_state(h) is None else h for h in hist]
        return self._logprob_recurse(word, hist)

    def sentence_cost(self, words):
        """Total LM cost (-ln) of ``<s> words </s>``, None when an arc is refused."""
        hist, cost = [self.bos], 0.0
        for w in words:
            lp = self.logprob(w, hist)
            if lp == FLT_MIN:
                return None
            cost -= lp
            hist = (hist + [w])[-(self.order - 1):] if self.order > 1 else []
            while not self.history_exists(hist):
                hist = hist[1:]
        return cost - self.logprob(self.eos, hist)
