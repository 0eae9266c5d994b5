import random

from hypothesis import given, settings, strategies as st

from kaldi_mpq.scoring.edit_distance import align, error_counts


def kaldi_counts(ref, hyp):
    """Transcription of compute-wer's recursion (util/edit-distance-inl.h), cell = (cost, ins, del, sub)."""
    e = [(i, 0, i, 0) for i in range(len(ref) + 1)]
    for h in range(1, len(hyp) + 1):
        cur = [(e[0][0] + 1, e[0][1] + 1, e[0][2], e[0][3])]
        for r in range(1, len(ref) + 1):
            mis = int(hyp[h - 1] != ref[r - 1])
            ins, dele, sub = e[r][0] + 1, cur[r - 1][0] + 1, e[r - 1][0] + mis
            if sub < ins and sub < dele:
                c = e[r - 1]
                cur.append((sub, c[1], c[2], c[3] + mis))
            elif dele < ins:
                c = cur[r - 1]
                cur.append((dele, c[1], c[2] + 1, c[3]))
            else:
                c = e[r]
                cur.append((ins, c[1] + 1, c[2], c[3]))
        e = cur
    return e[-1][1:]


words = st.lists(st.sampled_from("abc"), max_size=14)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(words, words), min_size=1, max_size=8))
def test_counts_match_kaldi_recursion(pairs):
    out = error_counts([r for r, _ in pairs], [h for _, h in pairs])
    for (r, h), row in zip(pairs, out):
        assert tuple(row) == kaldi_counts(r, h)


def test_counts_edge_cases():
    out = error_counts([[], ["a"], ["a", "b"], []], [["x", "y"], [], ["a", "b"], []])
    assert out.tolist() == [[2, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]]


def test_align_prefers_sub_then_del():
    # align-text: ties go to substitution/match, then deletion, then insertion
    assert align(list("aab"), list("ab"), "*") == [("a", "*"), ("a", "a"), ("b", "b")]
    assert align(list("ab"), list("xab"), "*") == [("*", "x"), ("a", "a"), ("b", "b")]
    assert align([], ["x"], "*") == [("*", "x")]


@settings(max_examples=200, deadline=None)
@given(words, words)
def test_align_is_minimal_and_complete(r, h):
    pairs = align(r, h, "*")
    assert [x for x, _ in pairs if x != "*"] == r
    assert [y for _, y in pairs if y != "*"] == h
    ins, dele, sub = error_counts([r], [h])[0]
    assert sum(x != y for x, y in pairs) == ins + dele + sub
