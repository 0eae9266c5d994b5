"""ARPA back-off n-gram LMs: reading, and scoring through the :class:`LanguageModel` interface.

The ARPA format (plain or gzip'd; log10 probabilities and back-off weights)::

    \\data\\
    ngram 1=6
    ngram 2=11

    \\1-grams:
    -99.0000000	<s>	-0.0165993
    -0.7403627	a	-0.0677518
    -0.5642714	</s>

    \\2-grams:
    -0.4164234	<s> a
    ...
    \\end\\

An :class:`NgramLM` is the Kaldi view of such a model (what ``arpa2fst`` + ``lattice-lmrescore`` compute):
``P(w | h) = p(h, w)`` if the n-gram is listed, else ``bow(h) + P(w | h[1:])``, in natural logs. Its
states are integer ids of n-gram histories, already reduced to the longest suffix that has extensions,
so equal states mean equal futures; ``advance`` over thousands of states is a few vectorised
``searchsorted`` passes, one per back-off level.

Words of the lang dir's words.txt that the ARPA lacks score as the ARPA's unk (``<unk>`` or the table's
unk symbol) when it has one; else (kaldingram and SRILM without ``-unk`` write no ``<unk>``) with the
probability of the ARPA's rarest word, backed off to the unigram level. Kaldi's G.fst would have no arc
for them at all, which as an *old LM to remove* would make every hypothesis with such a word
infinitely good; the rarest-word floor keeps removal and interpolation sane. The number of such
words is logged.

What such a word leaves in the history is a choice (``oov_history``):

* ``"kaldi"`` (the default): the history restarts, as Kaldi's const-arpa LM does (``ConstArpaLm`` behind
  ``lmrescore_const_arpa.sh``): it scores the word as ``<unk>`` but its next history state keeps only a
  suffix that exists as an LM state, and no state holds a word the ARPA lacks, so the next word is
  scored from the empty history (unigrams), not after ``<unk>``.
* ``"unk"``: the word stays in the history as ``<unk>`` (SRILM's ``-unk`` convention); with an ARPA
  without ``<unk>`` both rules restart the history.

Where the ARPA has no ``<unk>``, Kaldi's ``ConstArpaLm`` charges such a word only the back-off weights
on the way to the empty history (and drops the path when the history is already empty); the floor
above is used instead under both rules.
"""

from __future__ import annotations

import logging
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from kaldi_mpq.errors import ArpaFormatError
from kaldi_mpq.fileio import Pathlike, atomic_write, open_text
from kaldi_mpq.lm.interface import LanguageModel
from kaldi_mpq.text.symbols import BOS, EOS, SymbolTable

logger = logging.getLogger(__name__)

LN10 = math.log(10.0)

# version of the tables NgramLM.save writes: bump it whenever _build's output changes meaning
NGRAM_SAVE_VERSION = 1

# oov_history rule -> what the log says about it
OOV_HISTORY_RULES = {
    "kaldi": "restart the history (Kaldi const-arpa rule)",
    "unk": "stay in the history as <unk>",
}


def oov_log10(arpa: "ArpaModel") -> float:
    """log10 p of words the ARPA cannot predict: its rarest unigram (``<s>`` excluded)."""
    probs = [p for ng, (p, _) in arpa.ngrams[0].items() if ng[0] != BOS and p > -99.0]
    return min(probs) if probs else -99.0
_COUNT_LINE = re.compile(r"^ngram\s+(\d+)\s*=\s*(\d+)$")
_SECTION = re.compile(r"^\\(\d+)-grams:$")


@dataclass
class ArpaModel:
    """The raw content of an ARPA file.

    Attributes:
        order: highest n-gram order.
        ngrams: per order ``k`` (index ``k - 1``), a dict ``tuple of k words -> (log10 p, log10 bow)``;
            bow is 0.0 where the file gives none.
        source: file name, for messages.
    """

    order: int
    ngrams: list[dict[tuple[str, ...], tuple[float, float]]]
    source: str = "<memory>"

    @property
    def vocabulary(self) -> set[str]:
        return {ng[0] for ng in self.ngrams[0]}


def read_arpa(path: Pathlike) -> ArpaModel:
    """Read an ARPA file (gzip'd or not), checking it against its ``\\data\\`` counts.

    Raises:
        ArpaFormatError: with the file name and line number of the first problem (missing header or
            section, a malformed entry, counts that do not match, a missing ``\\end\\``).
    """
    path = Path(path)
    if not path.is_file():
        raise ArpaFormatError(f"{path}: no such ARPA file")
    counts: dict[int, int] = {}
    ngrams: list[dict] = []
    section = 0  # 0 before \data\, -1 inside \data\, k inside \k-grams:, -2 after \end\
    lineno = 0

    def fail(msg: str, line: str = "") -> ArpaFormatError:
        quoted = f": {line.strip()[:80]!r}" if line else ""
        return ArpaFormatError(f"{path}:{lineno}: {msg}{quoted}")

    try:
        with open_text(path) as f:
            for lineno, line in enumerate(f, 1):
                s = line.strip()
                if section > 0:
                    if not s:
                        continue
                    if s[0] == "\\":
                        _close_section(section, counts, ngrams, fail)
                        if s == "\\end\\":
                            section = -2
                            break
                        section = _open_section(s, section, counts, ngrams, fail, line)
                        continue
                    fields = s.split()
                    k = section
                    if len(fields) not in (k + 1, k + 2):
                        raise fail(f"expected 'log10p <{k} words> [bow]' in the {k}-grams", line)
                    try:
                        p = float(fields[0])
                        bow = float(fields[k + 1]) if len(fields) == k + 2 else 0.0
                    except ValueError:
                        raise fail("bad number", line) from None
                    ngrams[k - 1][tuple(fields[1 : k + 1])] = (p, bow)
                elif section == 0:
                    if s == "\\data\\":
                        section = -1
                    elif s:
                        raise fail("expected '\\data\\' before anything else", line)
                elif section == -1:
                    if not s:
                        continue
                    m = _COUNT_LINE.match(s)
                    if m:
                        counts[int(m.group(1))] = int(m.group(2))
                        continue
                    section = _open_section(s, 0, counts, ngrams, fail, line)
    except UnicodeDecodeError as e:
        raise ArpaFormatError(f"{path}:{lineno + 1}: not UTF-8 text ({e.reason})") from None
    except (OSError, EOFError) as e:
        raise ArpaFormatError(f"{path}: cannot read ({e})") from None
    if section != -2:
        raise fail("file ends without '\\end\\'")
    if not ngrams:
        raise fail("no n-gram sections")
    if len(ngrams) != max(counts):
        raise fail(f"\\data\\ announces {max(counts)}-grams but the file has sections up to {len(ngrams)}")
    model = ArpaModel(order=len(ngrams), ngrams=ngrams, source=str(path))
    for w in (BOS, EOS):
        if (w,) not in ngrams[0]:
            raise ArpaFormatError(f"{path}: {w} is not among the 1-grams")
    return model


def _open_section(s, previous, counts, ngrams, fail, line) -> int:
    m = _SECTION.match(s)
    if not m:
        raise fail("expected a '\\N-grams:' section header", line)
    k = int(m.group(1))
    if k != previous + 1:
        raise fail(f"expected the \\{previous + 1}-grams: section", line)
    if k not in counts:
        raise fail(f"section \\{k}-grams: has no 'ngram {k}=' count in \\data\\", line)
    ngrams.append({})
    return k


def _close_section(k, counts, ngrams, fail) -> None:
    if len(ngrams[k - 1]) != counts[k]:
        raise fail(f"\\data\\ says ngram {k}={counts[k]} but the section has {len(ngrams[k - 1])} entries")


class NgramLM(LanguageModel):
    """A back-off n-gram LM over a Kaldi words.txt, vectorised for batches of histories.

    States are ``int64`` numpy arrays of history ids (one per hypothesis).

    Args:
        arpa: the model (see :func:`read_arpa`).
        symbols: the lang dir's words.txt; every id the LM is asked about must be in it.
        oov_history: what a word the ARPA lacks leaves in the history: ``"kaldi"`` (restart, as
            Kaldi's const-arpa LM) or ``"unk"`` (keep ``<unk>``); see the module docstring.
        unk: the ARPA word such words score as (default: the table's unk symbol, else ``<unk>``, when
            the ARPA has it).
    """

    def __init__(self, arpa: ArpaModel, symbols: SymbolTable, oov_history: str = "kaldi",
                 unk: str | None = None):
        if oov_history not in OOV_HISTORY_RULES:
            raise ValueError(f"oov_history must be one of {', '.join(OOV_HISTORY_RULES)}, not {oov_history!r}")
        self.oov_history = oov_history
        self._symbols = symbols
        self.order = arpa.order
        self.source = arpa.source
        # ARPA word -> integer index: words.txt ids, then fresh ids for words words.txt lacks.
        index = dict(symbols.id_of)
        extra = sorted(arpa.vocabulary - index.keys())
        for w in extra:
            index[w] = len(index) + symbols.max_id + 1
        self._nothing = max(index.values()) + 1  # key index no n-gram has: words the ARPA cannot predict
        self._width = self._nothing + 1
        missing = [
            w for w in symbols.id_of
            if (w,) not in arpa.ngrams[0] and w not in ("<eps>", BOS) and not symbols.is_disambig(w)
        ]
        if extra:
            logger.info("%s: %d ARPA words are not in %s (never asked for)", arpa.source, len(extra), symbols.source)
        unk_word = unk if unk is not None and (unk,) in arpa.ngrams[0] else None
        if unk_word is None and symbols.unk is not None and (symbols.unk,) in arpa.ngrams[0]:
            unk_word = symbols.unk
        if unk_word is None and ("<unk>",) in arpa.ngrams[0]:
            unk_word = "<unk>"
        self.num_missing_words = len(missing)
        self._missing_score = repr(unk_word) if unk_word else f"the rarest word (log10 p = {oov_log10(arpa)})"
        self._warn_missing()
        self._oov_logp = oov_log10(arpa) * LN10
        # word id of the lattice -> index used in the n-gram keys (self._nothing: OOV)
        self._word_map = np.full(symbols.max_id + 1, self._nothing, dtype=np.int64)
        # words after which the history restarts (Kaldi's rule: every word the ARPA lacks)
        self._restarts = np.zeros(symbols.max_id + 1, dtype=bool)
        for w, i in symbols.id_of.items():
            if (w,) in arpa.ngrams[0]:
                self._word_map[i] = i
            else:
                self._restarts[i] = oov_history == "kaldi"
                if unk_word is not None:
                    self._word_map[i] = index[unk_word]
        self._build(arpa, index)
        logger.info("%s: %d-gram LM, %d states; words it lacks %s", arpa.source, self.order, self.num_states,
                    OOV_HISTORY_RULES[oov_history])

    def _warn_missing(self) -> None:
        if self.num_missing_words:
            logger.warning(
                "%s: %d words of %s are not in the ARPA; they score as %s and %s",
                self.source, self.num_missing_words, self._symbols.source, self._missing_score,
                OOV_HISTORY_RULES[self.oov_history],
            )

    # -- construction ------------------------------------------------------------------------------
    def _build(self, arpa: ArpaModel, index: dict[str, int]) -> None:
        n = arpa.order
        # every n-gram as a tuple of indices, computed once (the loops below visit each several times)
        ids_of = [[tuple(index[w] for w in ng) for ng in arpa.ngrams[k - 1]] for k in range(1, n + 1)]
        node_of: dict[tuple[int, ...], int] = {(): 0}
        for k in range(1, n):
            for ids in ids_of[k - 1]:
                node_of[ids] = len(node_of)
        num = len(node_of)
        bow = np.zeros(num, dtype=np.float64)
        parent = np.zeros(num, dtype=np.int64)
        has_ext = np.zeros(num, dtype=bool)
        has_ext[0] = True
        for k in range(1, n):
            for ids, (_, b) in zip(ids_of[k - 1], arpa.ngrams[k - 1].values()):
                i = node_of[ids]
                bow[i] = b * LN10
                parent[i] = self._longest_suffix_node(ids[1:], node_of)
        for k in range(2, n + 1):
            for ids, ng in zip(ids_of[k - 1], arpa.ngrams[k - 1]):
                h = node_of.get(ids[:-1])
                if h is None:
                    raise ArpaFormatError(
                        f"{arpa.source}: the {k}-gram {' '.join(ng)!r} has no {k - 1}-gram history entry"
                    )
                has_ext[h] = True
        # state of each node: itself if it has extensions, else the state of its back-off suffix
        state = np.arange(num, dtype=np.int64)
        for i in range(1, num):  # nodes are numbered by increasing order, so parents come first
            if not has_ext[i]:
                state[i] = state[parent[i]]
        keys, logp, nxt = [], [], []
        for k in range(1, n + 1):
            for ids, (p, _) in zip(ids_of[k - 1], arpa.ngrams[k - 1].values()):
                keys.append(node_of[ids[:-1]] * self._width + ids[-1])
                logp.append(p * LN10)
                nxt.append(state[node_of[ids]] if k < n else state[self._longest_suffix_node(ids[1:], node_of)])
        keys_a = np.asarray(keys, dtype=np.int64)
        order = np.argsort(keys_a, kind="stable")
        self._keys = keys_a[order]
        self._logp = np.asarray(logp, dtype=np.float64)[order]
        self._next = np.asarray(nxt, dtype=np.int64)[order]
        self._bow = bow
        self._parent = parent
        # word indices of each node's history, -1 padded (node ids are node_of's insertion order)
        histories = np.full((num, max(n - 1, 1)), -1, dtype=np.int64)
        for i, ids in enumerate(node_of):
            histories[i, : len(ids)] = ids
        self._histories = histories
        bos = self.symbols.bos_id
        self._initial = int(state[node_of[(bos,)]])

    # -- saved tables ------------------------------------------------------------------------------
    # array name -> (dtype kind, number of dimensions) of everything _build and __init__ leave behind
    _SAVED_ARRAYS = {
        "keys": ("i", 1), "logp": ("f", 1), "next": ("i", 1), "bow": ("f", 1), "parent": ("i", 1),
        "histories": ("i", 2), "word_map": ("i", 1), "restarts": ("b", 1),
    }
    _SAVED_SCALARS = {
        "order": int, "nothing": int, "width": int, "initial": int, "num_missing_words": int,
        "oov_logp": float, "oov_history": str, "missing_score": str, "source": str, "cache_key": str,
    }

    def save(self, path: Pathlike, cache_key: str = "") -> None:
        """Write the built tables to an ``.npz`` (no pickle), atomically, so that :meth:`load` skips
        re-reading the ARPA and rebuilding them; ``cache_key`` is stored for :meth:`load` to check."""
        arrays = {name: getattr(self, f"_{name}") for name in self._SAVED_ARRAYS}
        scalars = {
            "order": self.order, "nothing": self._nothing, "width": self._width, "initial": self._initial,
            "num_missing_words": self.num_missing_words, "oov_logp": self._oov_logp,
            "oov_history": self.oov_history, "missing_score": self._missing_score, "source": self.source,
            "cache_key": cache_key,
        }
        with atomic_write(path, "wb", encoding=None) as f:
            np.savez(f, format_version=np.int64(NGRAM_SAVE_VERSION), **arrays,
                     **{k: np.asarray(v) for k, v in scalars.items()})

    @classmethod
    def load(cls, path: Pathlike, symbols: SymbolTable, cache_key: str | None = None,
             source: str | None = None) -> "NgramLM":
        """An LM saved by :meth:`save`, over ``symbols`` (the words.txt it was built with); ``source``
        (default: the LM file it was built from) names it in messages.

        Raises:
            ArpaFormatError: an unreadable, truncated or inconsistent file, one of another format
                version, one built over another words.txt, or (when ``cache_key`` is given) one saved
                under another key.
        """
        path = Path(path)

        def bad(why: str) -> ArpaFormatError:
            return ArpaFormatError(f"{path}: not a usable saved n-gram LM ({why})")

        try:
            with np.load(path, allow_pickle=False) as z:
                data = {name: z[name] for name in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
            raise bad(f"{type(e).__name__}: {e}") from None
        version = data.get("format_version")
        if version is None or version.shape != () or int(version) != NGRAM_SAVE_VERSION:
            raise bad(f"format version {None if version is None else version.tolist()}, "
                      f"expected {NGRAM_SAVE_VERSION}")
        lm = cls.__new__(cls)
        for name, (kind, ndim) in cls._SAVED_ARRAYS.items():
            a = data.get(name)
            if a is None or a.dtype.kind != kind or a.ndim != ndim:
                raise bad(f"array {name!r} missing or of the wrong type")
            setattr(lm, f"_{name}", a)
        values = {}
        for name, typ in cls._SAVED_SCALARS.items():
            a = data.get(name)
            if a is None or a.shape != () or (a.dtype.kind == "U") != (typ is str):
                raise bad(f"value {name!r} missing or of the wrong type")
            values[name] = typ(a)
        if cache_key is not None and values["cache_key"] != cache_key:
            raise bad("saved under another cache key")
        n_keys, n_states = lm._keys.size, lm._bow.size
        if not (lm._logp.size == lm._next.size == n_keys and lm._parent.size == n_states > 0
                and lm._histories.shape[0] == n_states
                and lm._word_map.size == lm._restarts.size == symbols.max_id + 1
                and values["order"] >= 1 and values["oov_history"] in OOV_HISTORY_RULES
                and 0 <= values["initial"] < n_states
                and (n_keys == 0 or (lm._next.min() >= 0 and lm._next.max() < n_states))
                and lm._parent.min() >= 0 and lm._parent.max() < n_states):
            raise bad("inconsistent table sizes (built over another words.txt?)")
        lm._symbols = symbols
        lm.order, lm.source, lm.oov_history = values["order"], values["source"], values["oov_history"]
        lm._nothing, lm._width, lm._initial = values["nothing"], values["width"], values["initial"]
        lm.num_missing_words, lm._oov_logp = values["num_missing_words"], values["oov_logp"]
        lm._missing_score = values["missing_score"]
        if source is not None:
            lm.source = source
        lm._warn_missing()
        return lm

    @staticmethod
    def _longest_suffix_node(ids: tuple[int, ...], node_of: dict) -> int:
        for s in range(len(ids) + 1):
            i = node_of.get(ids[s:])
            if i is not None:
                return i
        return 0

    # -- LanguageModel -----------------------------------------------------------------------------
    @property
    def symbols(self) -> SymbolTable:
        return self._symbols

    def initial_state(self, batch_size: int) -> np.ndarray:
        return np.full(batch_size, self._initial, dtype=np.int64)

    def advance(self, states, words) -> tuple[np.ndarray, np.ndarray]:
        hist = np.asarray(states, dtype=np.int64).copy()
        words = np.asarray(words, dtype=np.int64)
        if hist.shape != words.shape:
            raise ValueError(f"advance: {hist.shape[0]} states but {words.shape[0]} words")
        if words.size and (words.min() < 0 or words.max() >= self._word_map.size):
            raise ValueError(f"advance: word id out of range [0, {self._word_map.size})")
        w = self._word_map[words]
        logp = np.zeros(hist.shape, dtype=np.float64)
        out = np.zeros(hist.shape, dtype=np.int64)  # OOV words end in the root state
        todo = np.arange(hist.size)
        for _ in range(self.order + 1):
            if todo.size == 0:
                break
            h = hist[todo]
            key = h * self._width + w[todo]
            pos = np.searchsorted(self._keys, key)
            pos[pos == self._keys.size] = 0
            hit = self._keys[pos] == key
            done = todo[hit]
            logp[done] += self._logp[pos[hit]]
            out[done] = self._next[pos[hit]]
            miss = todo[~hit]
            at_root = hist[miss] == 0
            # a word the ARPA cannot predict, backed off to the root
            dead = miss[at_root]
            logp[dead] += self._oov_logp
            todo = miss[~at_root]
            logp[todo] += self._bow[hist[todo]]
            hist[todo] = self._parent[hist[todo]]
        out[self._restarts[words]] = 0
        return logp, out

    def select_states(self, states, indices) -> np.ndarray:
        return np.asarray(states)[np.asarray(indices, dtype=np.int64)]

    def concat_states(self, states: Sequence[np.ndarray]) -> np.ndarray:
        if not states:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.asarray(s, dtype=np.int64) for s in states])

    def history(self, state: int) -> tuple[int, ...]:
        """The word ids of the n-gram history a state stands for (for debugging and tests)."""
        return tuple(int(i) for i in self._histories[int(state)] if i >= 0)

    @property
    def num_states(self) -> int:
        return len(self._bow)
