"""distinct-n and the repetition rate, on sequences whose answers can be counted by hand."""

from __future__ import annotations

import pytest

from lmkit.decoding.diversity import distinct_n, ngrams, repetition_rate
from lmkit.errors import InputError


def test_ngrams_and_distinct_n_count_by_hand():
    assert ngrams([1, 2, 3], 2) == [(1, 2), (2, 3)]
    assert ngrams([1], 2) == []
    # bigrams (1,2) (2,1) (1,2) | (1,2): 2 distinct of 4
    assert distinct_n([[1, 2, 1, 2], [1, 2]], 2) == 0.5
    assert distinct_n([[1, 2, 3]], 1) == 1.0
    assert distinct_n([[1]], 2) == 0.0


def test_repetition_rate_looks_inside_each_sample_only():
    # a loop: trigrams (1,2,3) (2,3,1) (3,1,2) (1,2,3) -> 1 repeat of 4
    assert repetition_rate([[1, 2, 3, 1, 2, 3]], 3) == 0.25
    # the same trigram in two different samples is not a repetition
    assert repetition_rate([[1, 2, 3], [1, 2, 3]], 3) == 0.0
    assert repetition_rate([[7, 7, 7, 7]], 1) == 0.75
    assert repetition_rate([], 3) == 0.0


@pytest.mark.parametrize("bad", ["abc", [["a", "b"]], ["text"], [[1.5, 2]], 5])
def test_bad_samples_are_explained(bad):
    with pytest.raises(InputError, match="token"):
        distinct_n(bad)


def test_bad_n_is_explained():
    with pytest.raises(InputError):
        distinct_n([[1, 2]], 0)
