"""Chapter 2 exercises: UTF-8 bytes, Unicode normalisation, pair counts and one BPE merge.

Introduced in chapter 2. The cases mix ASCII, Chinese, emoji and full-width punctuation, so
answers that only work for English text are caught, and ``diagnose`` names the usual slip.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections import Counter
from typing import Any

import torch

from lmkit.exercises.core import Case, Exercise, register

# Characters the random cases draw from: 1-, 2-, 3- and 4-byte UTF-8 characters.
_ALPHABET = "abc xyz.!" + "éñü" + "我喜欢吃苹果。，" + "🍎😀"


def _random_text(gen: torch.Generator, alphabet: str, low: int = 1, high: int = 12) -> str:
    length = int(torch.randint(low, high, (1,), generator=gen))
    picks = torch.randint(0, len(alphabet), (length,), generator=gen).tolist()
    return "".join(alphabet[i] for i in picks)


# ----------------------------------------------------------------- 1. UTF-8 byte count
def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _utf8_cases(gen: torch.Generator) -> list[Case]:
    cases = [
        Case(("hello",), "'hello' (ASCII only)"),
        Case(("我喜欢吃苹果。",), "'我喜欢吃苹果。'"),
        Case(("🍎",), "'🍎' (one emoji)"),
    ]
    for _ in range(2):
        text = _random_text(gen, _ALPHABET)
        cases.append(Case((text,), f"random text {text!r}"))
    return cases


def _utf8_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    (text,) = args
    if got == len(text):
        return (
            "you counted characters (code points), not bytes. Characters outside ASCII take "
            "2-4 bytes in UTF-8: use len(text.encode('utf-8'))."
        )
    if got == len(text.encode("utf-16-le")):
        return "you counted UTF-16 bytes; encode with 'utf-8'."
    return None


register(
    Exercise(
        id="ch02.utf8_bytes",
        title="number of UTF-8 bytes in a string",
        kind="function",
        reference=_utf8_len,
        make_cases=_utf8_cases,
        hints=("str.encode turns text into bytes; len of a bytes object counts bytes.",),
        diagnose=_utf8_diagnose,
    )
)


# ----------------------------------------------------------------- 2. NFKC normalisation
def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


_WIDE = "ＡＢＣａｂｃ１２３，。！？（）：；　" + "我喜欢苹果" + "abc,.!?" + "ﬁ①"


def _normalize_cases(gen: torch.Generator) -> list[Case]:
    cases = [
        Case(("ＣａｆéＧＰＴ！",), "full-width letters with an accent"),
        Case(("我喜欢吃苹果！（真的）",), "full-width ！（）"),
        Case(("ＧＰＴ－２　ｍｏｄｅｌ",), "full-width Latin letters, digits and space"),
        Case(("cafe\u0301",), "'e' followed by a combining accent"),
    ]
    cases.append(Case((_random_text(gen, _WIDE, 3, 15),), "random mix of full- and half-width"))
    return cases


def _normalize_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    (text,) = args
    if got == text or got == unicodedata.normalize("NFC", text):
        return (
            "full-width characters are still there. NFC (and doing nothing) keeps forms like "
            "！ and Ａ; use the form 'NFKC', which also folds these 'compatibility' characters "
            "to ! and A."
        )
    if got == unicodedata.normalize("NFKD", text):
        return (
            "that is NFKD: it leaves accents decomposed (e + ◌́); use NFKC, which recomposes them."
        )
    if isinstance(got, str) and got == expected.lower():
        return "you lowercased the text; normalisation should not change letter case."
    return None


register(
    Exercise(
        id="ch02.nfkc",
        title="Unicode NFKC normalisation (full-width to half-width)",
        kind="function",
        reference=_normalize,
        make_cases=_normalize_cases,
        hints=("The standard library's unicodedata.normalize takes the form name first.",),
        diagnose=_normalize_diagnose,
    )
)


# ----------------------------------------------------------------- 3. pair counts
def _pair_counts(ids: list[int]) -> dict[tuple[int, int], int]:
    return dict(Counter(itertools.pairwise(ids)))


def _pair_cases(gen: torch.Generator) -> list[Case]:
    cases = [
        Case(([1, 2, 3, 1, 2],), "[1, 2, 3, 1, 2]"),
        Case(([7, 7, 7, 7],), "[7, 7, 7, 7] (overlapping pairs)"),
        Case(([5],), "a single id (no pairs)"),
    ]
    for _ in range(2):
        n = int(torch.randint(4, 15, (1,), generator=gen))
        ids = torch.randint(0, 4, (n,), generator=gen).tolist()
        cases.append(Case((ids,), f"random ids {ids}"))
    return cases


def _pair_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    (ids,) = args
    if got == dict(Counter(zip(ids[::2], ids[1::2], strict=False))):
        return (
            "you counted pairs in steps of two, which misses every other pair; pairs overlap: "
            "[7, 7, 7] has the pair (7, 7) twice. Use zip(ids, ids[1:])."
        )
    if isinstance(got, dict) and set(got) == set(expected) and all(v == 1 for v in got.values()):
        return "every count is 1: count how often each pair occurs, not just which pairs occur."
    return None


register(
    Exercise(
        id="ch02.pair_counts",
        title="count adjacent pairs of ids",
        kind="function",
        reference=_pair_counts,
        make_cases=_pair_cases,
        hints=("Return a dict {(a, b): count}; zip(ids, ids[1:]) walks over neighbours.",),
        diagnose=_pair_diagnose,
    )
)


# ----------------------------------------------------------------- 4. one BPE merge
def _merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _merge_cases(gen: torch.Generator) -> list[Case]:
    cases = [
        Case(([1, 2, 3, 1, 2], (1, 2), 256), "[1, 2, 3, 1, 2], merge (1, 2) -> 256"),
        Case(([7, 7, 7], (7, 7), 300), "[7, 7, 7], merge (7, 7) -> 300 (overlap)"),
        Case(([4, 1, 2], (1, 2), 256), "the pair at the very end"),
        Case(([3, 4], (9, 9), 256), "a pair that does not occur"),
    ]
    n = int(torch.randint(6, 16, (1,), generator=gen))
    ids = torch.randint(0, 3, (n,), generator=gen).tolist()
    pair = (ids[0], ids[1])
    cases.append(Case((ids, pair, 256), f"random ids {ids}, merge {pair} -> 256"))
    return cases


def _merge_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    ids, pair, new_id = args
    if got == ids:
        return "nothing was merged; compare each (ids[i], ids[i + 1]) with the pair."
    missed_end = _merge(ids[:-1], pair, new_id) + ids[-1:] if len(ids) > 1 else ids
    if got == missed_end and got != expected:
        return "the last pair was never checked: an off-by-one in the loop bound."
    if isinstance(got, list) and len(got) == len(ids):
        return (
            "the result has as many ids as the input: after replacing ids[i] with new_id, "
            "drop ids[i + 1] and skip past it (i += 2)."
        )
    if isinstance(got, list) and len(got) < len(expected):
        return (
            "too many ids were merged: occurrences overlap (7, 7, 7 holds (7, 7) twice) but "
            "one id can be merged only once; scan left to right and skip past each merge."
        )
    return None


register(
    Exercise(
        id="ch02.merge_pair",
        title="apply one BPE merge to a list of ids",
        kind="function",
        reference=_merge,
        make_cases=_merge_cases,
        hints=("Walk left to right with an index; on a match append new_id and jump by 2.",),
        diagnose=_merge_diagnose,
    )
)
