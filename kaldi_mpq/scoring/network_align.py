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

import kaldialign
import numpy as np

from kaldi_mpq.scoring.glm import Alternation
from kaldi_mpq.scoring.sclite_io import AlignedWord

Token = Union[str, Alternation]

# sclite's wwd_WORD costs, in thousandths
COST_SUB, COST_INS_DEL, COST_OPT_DEL, COST_NULL, COST_NULL_NULL = 4000, 3000, 2000, 1, 1000
NULL_WORD = "@"
_INF = 1 << 60


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
    if ";" not in word and word[:1] != "(":
        return fold(word), False
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
    if not any(isinstance(t, Alternation) for t in ref) and not any(isinstance(t, Alternation) for t in hyp):
        return _align_chains(ref, hyp, fold, opt_del, fragments)
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


def _align_chains(ref: Sequence[str], hyp: Sequence[str], fold, opt_del: bool,
                  fragments: bool) -> tuple[AlignedWord, ...]:
    """:func:`align_tokens` for two plain word sequences (most segments): the same programme with
    one predecessor per arc, as a Levenshtein table.

    Only a diagonal band of the table is filled when every step costs at least 3 (no ``@``, no
    optionally deletable word): a cell more than ``K`` net insertions/deletions away from both
    corners, ``K`` = the optimal cost / 3 (kaldialign's C++ gives the optimal cost), is on no optimal
    path, and a cell on no optimal path never decides a move of the path sclite traces back.
    """
    rk = [word_key(w, fold) for w in ref]
    hk = [word_key(w, fold)[0] for w in hyp]
    M, N = len(rk), len(hk)
    ins_cost = [_cost(None, False, h, False, fragments) for h in hk]
    prev = [0]
    for c in ins_cost:
        prev.append(prev[-1] + c)
    x_lo, x_hi = -N, M  # allowed a - b
    if M and N and NULL_WORD not in hk and not any(k == NULL_WORD or (o and opt_del) for k, o in rk):
        e = kaldialign.edit_distance([k for k, _ in rk], hk, sclite_mode=True)
        K = (COST_INS_DEL * (e["ins"] + e["del"]) + COST_SUB * e["sub"]) // COST_INS_DEL
        x_lo, x_hi = -((K - (M - N)) // 2), (K + (M - N)) // 2
    moves = np.zeros((M, N + 1), dtype=np.int8)  # move into each cell: 0 sub/match, 1 deletion, 2 insertion
    for a, (key, opt) in enumerate(rk, 1):
        opt = opt and opt_del
        d = _cost(key, opt, None, False, fragments)
        special = key == NULL_WORD or (fragments and len(key) > 1 and (key[0] == "-" or key[-1] == "-"))
        lo, hi = max(0, a - x_hi), min(N, a - x_lo)
        row = [_INF] * (N + 1)
        move = moves[a - 1]
        if lo == 0:
            row[0], move[0] = prev[0] + d, 1
            lo = 1
        r = row[lo - 1]
        for b in range(lo, hi + 1):
            h = hk[b - 1]
            sub = prev[b - 1] + (_cost(key, opt, h, False, fragments) if special else 0 if h == key else COST_SUB)
            dele = prev[b] + d
            ins = r + ins_cost[b - 1]
            if sub <= dele and sub <= ins:
                r = sub
            elif dele < ins:
                r = dele
                move[b] = 1
            else:
                r = ins
                move[b] = 2
            row[b] = r
        prev = row
    return _chain_trace(_back_trace(moves, M, N), ref, hyp, rk, hk, opt_del, fragments)


def _chain_trace(path, ref, hyp, rk, hk, opt_del: bool, fragments: bool) -> tuple[AlignedWord, ...]:
    """The alignment of a chain table's back-trace ``path`` (moves from the last cell: 0 sub/match,
    1 deletion, 2 insertion; anything else ends it)."""
    out = []
    a, b = len(rk), len(hk)
    for m in path:
        if m == 2:
            b -= 1
            if hk[b] != NULL_WORD:
                out.append(AlignedWord("I", None, hyp[b]))
        elif m == 1:
            a -= 1
            if rk[a][0] != NULL_WORD:
                out.append(AlignedWord("C" if rk[a][1] and opt_del else "D", ref[a], None))
        elif m == 0:
            a -= 1
            b -= 1
            if not (rk[a][0] == NULL_WORD and hk[b] == NULL_WORD):
                out.append(AlignedWord("C" if _same(rk[a][0], hk[b], fragments) else "S", ref[a], hyp[b]))
        else:
            break
    out.reverse()
    return tuple(out)


def _back_trace(moves: np.ndarray, M: int, N: int) -> list[int]:
    path = []
    a, b = M, N
    while a > 0 or b > 0:
        m = 2 if a == 0 else int(moves[a - 1, b])
        path.append(m)
        a -= m != 2
        b -= m != 1
    return path


def align_many(pairs: Sequence[tuple[Sequence[Token], Sequence[Token]]], case_sensitive: bool = False,
               opt_del: bool = True, fragments: bool = True, group_size: int = 64) -> list[tuple[AlignedWord, ...]]:
    """:func:`align_tokens` over many segments at once, same results.

    Plain segments (words only, every step costing 3 or 4) are aligned in groups of similar size with
    numpy, one table row of the whole group per step: within a row the insertion chain is a running
    minimum, ``row[b] = C[b] + min_{j<=b}(cand[j] - C[j])`` with ``cand`` the better of substitution
    and deletion and ``C`` the cumulative insertion cost; each cell's move is then read off with
    sclite's preference order. Other segments go through :func:`align_tokens`.
    """
    fold = (lambda w: w) if case_sensitive else str.upper
    out: list = [None] * len(pairs)
    plain = []
    for i, (ref, hyp) in enumerate(pairs):
        if any(isinstance(t, Alternation) for t in ref) or any(isinstance(t, Alternation) for t in hyp):
            out[i] = align_tokens(ref, hyp, case_sensitive, opt_del, fragments)
            continue
        rk = [word_key(w, fold) for w in ref]
        hk = [word_key(w, fold)[0] for w in hyp]
        if (NULL_WORD in hk or any(k == NULL_WORD or (o and opt_del) or (fragments and len(k) > 1 and (k[0] == "-" or k[-1] == "-"))
                                   for k, o in rk)):
            out[i] = _align_chains(ref, hyp, fold, opt_del, fragments)
            continue
        plain.append((i, rk, hk))
    plain.sort(key=lambda x: (len(x[1]), len(x[2])))
    vocab: dict[str, int] = {}
    for g in range(0, len(plain), group_size):
        group = plain[g:g + group_size]
        for (i, rk, hk), path in zip(group, _group_paths(group, vocab)):
            ref, hyp = pairs[i]
            out[i] = _chain_trace(path, ref, hyp, rk, hk, opt_del, fragments)
    return out


def _group_paths(group, vocab: dict[str, int]) -> list[list[int]]:
    """Per segment of ``group`` ((index, ref keys, hyp keys)), the back-trace of its table (moves from
    the last cell, padded with 3), all segments traced together."""
    G = len(group)
    M = max(len(rk) for _, rk, _ in group)
    N = max(len(hk) for _, _, hk in group)
    if M == 0:
        return [[2] * len(hk) for _, _, hk in group]
    ref_ids = np.full((G, M), -1, dtype=np.int64)
    hyp_ids = np.full((G, N), -2, dtype=np.int64)
    for s, (_, rk, hk) in enumerate(group):
        ref_ids[s, :len(rk)] = [vocab.setdefault(k, len(vocab)) for k, _ in rk]
        hyp_ids[s, :len(hk)] = [vocab.setdefault(k, len(vocab)) for k in hk]
    big = np.int64(_INF)
    cum = np.arange(N + 1, dtype=np.int64) * COST_INS_DEL
    prev = np.broadcast_to(cum, (G, N + 1)).copy()
    moves = np.zeros((M, G, N + 1), dtype=np.int8)
    sub = np.full((G, N + 1), big, dtype=np.int64)
    ins = np.full((G, N + 1), big, dtype=np.int64)
    for a in range(M):
        sub[:, 1:] = prev[:, :-1] + np.where(hyp_ids == ref_ids[:, a:a + 1], 0, COST_SUB)
        dele = prev + COST_INS_DEL
        row = cum + np.minimum.accumulate(np.minimum(sub, dele) - cum, axis=1)
        ins[:, 1:] = row[:, :-1] + COST_INS_DEL
        take_sub = (sub <= dele) & (sub <= ins)
        moves[a] = np.where(take_sub, 0, np.where(dele < ins, 1, 2))
        prev = row
    a = np.array([len(rk) for _, rk, _ in group], dtype=np.int64)
    b = np.array([len(hk) for _, _, hk in group], dtype=np.int64)
    cols = np.arange(G)
    steps = []
    while True:
        active = (a > 0) | (b > 0)
        if not active.any():
            break
        m = np.where(a == 0, 2, moves[np.maximum(a - 1, 0), cols, b]).astype(np.int8)
        m[~active] = 3
        steps.append(m)
        a -= (m == 0) | (m == 1)
        b -= (m == 0) | (m == 2)
    return np.stack(steps, axis=1).tolist() if steps else [[] for _ in range(G)]


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
