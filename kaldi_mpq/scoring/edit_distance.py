"""Levenshtein edit distance and alignment with Kaldi's exact tie-breaking.

Two Kaldi routines are reproduced, because they break ties differently and users compare both:

* ``compute-wer`` counts insertions, deletions and substitutions with a forward recursion that keeps the
  counts of one path per cell; a substitution/match is taken only when *strictly* cheaper than both a
  deletion and an insertion, a deletion when strictly cheaper than an insertion, otherwise an insertion.
  :func:`error_counts` gives exactly those counts (total cost = ins + del + sub is the edit distance).
* ``align-text`` (used for ``wer_details/per_utt``) back-traces a full cost matrix preferring
  substitution/match, then deletion, then insertion. :func:`align` gives that alignment.

All costs are 1 (insertion, deletion, substitution), 0 for a match. sclite's weighted alignment is in
:mod:`kaldi_mpq.scoring.nist_align`.
"""

from __future__ import annotations

from typing import Hashable, Sequence

import kaldialign
import numpy as np


def error_counts(
    refs: Sequence[Sequence[Hashable]], hyps: Sequence[Sequence[Hashable]]
) -> np.ndarray:
    """Insertions, deletions and substitutions per utterance, exactly as Kaldi's ``compute-wer``.

    kaldialign's C++ recursion breaks ties as ``compute-wer`` does (sub/match only when strictly
    cheapest, then deletion, then insertion); ``tests/scoring/test_edit_distance.py`` checks this
    against a transcription of the recursion on random inputs.

    Args:
        refs: reference word sequences, ``[utt][word]``.
        hyps: hypothesis word sequences, ``[utt][word]``, same length as ``refs``.

    Returns:
        int64 array ``[utt, 3]``: columns insertions, deletions, substitutions.
    """
    assert len(refs) == len(hyps)
    out = np.zeros((len(refs), 3), dtype=np.int64)
    for i, (r, h) in enumerate(zip(refs, hyps)):
        if not r or not h:
            out[i] = (len(h), len(r), 0)
            continue
        d = kaldialign.edit_distance(r, h)
        out[i] = (d["ins"], d["del"], d["sub"])
    return out


def align(ref: Sequence[str], hyp: Sequence[str], eps: str) -> list[tuple[str, str]]:
    """Word alignment as Kaldi's ``align-text`` (``LevenshteinAlignment``) gives it.

    Args:
        ref: reference words.
        hyp: hypothesis words.
        eps: the symbol standing for "no word" (``***`` in ``score_kaldi.sh``'s per_utt).

    Returns:
        ``[(ref_word | eps, hyp_word | eps)]`` in order: a deletion is ``(w, eps)``, an insertion
        ``(eps, w)``.
    """
    M, N = len(ref), len(hyp)
    e = [list(range(N + 1))]
    for m in range(1, M + 1):
        prev = e[-1]
        row = [prev[0] + 1] * (N + 1)
        a = ref[m - 1]
        for n in range(1, N + 1):
            row[n] = min(prev[n - 1] + (a != hyp[n - 1]), prev[n] + 1, row[n - 1] + 1)
        e.append(row)
    out: list[tuple[str, str]] = []
    m, n = M, N
    while m or n:
        if m == 0:
            lm, ln = m, n - 1
        elif n == 0:
            lm, ln = m - 1, n
        else:
            sub_ok = e[m - 1][n - 1] + (ref[m - 1] != hyp[n - 1])
            dele = e[m - 1][n] + 1
            ins = e[m][n - 1] + 1
            if sub_ok <= min(dele, ins):
                lm, ln = m - 1, n - 1
            elif dele <= ins:
                lm, ln = m - 1, n
            else:
                lm, ln = m, n - 1
        out.append((eps if lm == m else ref[lm], eps if ln == n else hyp[ln]))
        m, n = lm, ln
    out.reverse()
    return out
