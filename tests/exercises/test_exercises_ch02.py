"""Chapter 2 exercises: right answers pass, typical wrong answers get the feedback designed for them."""

from __future__ import annotations

import itertools
import warnings
from collections import Counter

from exercise_asserts import fails_with

from lmkit.exercises import check
from lmkit.tokenizers import ByteBPETokenizer


def test_pair_counts_feedback():
    assert check(
        "ch02.pair_counts", lambda ids: Counter(itertools.pairwise(ids)), seed=0, quiet=True
    )
    steps = check(
        "ch02.pair_counts",
        lambda ids: dict(Counter(zip(ids[::2], ids[1::2], strict=False))),
        seed=0,
        quiet=True,
    )
    assert "steps of two" in steps.message
    ones = check(
        "ch02.pair_counts", lambda ids: {p: 1 for p in itertools.pairwise(ids)}, seed=0, quiet=True
    )
    assert "every count is 1" in ones.message
    as_list = check(
        "ch02.pair_counts", lambda ids: list(itertools.pairwise(ids)), seed=0, quiet=True
    )
    assert not as_list


def _merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def test_merge_pair_feedback():
    assert check("ch02.merge_pair", _merge, seed=0, quiet=True)
    unchanged = check("ch02.merge_pair", lambda ids, pair, new: list(ids), seed=0, quiet=True)
    assert "nothing was merged" in unchanged.message

    def no_skip(ids, pair, new):  # replaces the left id but keeps the right one
        return [new if tuple(ids[i : i + 2]) == tuple(pair) else ids[i] for i in range(len(ids))]

    assert "drop ids[i + 1]" in check("ch02.merge_pair", no_skip, seed=0, quiet=True).message

    def misses_end(ids, pair, new):
        out, i = [], 0
        while i < len(ids) - 1:  # off by one: the last pair is never looked at
            if i + 1 < len(ids) - 1 and (ids[i], ids[i + 1]) == tuple(pair):
                out.append(new)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        return out + ids[i:]

    assert (
        "last pair was never checked"
        in check("ch02.merge_pair", misses_end, seed=0, quiet=True).message
    )

    def overlapping(ids, pair, new):  # merges (7,7,7) into two new ids, reusing the middle 7
        out = []
        for i in range(len(ids) - 1):
            if (ids[i], ids[i + 1]) == tuple(pair):
                out.append(new)
        return out or list(ids)

    assert not check("ch02.merge_pair", overlapping, seed=0, quiet=True)


def _lmkit_train(text, n_merges):
    with warnings.catch_warnings():  # a short text runs out of pairs; lmkit says so
        warnings.simplefilter("ignore")
        return [
            pair for pair, _ in ByteBPETokenizer.train(text, 256 + n_merges, pattern=None).merges
        ]


def _train(text, n_merges, tie=lambda p: (-p[0], -p[1]), start=None, apply=True):
    ids = start(text) if start else list(text.encode("utf-8"))
    merges = []
    for rank in range(n_merges):
        pairs = Counter(itertools.pairwise(ids))
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], *tie(p)))
        merges.append(best)
        if apply:
            ids = _merge(ids, best, 256 + rank)
    return merges


def test_train_bpe_accepts_lmkit_and_names_slips():
    assert check("ch02.train_bpe", _lmkit_train, seed=0, quiet=True)
    assert check("ch02.train_bpe", _train, seed=1, quiet=True)
    chars = lambda t, n: _train(t, n, start=lambda s: [ord(c) for c in s])  # noqa: E731
    fails_with("ch02.train_bpe", chars, "UTF-8 bytes")
    fails_with("ch02.train_bpe", lambda t, n: _train(t, n, tie=lambda p: p), "smallest ids")
    fails_with("ch02.train_bpe", lambda t, n: _train(t, n, apply=False), "never applied")


def test_bpe_encode_accepts_lmkit_and_names_slips():
    lmkit_encode = lambda t, merges: ByteBPETokenizer(merges, pattern=None).encode(t)  # noqa: E731
    assert check("ch02.bpe_encode", lmkit_encode, seed=0, quiet=True)
    fails_with("ch02.bpe_encode", lambda t, m: list(t.encode()), "no merge was applied")

    def backwards(text, merges):
        ids = list(text.encode())
        for rank in reversed(range(len(merges))):
            ids = _merge(ids, merges[rank], 256 + rank)
        return ids

    fails_with("ch02.bpe_encode", backwards, "wrong order")

    def from_chars(text, merges):
        ids = [ord(c) for c in text]
        for rank, pair in enumerate(merges):
            ids = _merge(ids, pair, 256 + rank)
        return ids

    fails_with("ch02.bpe_encode", from_chars, "characters")


def _wordpiece(word_counts, score="wordpiece"):
    pairs, units = Counter(), Counter()
    for word, n in word_counts.items():
        for unit in word:
            units[unit] += n
        for pair in itertools.pairwise(word):
            pairs[pair] += n
    if score == "bpe":
        return max(sorted(pairs), key=pairs.__getitem__)
    return max(sorted(pairs), key=lambda p: pairs[p] / (units[p[0]] * units[p[1]]))


def test_wordpiece_merge_feedback():
    assert check("ch02.wordpiece_merge", _wordpiece, seed=0, quiet=True)
    # the classic example: BPE merges u + ##g (seen 20 times), WordPiece ##g + ##s
    hug = {("h", "##u", "##g"): 10, ("p", "##u", "##g"): 5, ("p", "##u", "##n"): 12,
           ("b", "##u", "##n"): 4, ("h", "##u", "##g", "##s"): 5}  # fmt: skip
    assert _wordpiece(hug) == ("##g", "##s") and _wordpiece(hug, "bpe") == ("##u", "##g")
    fails_with("ch02.wordpiece_merge", lambda w: _wordpiece(w, "bpe"), "BPE's choice")


def test_stubs_fail_gently():
    for exercise_id, stub in [
        ("ch02.train_bpe", lambda t, n: None),
        ("ch02.bpe_encode", lambda t, m: None),
        ("ch02.wordpiece_merge", lambda w: None),
        ("ch02.pair_counts", lambda ids: None),
        ("ch02.merge_pair", lambda ids, pair, new: None),
    ]:
        result = check(exercise_id, stub, seed=0, quiet=True)
        assert not result and "forget a `return`" in result.message
