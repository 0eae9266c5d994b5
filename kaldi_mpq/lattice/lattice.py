"""The in-memory word lattice: a Kaldi CompactLattice as numpy arrays, topologically sorted.

Conventions (Kaldi's):

* costs are negated natural logs; ``graph_cost`` (LM + transition + pronunciation) and
  ``acoustic_cost`` are kept apart, as in Kaldi's ``LatticeWeight`` (value1, value2);
* word id 0 is epsilon; word ids are the ids of ``words.txt``;
* each arc carries a string of transition ids, one per frame (its alignment), stored in CSR form:
  the alignment of arc ``i`` is ``ali_data[ali_offsets[i]:ali_offsets[i + 1]]``; final weights carry
  one too (``final_ali_*``);
* states are in topological order, the start state is 0, arcs are grouped by source state in their
  original order (``arc_offsets[s]:arc_offsets[s + 1]`` are the arcs leaving ``s``);
* non-final states have ``final_graph == final_acoustic == +inf``.

Kaldi stores weights as float32; arrays here are float64 holding those float32 values, and the
operations that mirror Kaldi programs (``scale``, ``add_word_insertion_penalty``) round their results
to float32 exactly as Kaldi does (see :mod:`kaldi_mpq.lattice.weights`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Protocol, Sequence, Union

import numpy as np

from kaldi_mpq.errors import LatticeFormatError
from kaldi_mpq.lattice.paths import Path, best_paths, forward_backward_best, nbest
from kaldi_mpq.lattice.weights import INF, kaldi_float, penalised_costs, scale_costs, total_arc_costs

if TYPE_CHECKING:  # pragma: no cover
    from kaldi_mpq.text.symbols import SymbolTable

_EMPTY_I32 = np.zeros(0, dtype=np.int32)
_FIELDS = ("key", "num_states", "src", "dst", "word", "graph_cost", "acoustic_cost", "final_graph", "final_acoustic",
           "state_frames", "header", "file_states")
_ALIGNMENT_FIELDS = ("ali_offsets", "ali_data", "final_ali_offsets", "final_ali_data")


class Alignments(NamedTuple):
    """The transition-id strings of a lattice's arcs and final weights, in CSR form."""

    ali_offsets: np.ndarray  # int64 [A+1]
    ali_data: np.ndarray  # int32
    final_ali_offsets: np.ndarray  # int64 [S+1]
    final_ali_data: np.ndarray  # int32


class DeferredAlignments(Protocol):
    """Alignments a reader has located but not decoded yet (the bulk reader's, see
    :mod:`kaldi_mpq.lattice.fst_bulk`): most uses of a lattice (best paths, sweeps) never need them."""

    def decode(self) -> Alignments: ...


class Lattice:
    """A word lattice (Kaldi CompactLattice) as arrays; see the module docstring for conventions.

    Invariants, true of every Lattice: states ``0..num_states-1`` in topological order with start
    state 0 (``src < dst`` for every arc); arcs grouped by ``src`` (stable); every array has the length
    given below; word ids >= 0; at least one final state. (The readers also reject weights Kaldi
    would not accept: see :func:`kaldi_mpq.lattice.weights.check_weights`.)

    Lattices are immutable: no field is reassigned after construction and no array is written
    into (arrays read in bulk are read-only numpy views), so a lattice and those derived from it
    share arrays; every operation returns a new lattice (see :meth:`replace`).

    Construction:

    * :meth:`from_arrays` / :meth:`from_csr`: from anything; checks every invariant and sorts the
      states topologically when needed (``LatticeFormatError`` otherwise).
    * ``Lattice(...)``: the parts as given, unchecked, uncopied: for code whose output satisfies the
      invariants by construction (this class's operations, the bulk reader after its own
      vectorised checks).

    Attributes:
        key: utterance id.
        num_states: S.
        src, dst, word: int32 [A].
        graph_cost, acoustic_cost: float64 [A].
        final_graph, final_acoustic: float64 [S], +inf where not final.
        alignments: :class:`Alignments`; their four arrays are also attributes (``ali_offsets``,
            ``ali_data``, ``final_ali_offsets``, ``final_ali_data``). A reader may pass
            :class:`DeferredAlignments` instead: they are decoded on first use.
        state_frames: int32 [S] frame index of each state where the source gave times (SLF), else None.
        header: the OpenFst header as read (kept so an unmodified lattice is written back byte for
            byte); None for lattices built or changed in memory.
        file_states: int32 [S]: the id state ``i`` had in the file when loading had to renumber the
            states into topological order; None when no renumbering happened.
    """

    __slots__ = ("key", "num_states", "src", "dst", "word", "graph_cost", "acoustic_cost", "final_graph",
                 "final_acoustic", "_alignments", "state_frames", "header", "file_states", "_arc_offsets")

    def __init__(self, key: str, num_states: int, src: np.ndarray, dst: np.ndarray, word: np.ndarray,
                 graph_cost: np.ndarray, acoustic_cost: np.ndarray, final_graph: np.ndarray,
                 final_acoustic: np.ndarray, alignments: Union[Alignments, DeferredAlignments],
                 state_frames: Optional[np.ndarray] = None, header: Optional[Any] = None,
                 file_states: Optional[np.ndarray] = None):
        init = object.__setattr__  # the only writes: here and the two caches below
        init(self, "key", key)
        init(self, "num_states", num_states)
        init(self, "src", src)
        init(self, "dst", dst)
        init(self, "word", word)
        init(self, "graph_cost", graph_cost)
        init(self, "acoustic_cost", acoustic_cost)
        init(self, "final_graph", final_graph)
        init(self, "final_acoustic", final_acoustic)
        init(self, "_alignments", alignments)
        init(self, "state_frames", state_frames)
        init(self, "header", header)
        init(self, "file_states", file_states)
        init(self, "_arc_offsets", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Lattice is immutable: use lat.replace({name}=...) for a modified copy")

    def __reduce__(self):
        # pickles hold decoded alignments, not the buffer a reader deferred them to
        return (Lattice, (self.key, self.num_states, self.src, self.dst, self.word, self.graph_cost,
                          self.acoustic_cost, self.final_graph, self.final_acoustic, self.alignments,
                          self.state_frames, self.header, self.file_states))

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        key: str,
        num_states: int,
        src: Sequence[int],
        dst: Sequence[int],
        word: Sequence[int],
        graph_cost: Sequence[float],
        acoustic_cost: Sequence[float],
        final_graph: Sequence[float],
        final_acoustic: Sequence[float],
        ali: Optional[Sequence[Sequence[int]]] = None,
        final_ali: Optional[Sequence[Sequence[int]]] = None,
        start: int = 0,
        state_frames: Optional[Sequence[int]] = None,
        source: str = "<memory>",
        byte_offset: Optional[int] = None,
    ) -> "Lattice":
        """Build a lattice from arcs in any order and any state numbering; sorts it topologically.

        Args:
            ali: per-arc transition-id lists (default: empty); final_ali: per-state lists.
            start: the start state in the given numbering.
            source, byte_offset: where the lattice comes from, for error messages.

        Raises:
            LatticeFormatError: empty lattice, bad state ids, a cycle, or no final state.
        """
        src_a = np.asarray(src, dtype=np.int32).reshape(-1)
        a = len(src_a)
        ali_off, ali_dat = _csr(ali, a)
        fali_off, fali_dat = _csr(final_ali, num_states)
        return cls.from_csr(
            key, num_states, src_a, np.asarray(dst, dtype=np.int32).reshape(-1),
            np.asarray(word, dtype=np.int32).reshape(-1),
            np.asarray(graph_cost, dtype=np.float64).reshape(-1),
            np.asarray(acoustic_cost, dtype=np.float64).reshape(-1),
            ali_off, ali_dat,
            np.asarray(final_graph, dtype=np.float64).reshape(-1),
            np.asarray(final_acoustic, dtype=np.float64).reshape(-1),
            fali_off, fali_dat, start=start,
            state_frames=None if state_frames is None else np.asarray(state_frames, dtype=np.int32),
            source=source, byte_offset=byte_offset,
        )

    @classmethod
    def from_csr(
        cls, key, num_states, src, dst, word, graph_cost, acoustic_cost, ali_offsets, ali_data,
        final_graph, final_acoustic, final_ali_offsets, final_ali_data, start=0, state_frames=None,
        header=None, source="<memory>", byte_offset: Optional[int] = None,
    ) -> "Lattice":
        """Like :meth:`from_arrays` with alignments already in CSR form (the readers' entry point).

        If the states are already topologically sorted with ``start == 0`` the arrays are used as
        they are (no copy) and ``file_states`` stays None.
        """
        where = f"{source}: key {key!r}" + (f": byte offset {byte_offset}" if byte_offset is not None else "")
        if num_states <= 0:
            raise LatticeFormatError(f"{where}: empty lattice (no states)")
        a = len(src)
        if not (len(dst) == len(word) == len(graph_cost) == len(acoustic_cost) == a == len(ali_offsets) - 1):
            raise LatticeFormatError(f"{where}: arc arrays of different lengths")
        if len(final_graph) != num_states or len(final_acoustic) != num_states or \
                len(final_ali_offsets) != num_states + 1:
            raise LatticeFormatError(f"{where}: final weights for {len(final_graph)} states, expected {num_states}")
        if not 0 <= start < num_states:
            raise LatticeFormatError(f"{where}: start state {start} is not a state (0..{num_states - 1})")
        if a and (src.min() < 0 or dst.min() < 0 or src.max() >= num_states or dst.max() >= num_states):
            raise LatticeFormatError(f"{where}: arc to or from a state outside 0..{num_states - 1}")
        if a and word.min() < 0:
            raise LatticeFormatError(f"{where}: negative word id {int(word.min())}")
        if not (np.isfinite(final_graph) & np.isfinite(final_acoustic)).any():
            raise LatticeFormatError(f"{where}: no final state")
        grouped = a == 0 or bool(np.all(src[1:] >= src[:-1]))
        sorted_ = start == 0 and grouped and (a == 0 or bool(np.all(src < dst)))
        if not grouped:  # arcs given in any order: group by source, keeping their order
            perm = np.argsort(src, kind="stable")
            src, dst, word = src[perm], dst[perm], word[perm]
            graph_cost, acoustic_cost = graph_cost[perm], acoustic_cost[perm]
            ali_offsets, ali_data = take_csr(ali_offsets, ali_data, perm)
            header = None
        lat = cls(key, int(num_states), src, dst, word, graph_cost, acoustic_cost, final_graph, final_acoustic,
                  Alignments(ali_offsets, ali_data, final_ali_offsets, final_ali_data), state_frames, header)
        return lat if sorted_ else _renumber(lat, topological_order(num_states, src, dst, start, where))

    def replace(self, **changes: Any) -> "Lattice":
        """A copy with the given fields changed, sharing every other array; unchecked (the changes
        must keep the invariants). ``header`` and ``file_states`` are dropped unless given: they no
        longer describe a changed lattice. Alignments change as a whole (``alignments=``) or by
        their four arrays; alignments not yet decoded stay so unless they are changed."""
        fields = {name: getattr(self, name) for name in _FIELDS}
        fields.update(alignments=self._alignments, header=None, file_states=None)
        ali_changes = {k: changes.pop(k) for k in _ALIGNMENT_FIELDS if k in changes}
        unknown = set(changes).difference(fields)
        if unknown:
            raise TypeError(f"unknown Lattice fields {sorted(unknown)}")
        fields.update(changes)
        if ali_changes:
            fields["alignments"] = Alignments(*(ali_changes.get(k, getattr(self, k)) for k in _ALIGNMENT_FIELDS))
        return Lattice(**fields)

    # -- basic views ---------------------------------------------------------------------------------
    @property
    def num_arcs(self) -> int:
        return len(self.src)

    @property
    def arc_offsets(self) -> np.ndarray:
        """int64 [S+1]: arcs leaving state ``s`` are ``arc_offsets[s]:arc_offsets[s+1]`` (cached)."""
        if self._arc_offsets is None:
            offsets = np.searchsorted(self.src, np.arange(self.num_states + 1)).astype(np.int64)
            object.__setattr__(self, "_arc_offsets", offsets)
        return self._arc_offsets

    @property
    def alignments(self) -> Alignments:
        """The alignment strings, decoded now if the reader deferred them (then kept)."""
        ali = self._alignments
        if type(ali) is not Alignments:
            ali = ali.decode()
            object.__setattr__(self, "_alignments", ali)
        return ali

    @property
    def alignments_decoded(self) -> bool:
        """False while a reader's deferred alignments have not been needed yet."""
        return type(self._alignments) is Alignments

    ali_offsets = property(lambda self: self.alignments.ali_offsets, doc="int64 [A+1]")
    ali_data = property(lambda self: self.alignments.ali_data, doc="int32: the arcs' transition ids, concatenated")
    final_ali_offsets = property(lambda self: self.alignments.final_ali_offsets, doc="int64 [S+1]")
    final_ali_data = property(lambda self: self.alignments.final_ali_data,
                              doc="int32: the final weights' transition ids, concatenated")

    @property
    def is_final(self) -> np.ndarray:
        """bool [S]."""
        return np.isfinite(self.final_graph) & np.isfinite(self.final_acoustic)

    @property
    def ali_lengths(self) -> np.ndarray:
        """int64 [A]: frames per arc."""
        return np.diff(self.ali_offsets)

    def ali(self, arc: int) -> np.ndarray:
        """Transition ids of one arc."""
        return self.ali_data[self.ali_offsets[arc]:self.ali_offsets[arc + 1]]

    def final_ali(self, state: int) -> np.ndarray:
        """Transition ids of a state's final weight."""
        return self.final_ali_data[self.final_ali_offsets[state]:self.final_ali_offsets[state + 1]]

    # -- Kaldi operations ----------------------------------------------------------------------------
    def scale(self, acoustic_scale: float = 1.0, lm_scale: float = 1.0) -> "Lattice":
        """``lattice-scale``: graph costs times ``lm_scale``, acoustic costs times ``acoustic_scale``.

        As in Kaldi the scales are float32 and each product is rounded to float32. Returns a new
        lattice (this one is unchanged).
        """
        if kaldi_float(acoustic_scale) == 1.0 and kaldi_float(lm_scale) == 1.0:
            return self
        return self.replace(
            graph_cost=scale_costs(self.graph_cost, lm_scale),
            acoustic_cost=scale_costs(self.acoustic_cost, acoustic_scale),
            final_graph=scale_costs(self.final_graph, lm_scale),
            final_acoustic=scale_costs(self.final_acoustic, acoustic_scale),
        )

    def add_word_insertion_penalty(self, penalty: float) -> "Lattice":
        """``lattice-add-penalty``: add ``penalty`` to the graph cost of every arc with a word
        (word != 0), in float32 like Kaldi. Returns a new lattice."""
        return self.replace(graph_cost=penalised_costs(self.graph_cost, self.word, penalty))

    def arc_costs(self, acoustic_scale: float = 1.0, lm_scale: float = 1.0,
                  word_ins_penalty: float = 0.0) -> np.ndarray:
        """float64 [A]: the total cost of each arc after ``scale`` and ``add_word_insertion_penalty``,
        exactly as Kaldi computes it (float32 weights, summed in double). For LMWT x WIP sweeps: the
        lattice is not copied, only this vector is recomputed."""
        return total_arc_costs(self.graph_cost, self.acoustic_cost, self.word, acoustic_scale, lm_scale,
                               word_ins_penalty)

    def final_costs(self, acoustic_scale: float = 1.0, lm_scale: float = 1.0) -> np.ndarray:
        """float64 [S]: scaled final costs (+inf for non-final states)."""
        return scale_costs(self.final_graph, lm_scale) + scale_costs(self.final_acoustic, acoustic_scale)

    def best_path(self, acoustic_scale: float = 1.0, lm_scale: float = 1.0,
                  word_ins_penalty: float = 0.0) -> Optional[Path]:
        """``lattice-best-path``: the lowest-cost path (Kaldi's tie-breaking); None if no path."""
        return best_paths([self], acoustic_scale, lm_scale, word_ins_penalty)[0]

    def nbest(self, n: int, acoustic_scale: float = 1.0, lm_scale: float = 1.0,
              word_ins_penalty: float = 0.0) -> list[Path]:
        """Up to ``n`` distinct word sequences, best first (see :func:`kaldi_mpq.lattice.paths.nbest`)."""
        return nbest(self, n, acoustic_scale, lm_scale, word_ins_penalty)

    def prune(self, beam: float, acoustic_scale: float = 1.0, lm_scale: float = 1.0) -> "Lattice":
        """``lattice-prune``: drop arcs and final weights on no path within ``beam`` of the best path
        (costs scaled for the comparison only); then drop states left unreachable. New lattice."""
        cost = self.arc_costs(acoustic_scale, lm_scale)
        fin = self.final_costs(acoustic_scale, lm_scale)
        alpha, beta = forward_backward_best(self, cost, fin)
        best = beta[0]
        if not np.isfinite(best):
            return self
        limit = best + beam
        keep_arc = alpha[self.src] + cost + beta[self.dst] <= limit
        keep_final = alpha + fin <= limit
        return self.subgraph(keep_arc, keep_final)

    def subgraph(self, keep_arc: np.ndarray, keep_final: Optional[np.ndarray] = None) -> "Lattice":
        """A new lattice with only the arcs (and final weights) flagged, restricted to states on a
        complete path (OpenFst's Connect), renumbered in order."""
        if keep_final is None:
            keep_final = np.ones(self.num_states, dtype=bool)
        fg = np.where(keep_final, self.final_graph, INF)
        fa = np.where(keep_final, self.final_acoustic, INF)
        # accessible (forward) and co-accessible (backward) over the kept arcs, in topological order
        src, dst = self.src[keep_arc], self.dst[keep_arc]
        acc = np.zeros(self.num_states, dtype=bool)
        acc[0] = True
        coacc = np.isfinite(fg + fa)
        for s, d in zip(src.tolist(), dst.tolist()):
            if acc[s]:
                acc[d] = True
        for s, d in zip(src[::-1].tolist(), dst[::-1].tolist()):
            if coacc[d]:
                coacc[s] = True
        live = acc & coacc
        if not live[0]:
            raise LatticeFormatError(f"key {self.key!r}: nothing left after pruning")
        keep = keep_arc.copy()
        keep[keep] = live[src] & live[dst]
        new_id = np.cumsum(live) - 1
        states = np.flatnonzero(live)
        idx = np.flatnonzero(keep)
        ali_off, ali_dat = take_csr(self.ali_offsets, self.ali_data, idx)
        fali_off, fali_dat = take_csr(self.final_ali_offsets, self.final_ali_data, states)
        return self.replace(
            num_states=len(states), src=new_id[self.src[idx]].astype(np.int32),
            dst=new_id[self.dst[idx]].astype(np.int32), word=self.word[idx],
            graph_cost=self.graph_cost[idx], acoustic_cost=self.acoustic_cost[idx],
            ali_offsets=ali_off, ali_data=ali_dat, final_graph=fg[states], final_acoustic=fa[states],
            final_ali_offsets=fali_off, final_ali_data=fali_dat,
            state_frames=None if self.state_frames is None else self.state_frames[states],
        )

    # -- times ---------------------------------------------------------------------------------------
    def state_times(self) -> np.ndarray:
        """int64 [S]: the frame at which each state is reached (number of transition ids on any
        path from the start; Kaldi's CompactLatticeStateTimes), or ``state_frames`` when the
        lattice came with times (SLF). Unreachable states get -1."""
        if self.state_frames is not None:
            return self.state_frames.astype(np.int64)
        t = np.full(self.num_states, -1, dtype=np.int64)
        t[0] = 0
        lens = self.ali_lengths.tolist()
        tl = t.tolist()
        for i, (s, d) in enumerate(zip(self.src.tolist(), self.dst.tolist())):
            if tl[s] >= 0 and tl[d] < 0:
                tl[d] = tl[s] + lens[i]
        return np.asarray(tl, dtype=np.int64)

    def word_alignment(self, path: Optional[Path] = None) -> list[tuple[int, int, int]]:
        """``(word, start_frame, num_frames)`` of each word on ``path`` (default: the best path at
        scale 1), from the per-arc alignment lengths or from ``state_frames``.

        The frames of an arc are the frames of its transition-id string; as in Kaldi's
        ``nbest-to-ctm`` the boundaries are exact word boundaries only for word-aligned lattices
        (``lattice-align-words`` output). Epsilon arcs take frames but produce no entry.
        """
        if path is None:
            path = self.best_path()
            if path is None:
                return []
        times = self.state_times() if self.state_frames is not None else None
        out = []
        frame = 0
        for arc in path.arcs.tolist():
            if times is not None:
                start, n = int(times[self.src[arc]]), int(times[self.dst[arc]] - times[self.src[arc]])
            else:
                start, n = frame, int(self.ali_offsets[arc + 1] - self.ali_offsets[arc])
            if self.word[arc] != 0:
                out.append((int(self.word[arc]), start, n))
            frame = start + n
        return out

    # -- symbols -------------------------------------------------------------------------------------
    def check_words(self, symbols: "SymbolTable", source: str = "<memory>") -> None:
        """Raise LatticeFormatError if an arc has a word id that ``symbols`` lacks."""
        if not self.num_arcs:
            return
        ids = np.fromiter(symbols.id_of.values(), dtype=np.int64)
        known = np.zeros(int(max(self.word.max(), ids.max())) + 1, dtype=bool)
        known[ids] = True
        bad = np.flatnonzero(~known[self.word])
        if len(bad):
            raise LatticeFormatError(
                f"{source}: key {self.key!r}: arc {int(bad[0])} has word id {int(self.word[bad[0]])}, "
                f"which is not in {symbols.source}"
            )

    def __repr__(self) -> str:
        return f"Lattice(key={self.key!r}, num_states={self.num_states}, num_arcs={self.num_arcs})"


# -- helpers ---------------------------------------------------------------------------------------------

def _csr(lists: Optional[Sequence[Sequence[int]]], n: int) -> tuple[np.ndarray, np.ndarray]:
    if lists is None:
        return np.zeros(n + 1, dtype=np.int64), _EMPTY_I32
    if len(lists) != n:
        raise LatticeFormatError(f"{len(lists)} alignment strings for {n} arcs/states")
    lens = np.fromiter((len(x) for x in lists), dtype=np.int64, count=n)
    off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=off[1:])
    data = np.fromiter((t for x in lists for t in x), dtype=np.int32, count=int(off[-1]))
    return off, data


def take_csr(offsets: np.ndarray, data: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``idx`` of a CSR array (``offsets [R+1]``, ``data``), as a new CSR array.

    Alignment strings are stored this way; use it to keep the alignments of a subset or a
    permutation of arcs or states.
    """
    starts = offsets[idx]
    lens = offsets[np.asarray(idx) + 1] - starts
    off = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(lens, out=off[1:])
    total = int(off[-1])
    if total == 0:
        return off, _EMPTY_I32
    gather = np.repeat(starts - off[:-1], lens) + np.arange(total, dtype=np.int64)
    return off, data[gather]


def topological_order(num_states: int, src: np.ndarray, dst: np.ndarray, start: int, where: str) -> np.ndarray:
    """A permutation ``order`` (new id -> old id) that sorts the states topologically.

    Follows OpenFst's TopSort (depth-first from the start state, then from the other states in id
    order, arcs in their order; states in reverse finishing order) so that ties between equal-cost
    paths are broken as Kaldi breaks them. States not reachable from the start, which OpenFst may
    put first, are moved after the reachable ones so that the start state is 0.

    Raises:
        LatticeFormatError: the lattice has a cycle, or an unreachable state has an arc into the
            reachable part before the start.
    """
    offsets = np.searchsorted(src, np.arange(num_states + 1)).tolist()
    dsts = dst.tolist()
    color = [0] * num_states  # 0 white, 1 grey, 2 black
    finish: list[int] = []
    roots = [start] + [s for s in range(num_states) if s != start]
    for root in roots:
        if color[root]:
            continue
        color[root] = 1
        stack = [(root, offsets[root])]
        while stack:
            s, i = stack[-1]
            if i < offsets[s + 1]:
                stack[-1] = (s, i + 1)
                d = dsts[i]
                if color[d] == 1:
                    raise LatticeFormatError(f"{where}: the lattice has a cycle (through state {d})")
                if color[d] == 0:
                    color[d] = 1
                    stack.append((d, offsets[d]))
            else:
                color[s] = 2
                finish.append(s)
                stack.pop()
    order = np.asarray(finish[::-1], dtype=np.int32)
    if order[0] != start:
        # States unreachable from the start came first; they are on no path, so move the start's
        # part to the front when no unreachable state has an arc into it.
        rank = np.empty(num_states, dtype=np.int64)
        rank[order] = np.arange(num_states)
        reach = np.zeros(num_states, dtype=bool)
        reach[start] = True
        for s in order[rank[start]:].tolist():
            if reach[s]:
                reach[dst[offsets[s]:offsets[s + 1]]] = True
        into = reach[dst] & ~reach[src]
        if into.any():
            raise LatticeFormatError(
                f"{where}: state {int(src[into][0])} is not reachable from the start but has an arc into it"
            )
        order = np.concatenate([order[reach[order]], order[~reach[order]]])
    return order


def _renumber(lat: Lattice, order: np.ndarray) -> Lattice:
    """Renumber states so that old state ``order[i]`` becomes ``i``; arcs regrouped stably."""
    n = lat.num_states
    new_id = np.empty(n, dtype=np.int32)
    new_id[order] = np.arange(n, dtype=np.int32)
    nsrc = new_id[lat.src]
    perm = np.argsort(nsrc, kind="stable")
    ali_off, ali_dat = take_csr(lat.ali_offsets, lat.ali_data, perm)
    fali_off, fali_dat = take_csr(lat.final_ali_offsets, lat.final_ali_data, order)
    return Lattice(
        lat.key, n, nsrc[perm], new_id[lat.dst[perm]], lat.word[perm], lat.graph_cost[perm],
        lat.acoustic_cost[perm], lat.final_graph[order], lat.final_acoustic[order],
        Alignments(ali_off, ali_dat, fali_off, fali_dat),
        None if lat.state_frames is None else lat.state_frames[order], lat.header, order.astype(np.int32),
    )
