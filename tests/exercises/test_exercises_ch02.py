"""Chapter 2 exercises: right answers pass, typical wrong answers get the feedback designed for them."""

from __future__ import annotations

import itertools
import unicodedata
from collections import Counter

from lmkit.exercises import check


def test_utf8_bytes_feedback():
    assert check("ch02.utf8_bytes", lambda t: len(t.encode("utf-8")), seed=0, quiet=True)
    chars = check("ch02.utf8_bytes", len, seed=0, quiet=True)
    assert not chars and "counted characters" in chars.message
    utf16 = check("ch02.utf8_bytes", lambda t: len(t.encode("utf-16-le")), seed=0, quiet=True)
    assert "UTF-16" in utf16.message


def test_nfkc_feedback():
    assert check("ch02.nfkc", lambda t: unicodedata.normalize("NFKC", t), seed=0, quiet=True)
    unchanged = check("ch02.nfkc", lambda t: t, seed=0, quiet=True)
    assert "full-width characters are still there" in unchanged.message
    nfkd = check("ch02.nfkc", lambda t: unicodedata.normalize("NFKD", t), seed=0, quiet=True)
    assert "NFKD" in nfkd.message
    lowered = check(
        "ch02.nfkc", lambda t: unicodedata.normalize("NFKC", t).lower(), seed=0, quiet=True
    )
    assert "lowercased" in lowered.message


def test_nfc_is_told_apart_from_nfkc():
    nfc = lambda t: unicodedata.normalize("NFC", t)  # noqa: E731
    result = check("ch02.nfkc", nfc, seed=0, quiet=True)
    assert not result and "NFC" in result.message and "NFKC" in result.message


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


def test_stubs_fail_gently():
    for exercise_id, stub in [
        ("ch02.utf8_bytes", lambda t: None),
        ("ch02.nfkc", lambda t: None),
        ("ch02.pair_counts", lambda ids: None),
        ("ch02.merge_pair", lambda ids, pair, new: None),
    ]:
        result = check(exercise_id, stub, seed=0, quiet=True)
        assert not result and "forget a `return`" in result.message
