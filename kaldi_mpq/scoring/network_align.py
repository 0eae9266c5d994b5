"""Word alignment as sclite does it: a dynamic programme over the arcs of two word networks.

A segment is a list of tokens: words, optionally deletable words ``(UH)`` and
:class:`~kaldi_mpq.scoring.glm.Alternation` groups ``{ THAT / IT / @ }`` (``@``: nothing), on the
reference side and (CTM ``<ALT_BEGIN>`` groups, or a GLM's output) on the hypothesis side. Each side
becomes a network whose arcs carry one word each; an alternative is a parallel path, ``@`` an arc of its own.

The programme follows sclite's (``net_dp.c``): one cell per pair of arcs, the null head arc of each
network first; a cell takes the cheapest predecessor cell for each move (the first one found on
equal cost), and then prefers **substitution/match when it costs no more than both deletion and
insertion, else deletion when strictly cheaper than insertion, else insertion**. That cell-wise rule
is what makes ``A B C`` against ``C X Y`` three substitutions in sclite, not two deletions, a match and
two insertions (equal cost 12). Costs are sclite's ``wwd_WORD``: match 0, substitution 4, insertion
or deletion 3, an optionally deletable word deleted 2 (counted correct), ``@`` inserted or deleted
0.001, ``@`` for ``@`` 1; they are kept in integer thousandths so that sums are exact.

Words compare case-insensitively unless asked otherwise, on the part before a ``;`` (sclite reads
``WORD;tag`` as the word and a tag); with ``fragments`` (sclite ``-F``) a reference fragment ``TH-`` /
``-AT`` is correct against a hypothesis word that starts / ends with its letters.
"""

from __future__ import annotations

from typing import Sequence, Union

from kaldi_mpq.scoring.glm import Alternation
from kaldi_mpq.scoring.sclite_io import AlignedWord

Token = Union[str, Alternation]

# sclite's wwd_WORD costs, in thousandths
COST_SUB, COST_INS_DEL, COST_OPT_DEL, COST_NULL, COST_NULL_NULL = 4000, 3000, 2000, 1, 1000
NULL_WORD = "@"


class _Network:
    """The arcs of one side in topological order; arc 0 is the null head arc.

    Attributes:
        tokens: the token text per arc (None for the head arc), as shown in alignments.
        keys: the text compared (tag stripped, case folded, parentheses removed).
        optional: per arc, an optionally deletable word.
        preds: per arc, the arcs into its start node.
        ends: the arcs into the network's end node.
    """

    __slots__ = ("tokens", "keys", "optional", "preds", "ends")

    def __init__(self, tokens: Sequence[Token], fold, opt_del: bool):
        self.tokens: list = [None]
        self.keys: list = [None]
        self.optional: list[bool] = [False]
        self.preds: list[tuple[int, ...]] = [()]
        ins: tuple[int, ...] = (0,)  # arcs into the current node

        def add(word: str, preds: tuple[int, ...]) -> int:
            key, opt = word_key(word, fold)
            self.tokens.append(word)
            self.keys.append(key)
            self.optional.append(opt and opt_del)
            self.preds.append(preds)
            return len(self.tokens) - 1

        for t in tokens:
            if isinstance(t, Alternation):
                join: list[int] = []
                for opt in t.options:
                    cur = ins
                    for w in (opt or (NULL_WORD,)):
                        cur = (add(w, cur),)
                    join.extend(cur)
                ins = tuple(join)
            else:
                ins = (add(t, ins),)
        self.ends = ins


def word_key(word: str, fold) -> tuple[str, bool]:
    """(the text sclite compares, whether it is optionally deletable) of one token."""
    w = word.split(";", 1)[0] if ";" in word else word
    opt = len(w) > 2 and w[0] == "(" and w[-1] == ")"
    if opt:
        w = w[1:-1]
    return fold(w), opt


def _same(ref: str, hyp: str, fragments: bool) -> bool:
    if ref == hyp:
        return True
    if fragments and len(ref) > 1:
        if ref[-1] == "-":
            return hyp.startswith(ref[:-1])
        if ref[0] == "-":
            return hyp.endswith(ref[1:])
    return False


def _cost(ref: str | None, ref_opt: bool, hyp: str | None, hyp_opt: bool, fragments: bool) -> int:
    """sclite's ``wwd_WORD`` between a reference and a hypothesis arc (None: no word)."""
    if hyp is None:
        return COST_NULL if ref == NULL_WORD else COST_OPT_DEL if ref_opt else COST_INS_DEL
    if ref is None:
        return COST_NULL if hyp == NULL_WORD else COST_OPT_DEL if hyp_opt else COST_INS_DEL
    if ref == NULL_WORD and hyp == NULL_WORD:
        return COST_NULL_NULL
    return 0 if _same(ref, hyp, fragments) else COST_SUB


def _cheapest(cells, row_or_col) -> tuple[int, int]:
    """(cost, index) of the cheapest of ``cells[i]`` over ``row_or_col``; the first one on ties."""
    best, arg = None, -1
    for i in row_or_col:
        c = cells[i]
        if best is None or c < best:
            best, arg = c, i
    return best, arg


def align_tokens(ref: Sequence[Token], hyp: Sequence[Token], case_sensitive: bool = False,
                 opt_del: bool = True, fragments: bool = True) -> tuple[AlignedWord, ...]:
    """sclite's alignment of two token lists, as ``AlignedWord`` items in order.

    A deleted optionally deletable reference word is ``C`` with no hypothesis word; ``@`` arcs taken
    are left out, as sclite leaves them out of its counts.
    """
    fold = (lambda w: w) if case_sensitive else str.upper
    A, B = _Network(ref, fold, opt_del), _Network(hyp, fold, False)
    na, nb = len(A.keys), len(B.keys)
    ka, kb, oa, ob = A.keys, B.keys, A.optional, B.optional
    cost = [[0] * nb for _ in range(na)]
    back = [[(-1, -1)] * nb for _ in range(na)]
    row0 = cost[0]
    for b in range(1, nb):
        c, pb = _cheapest(row0, B.preds[b])
        row0[b] = c + _cost(None, False, kb[b], ob[b], fragments)
        back[0][b] = (0, pb)
    for a in range(1, na):
        c, pa = None, -1
        for p in A.preds[a]:
            if c is None or cost[p][0] < c:
                c, pa = cost[p][0], p
        cost[a][0] = c + _cost(ka[a], oa[a], None, False, fragments)
        back[a][0] = (pa, 0)
    for a in range(1, na):
        row, brow = cost[a], back[a]
        preds_a = A.preds[a]
        del_cost = _cost(ka[a], oa[a], None, False, fragments)
        for b in range(1, nb):
            preds_b = B.preds[b]
            ins, ib = _cheapest(row, preds_b)
            dele, da = None, -1
            for p in preds_a:
                c = cost[p][b]
                if dele is None or c < dele:
                    dele, da = c, p
            sub, sa, sb = None, -1, -1
            for p in preds_a:
                prow = cost[p]
                for q in preds_b:
                    c = prow[q]
                    if sub is None or c < sub:
                        sub, sa, sb = c, p, q
            sub += _cost(ka[a], oa[a], kb[b], ob[b], fragments)
            dele += del_cost
            ins += _cost(None, False, kb[b], ob[b], fragments)
            if sub <= dele and sub <= ins:
                row[b], brow[b] = sub, (sa, sb)
            elif dele < ins:
                row[b], brow[b] = dele, (da, b)
            else:
                row[b], brow[b] = ins, (a, ib)
    best, end = None, (0, 0)
    for a in A.ends:
        for b in B.ends:
            if best is None or cost[a][b] < best:
                best, end = cost[a][b], (a, b)
    return _trace(A, B, back, end, fragments)


def _trace(A: _Network, B: _Network, back, end: tuple[int, int], fragments: bool) -> tuple[AlignedWord, ...]:
    out = []
    a, b = end
    while a > 0 or b > 0:
        pa, pb = back[a][b]
        if pa == a:  # insertion
            if B.keys[b] != NULL_WORD:
                out.append(AlignedWord("C" if B.optional[b] else "I", None, B.tokens[b]))
        elif pb == b:  # deletion
            if A.keys[a] != NULL_WORD:
                out.append(AlignedWord("C" if A.optional[a] else "D", A.tokens[a], None))
        elif not (A.keys[a] == NULL_WORD and B.keys[b] == NULL_WORD):
            ok = _same(A.keys[a], B.keys[b], fragments)
            out.append(AlignedWord("C" if ok else "S", A.tokens[a], B.tokens[b]))
        a, b = pa, pb
    out.reverse()
    return tuple(out)
