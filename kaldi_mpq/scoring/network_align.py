"""Alignment of word networks, for references and hypotheses with alternations, as sclite does.

A segment is a list of tokens: words, optionally deletable words ``(UH)`` and
:class:`~kaldi_mpq.scoring.glm.Alternation` groups ``{ THAT / IT / @ }`` (``@``: nothing). Each side
becomes a small acyclic graph (one path per choice of alternatives); a dynamic programme over pairs of
graph nodes finds the cheapest joint path with sclite's costs (correct 0, substitution 4, insertion 3,
deletion 3; an optionally deletable word costs a deletion in the search, as in sclite (``(UM)`` against
``X`` is a substitution, not a free deletion plus an insertion), but its deletion is counted correct). With ``fragments``
(sclite ``-F``) a reference fragment ``TH-`` / ``-AT`` is correct against a hypothesis word that starts
/ ends with its letters. Among equal-cost paths the one with fewer insertions wins, then the first found (match/substitution,
deletion, insertion), which reproduces sclite's choices on the cases tested (``{ X / Y Z / @ }`` against
``Y`` takes ``Y Z`` with a deletion, not nothing with an insertion).
"""

from __future__ import annotations

from typing import Sequence, Union

from kaldi_mpq.scoring.glm import Alternation
from kaldi_mpq.scoring.sclite_io import AlignedWord

Token = Union[str, Alternation]
INS, DEL, SUB = 3, 3, 4
# path cost = sclite cost * _TIE + insertions: among equal sclite costs the path with fewer insertions wins
_TIE = 1 << 20
_INF = float("inf")


def _graph(tokens: Sequence[Token]) -> tuple[int, list[list[tuple[int, str | None]]]]:
    """(number of nodes, out-edges per node ``(dst, word or None for epsilon)``); node 0 start, last end."""
    edges: list[list[tuple[int, str | None]]] = [[]]

    def new() -> int:
        edges.append([])
        return len(edges) - 1

    cur = 0
    for t in tokens:
        if isinstance(t, Alternation):
            ends = []
            for opt in t.options:
                node = cur
                for w in opt:
                    nxt = new()
                    edges[node].append((nxt, w))
                    node = nxt
                ends.append(node)
            join = new()
            for e in ends:
                edges[e].append((join, None))
            cur = join
        else:
            nxt = new()
            edges[cur].append((nxt, t))
            cur = nxt
    return len(edges), edges


def _unwrap(word: str) -> tuple[str, bool]:
    if len(word) > 2 and word.startswith("(") and word.endswith(")"):
        return word[1:-1], True
    return word, False


def _matches(ref: str, hyp: str, fragments: bool) -> bool:
    if ref == hyp:
        return True
    if fragments and len(ref) > 1:
        if ref.endswith("-"):
            return hyp.startswith(ref[:-1])
        if ref.startswith("-"):
            return hyp.endswith(ref[1:])
    return False


def align_tokens(ref: Sequence[Token], hyp: Sequence[Token], case_sensitive: bool = False,
                 opt_del: bool = True, fragments: bool = True) -> tuple[AlignedWord, ...]:
    """Best alignment of two token lists; ``AlignedWord`` items in order (refs shown without parentheses
    only when matched; optional deletions are ``C`` with no hypothesis word)."""
    norm = (lambda w: w) if case_sensitive else str.upper
    nr, redges = _graph(ref)
    nh, hedges = _graph(hyp)
    cost = [[_INF] * nh for _ in range(nr)]
    back: list[list[tuple | None]] = [[None] * nh for _ in range(nr)]
    cost[0][0] = 0

    def relax(i2, j2, c, item):
        # strict '<' keeps the first-tried move on ties: diagonal, then deletion, then insertion
        if c < cost[i2][j2]:
            cost[i2][j2] = c
            back[i2][j2] = item

    for i in range(nr):
        for j in range(nh):
            c0 = cost[i][j]
            if c0 == _INF:
                continue
            for i2, r in redges[i]:
                if r is None:
                    relax(i2, j, c0, (i, j, None))
                    continue
                word, optional = _unwrap(r)
                optional = optional and opt_del
                for j2, h in hedges[j]:
                    if h is None:
                        continue
                    ok = _matches(norm(word), norm(h), fragments)
                    relax(i2, j2, c0 + (0 if ok else SUB * _TIE), (i, j, AlignedWord("C" if ok else "S", r, h)))
                relax(i2, j, c0 + DEL * _TIE, (i, j, AlignedWord("C" if optional else "D", r, None)))
            for j2, h in hedges[j]:
                if h is None:
                    relax(i, j2, c0, (i, j, None))
                else:
                    relax(i, j2, c0 + INS * _TIE + 1, (i, j, AlignedWord("I", None, h)))
    out = []
    i, j = nr - 1, nh - 1
    while (i, j) != (0, 0):
        pi, pj, item = back[i][j]
        if item is not None:
            out.append(item)
        i, j = pi, pj
    out.reverse()
    return tuple(out)
