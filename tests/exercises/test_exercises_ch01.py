"""Chapter 1 exercises: right answers pass, typical wrong answers get the feedback designed for them."""

from __future__ import annotations

import itertools
import math

import torch
from exercise_asserts import fails_with

from lmkit.exercises import check


def _sentence_prob(counts, ids):
    rows = counts.sum(dim=1)
    return math.prod(float(counts[a, b] / rows[a]) for a, b in itertools.pairwise(ids))


def test_sentence_probability_accepts_float_or_tensor():
    assert check("ch01.sentence_probability", _sentence_prob, seed=0, quiet=True)
    as_tensor = lambda c, ids: torch.tensor(_sentence_prob(c, ids))  # noqa: E731
    assert check("ch01.sentence_probability", as_tensor, seed=1, quiet=True)


def test_sentence_probability_joint_instead_of_conditional():
    def joint(counts, ids):
        return math.prod(float(counts[a, b] / counts.sum()) for a, b in itertools.pairwise(ids))

    result = check("ch01.sentence_probability", joint, seed=0, quiet=True)
    assert not result and "joint probability" in result.message


def test_sentence_probability_column_normalisation_and_log():
    def by_column(counts, ids):
        return math.prod(
            float(counts[a, b] / counts[:, b].sum()) for a, b in itertools.pairwise(ids)
        )

    result = check("ch01.sentence_probability", by_column, seed=0, quiet=True)
    assert not result and "normalised by the column" in result.message
    log = lambda c, ids: math.log(_sentence_prob(c, ids))  # noqa: E731
    assert "log-probability" in check("ch01.sentence_probability", log, seed=0, quiet=True).message


def test_sentence_probability_tiny_values_are_compared_relatively():
    off = lambda c, ids: _sentence_prob(c, ids) * 1.01  # noqa: E731
    assert not check("ch01.sentence_probability", off, seed=2, quiet=True)


def _table(sequences, vocab_size, k):
    counts = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)
    for sequence in sequences:
        for a, b in itertools.pairwise(sequence):
            counts[a, b] += 1
    return (counts + k) / (counts.sum(dim=1, keepdim=True) + k * vocab_size)


def test_bigram_table_accepts_a_right_answer_and_a_hand_computed_case():
    assert check("ch01.bigram_table", _table, seed=0, quiet=True)
    # two sentences over ids {0: <s>, 1: </s>, 2, 3}, k = 1: row <s> saw 2 and 3 once each
    row = _table([[0, 2, 3, 1], [0, 3, 2, 2, 1]], 4, 1.0)[0]
    assert torch.allclose(row, torch.tensor([1 / 6, 1 / 6, 1 / 3, 1 / 3], dtype=torch.float64))


def test_bigram_table_names_the_slips():
    unsmoothed = lambda s, v, k: _table(s, v, 0.0)  # noqa: E731  (unseen rows are 0 / 0)
    assert not check("ch01.bigram_table", unsmoothed, seed=0, quiet=True)

    def counts_of(sequences, v):
        counts = torch.zeros(v, v, dtype=torch.float64)
        for sequence in sequences:
            for a, b in itertools.pairwise(sequence):
                counts[a, b] += 1
        return counts

    fails_with(
        "ch01.bigram_table",
        lambda s, v, k: (counts_of(s, v) + k) / (counts_of(s, v).sum(1, keepdim=True) + k),
        "k * V",
    )
    fails_with(
        "ch01.bigram_table",
        lambda s, v, k: (counts_of(s, v) + k) / (counts_of(s, v).sum(0, keepdim=True) + k * v),
        "column",
    )
    fails_with(
        "ch01.bigram_table",
        lambda s, v, k: (counts_of(s, v) + k) / (counts_of(s, v).sum() + k * v * v),
        "joint",
    )
    fails_with(
        "ch01.bigram_table",
        lambda s, v, k: _table([[t for x in s for t in x]], v, k),
        "one sentence ends",
    )


def _perplexity(probs, sequences):
    logs = [math.log(probs[a, b]) for s in sequences for a, b in itertools.pairwise(s)]
    return math.exp(-sum(logs) / len(logs))


def test_corpus_perplexity_feedback():
    assert check("ch01.corpus_perplexity", _perplexity, seed=0, quiet=True)

    def per_sentence(probs, sequences):
        return sum(_perplexity(probs, [s]) for s in sequences) / len(sequences)

    fails_with("ch01.corpus_perplexity", per_sentence, "averaged the perplexities")

    def by_tokens(probs, sequences):
        logs = [math.log(probs[a, b]) for s in sequences for a, b in itertools.pairwise(s)]
        return math.exp(-sum(logs) / sum(len(s) for s in sequences))

    fails_with("ch01.corpus_perplexity", by_tokens, "number of predictions")
    fails_with("ch01.corpus_perplexity", lambda p, s: 1 / _perplexity(p, s), "minus sign")
    fails_with("ch01.corpus_perplexity", lambda p, s: math.log(_perplexity(p, s)), "cross-entropy")


def test_log_space_posterior_feedback():
    good = lambda ll, prior: torch.softmax(ll + prior.log(), dim=0)  # noqa: E731
    assert check("ch01.log_space_posterior", good, seed=0, quiet=True)

    def naive(ll, prior):  # exponentiates first: fine on short texts, nan on long ones
        joint = ll.exp() * prior
        return joint / joint.sum()

    result = fails_with("ch01.log_space_posterior", naive, "underflows", "log-sum-exp")
    assert result.cases_passed == 1  # it passed the short text and failed the long one
    fails_with("ch01.log_space_posterior", lambda ll, p: torch.softmax(ll, 0), "prior is missing")
    fails_with("ch01.log_space_posterior", lambda ll, p: torch.softmax(ll + p, 0), "its log")
    fails_with(
        "ch01.log_space_posterior", lambda ll, p: torch.log_softmax(ll + p.log(), 0), "log of"
    )


def test_stubs_fail_gently():
    for exercise_id, stub in [
        ("ch01.sentence_probability", lambda c, ids: None),
        ("ch01.bigram_table", lambda s, v, k: None),
        ("ch01.corpus_perplexity", lambda p, s: None),
        ("ch01.log_space_posterior", lambda ll, p: None),
    ]:
        result = check(exercise_id, stub, seed=0, quiet=True)
        assert not result and "forget a `return`" in result.message
