"""Chapter 2 exercises: build a byte-level BPE tokenizer. Count pairs, apply one merge, train
the merges on a text, encode new text with them, and pick a merge by WordPiece's score.

Introduced in chapter 2. The cases mix ASCII, Chinese, emoji and full-width punctuation, so
answers that only work for English text are caught, and ``diagnose`` rebuilds the usual slips
(characters instead of bytes, ties broken the other way, the merge never applied, merges
replayed in the wrong order, BPE's count used instead of WordPiece's score) and names the one
the answer matches.
"""

from __future__ import annotations

import itertools
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


# ----------------------------------------------------------------- 5. train BPE merges
def _best_pair(ids: list[int], prefer_large: bool = False) -> tuple[int, int] | None:
    pairs = Counter(itertools.pairwise(ids))
    if not pairs:
        return None
    sign = 1 if prefer_large else -1
    return max(pairs, key=lambda p: (pairs[p], sign * p[0], sign * p[1]))


def _train_bpe(
    text: str,
    n_merges: int,
    *,
    on_chars: bool = False,
    prefer_large: bool = False,
    apply: bool = True,
) -> list[tuple[int, int]]:
    ids = [ord(c) for c in text] if on_chars else list(text.encode("utf-8"))
    merges = []
    for rank in range(n_merges):
        best = _best_pair(ids, prefer_large)
        if best is None:
            break
        merges.append(best)
        if apply:
            ids = _merge(ids, best, 256 + rank)
    return merges


def _train_cases(gen: torch.Generator) -> list[Case]:
    cases = [
        Case(("我喜欢吃苹果。苹果是一种水果。", 5), "'我喜欢吃苹果。苹果是一种水果。', 5 merges"),
        Case(("aaabdaaabac", 3), "'aaabdaaabac', 3 merges (ties between pairs)"),
        Case(("ab", 4), "'ab', 4 merges (the text runs out of pairs after one)"),
    ]
    for _ in range(2):
        text = _random_text(gen, "ab 我吃果🍎", 12, 30)
        cases.append(Case((text, 6), f"random text {text!r}, 6 merges"))
    return cases


def _train_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    text, n = args
    slips = [
        (
            _train_bpe(text, n, on_chars=True),
            "you started from characters (ord); byte-level BPE starts from the UTF-8 bytes, "
            "list(text.encode('utf-8')), so 我 is three ids.",
        ),
        (
            _train_bpe(text, n, prefer_large=True),
            "ties are broken the other way: among pairs with the same count take the one with "
            "the smallest ids, key=lambda p: (counts[p], -p[0], -p[1]).",
        ),
        (
            _train_bpe(text, n, apply=False),
            "the merge is never applied: after recording a merge, replace the pair in the ids "
            "with 256 + rank before counting again.",
        ),
    ]
    for wrong, explanation in slips:
        if got == wrong:
            return explanation
    return None


register(
    Exercise(
        id="ch02.train_bpe",
        title="train byte-level BPE: the list of merges learned from a text",
        kind="function",
        reference=_train_bpe,
        make_cases=_train_cases,
        hints=(
            "ids = list(text.encode('utf-8')); repeat n_merges times: count pairs, take the most "
            "frequent (ties: smallest ids), record it, merge it into 256 + rank.",
        ),
        diagnose=_train_diagnose,
    )
)


# ----------------------------------------------------------------- 6. encode with learned merges
def _bpe_encode(text: str, merges: list[tuple[int, int]]) -> list[int]:
    ids = list(text.encode("utf-8"))
    for rank, pair in enumerate(merges):
        ids = _merge(ids, tuple(pair), 256 + rank)
    return ids


def _encode_cases(gen: torch.Generator) -> list[Case]:
    merges = _train_bpe("我喜欢吃苹果。苹果是一种水果。我喜欢吃水果。", 10)
    cases = [
        Case(
            ("我喜欢吃水果。", merges),
            "'我喜欢吃水果。' with 10 merges learned from a Chinese text",
        ),
        Case(("我喜欢🍎", merges), "'我喜欢🍎': 🍎 was never seen, its 4 bytes stay"),
        Case(("aaaa", [(97, 97), (256, 256)]), "'aaaa' with merges aa → 256, (256, 256) → 257"),
    ]
    for _ in range(2):
        train = _random_text(gen, "ab 我吃果", 20, 40)
        merges = _train_bpe(train, 6)
        text = _random_text(gen, "ab 我吃果🍎", 5, 15)
        cases.append(Case((text, merges), f"random text {text!r}, 6 merges from {train!r}"))
    return cases


def _encode_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    text, merges = args
    chars = [ord(c) for c in text]
    for rank, pair in enumerate(merges):
        chars = _merge(chars, tuple(pair), 256 + rank)
    backwards = list(text.encode("utf-8"))
    for rank in reversed(range(len(merges))):
        backwards = _merge(backwards, tuple(merges[rank]), 256 + rank)
    slips = [
        (list(text.encode("utf-8")), "no merge was applied: replay every merge, in order."),
        (chars, "you started from characters; start from list(text.encode('utf-8'))."),
        (
            backwards,
            "the merges were replayed in the wrong order: merge rank r builds on merges before "
            "it, so apply them first to last (rank 0 first).",
        ),
    ]
    for wrong, explanation in slips:
        if got == wrong:
            return explanation
    return None


register(
    Exercise(
        id="ch02.bpe_encode",
        title="encode new text with learned BPE merges",
        kind="function",
        reference=_bpe_encode,
        make_cases=_encode_cases,
        hints=(
            "start from the UTF-8 bytes; for rank, pair in enumerate(merges): merge pair → 256 + rank.",
        ),
        diagnose=_encode_diagnose,
    )
)


# ----------------------------------------------------------------- 7. WordPiece's merge score
def _wordpiece_best(word_counts: dict[tuple[str, ...], int]) -> tuple[str, str]:
    pairs: Counter = Counter()
    units: Counter = Counter()
    for word, n in word_counts.items():
        for unit in word:
            units[unit] += n
        for pair in itertools.pairwise(word):
            pairs[pair] += n
    return max(sorted(pairs), key=lambda p: pairs[p] / (units[p[0]] * units[p[1]]))


def _wordpiece_cases(gen: torch.Generator) -> list[Case]:
    def split(word: str) -> tuple[str, ...]:
        return (word[0], *(f"##{c}" for c in word[1:]))

    fixed = {
        split(w): n for w, n in [("hug", 10), ("pug", 5), ("pun", 12), ("bun", 4), ("hugs", 5)]
    }
    cases = [Case((fixed,), "hug×10 pug×5 pun×12 bun×4 hugs×5")]
    for _ in range(4):
        words = {}
        for _ in range(int(torch.randint(3, 7, (1,), generator=gen))):
            word = _random_text(gen, "abcdu", 2, 6)
            words[split(word)] = int(torch.randint(1, 20, (1,), generator=gen))
        label = " ".join(f"{''.join(w).replace('##', '')}×{n}" for w, n in words.items())
        cases.append(Case((words,), f"random words {label}"))
    return cases


def _wordpiece_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    (word_counts,) = args
    pairs: Counter = Counter()
    for word, n in word_counts.items():
        for pair in itertools.pairwise(word):
            pairs[pair] += n
    most_frequent = max(sorted(pairs), key=pairs.__getitem__)
    if isinstance(got, (tuple, list)) and tuple(got) == most_frequent != tuple(expected):
        return (
            "that is BPE's choice, the most frequent pair. WordPiece divides the pair's count by "
            "the counts of its two parts: count(ab) / (count(a) · count(b))."
        )
    return None


register(
    Exercise(
        id="ch02.wordpiece_merge",
        title="the pair WordPiece merges first: count(ab) / (count(a) · count(b))",
        kind="function",
        reference=_wordpiece_best,
        make_cases=_wordpiece_cases,
        hints=(
            "count every unit and every adjacent pair, weighted by the word's count; "
            "ties: the first pair in sorted order.",
        ),
        diagnose=_wordpiece_diagnose,
    )
)
