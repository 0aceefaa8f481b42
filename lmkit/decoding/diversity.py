"""How dull or wild generated text is: distinct-n and the repetition rate of token sequences.

Introduced in chapter 10. Both work on token ids (lists of ints), so they measure what the
model chose, whatever the tokenizer:

* :func:`distinct_n` pools the n-grams of several samples and returns the share that are
  different (Li et al. 2016). Many samples that say the same thing score low; varied text
  scores close to 1.
* :func:`repetition_rate` looks inside each sample: the share of its n-grams that already
  occurred earlier in the same sample. A model stuck in a loop ("我喜欢吃苹果。我喜欢吃苹果。…")
  scores close to 1.
"""

from __future__ import annotations

from collections.abc import Sequence

from lmkit.errors import InputError
from lmkit.validators import check_int, is_int


def _check_samples(samples: object) -> list[list[int]]:
    if not isinstance(samples, Sequence) or isinstance(samples, (str, bytes)):
        raise InputError("samples must be a list of token-id lists, e.g. [[5, 9, 2], [5, 7]].")
    rows = []
    for row in samples:
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
            raise InputError("each sample must be a list of int token ids (tokenize text first).")
        if not all(is_int(i) for i in row):
            raise InputError("each sample must contain only int token ids.")
        rows.append(list(row))
    return rows


def ngrams(ids: Sequence[int], n: int) -> list[tuple[int, ...]]:
    """The n-grams of one sequence, in order (an empty list if it is shorter than ``n``)."""
    n = check_int("n", n, minimum=1, error=InputError)
    return [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]


def distinct_n(samples: Sequence[Sequence[int]], n: int = 2) -> float:
    """Distinct n-grams / all n-grams, pooled over ``samples``; 0.0 when there are none.

    Introduced in chapter 10.
    """
    grams = [g for row in _check_samples(samples) for g in ngrams(row, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(samples: Sequence[Sequence[int]], n: int = 3) -> float:
    """Share of n-grams that repeat an n-gram seen earlier *in the same sample*, pooled over
    ``samples``; 0.0 when there are none. Introduced in chapter 10.
    """
    repeats = total = 0
    for row in _check_samples(samples):
        seen: set[tuple[int, ...]] = set()
        for gram in ngrams(row, n):
            repeats += gram in seen
            seen.add(gram)
            total += 1
    return repeats / total if total else 0.0


__all__ = ["distinct_n", "ngrams", "repetition_rate"]
