"""Chapter 1 exercises: right answers pass, typical wrong answers get the feedback designed for them."""

from __future__ import annotations

import itertools
import math

import torch

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


def test_add_k_smoothing_feedback():
    good = lambda c, k: (c + k) / (c.sum() + k * len(c))  # noqa: E731
    assert check("ch01.add_k_smoothing", good, seed=0, quiet=True)
    once = lambda c, k: (c + k) / (c.sum() + k)  # noqa: E731
    assert "k * V" in check("ch01.add_k_smoothing", once, seed=0, quiet=True).message
    no_total = lambda c, k: (c + k) / c.sum()  # noqa: E731
    assert "not to the total" in check("ch01.add_k_smoothing", no_total, seed=0, quiet=True).message
    to_probs = lambda c, k: c / c.sum() + k  # noqa: E731
    assert (
        "added k to the probabilities"
        in check("ch01.add_k_smoothing", to_probs, seed=0, quiet=True).message
    )


def test_perplexity_feedback():
    assert check("ch01.perplexity", lambda lp: torch.exp(-lp.mean()), seed=0, quiet=True)
    cases = {
        "minus sign is missing": lambda lp: torch.exp(lp.mean()),
        "cross-entropy": lambda lp: -lp.mean(),
        "divide by N": lambda lp: torch.exp(-lp.sum()),
        "natural logs": lambda lp: 2 ** (-lp.mean()),
    }
    for expected_text, wrong in cases.items():
        result = check("ch01.perplexity", wrong, seed=0, quiet=True)
        assert not result and expected_text in result.message, expected_text


def test_bayes_posterior_feedback():
    unnormalised = check("ch01.bayes_posterior", lambda p, lik: p * lik, seed=0, quiet=True)
    assert "evidence P(E)" in unnormalised.message
    no_prior = check("ch01.bayes_posterior", lambda p, lik: lik / lik.sum(), seed=0, quiet=True)
    assert "forgot to multiply by the prior" in no_prior.message
    divided = check(
        "ch01.bayes_posterior", lambda p, lik: (p / lik) / (p / lik).sum(), seed=0, quiet=True
    )
    assert "divided by the likelihood" in divided.message


def test_stubs_fail_gently():
    for exercise_id, stub in [
        ("ch01.sentence_probability", lambda c, ids: None),
        ("ch01.add_k_smoothing", lambda c, k: None),
        ("ch01.perplexity", lambda lp: None),
        ("ch01.bayes_posterior", lambda p, lik: None),
    ]:
        result = check(exercise_id, stub, seed=0, quiet=True)
        assert not result and "forget a `return`" in result.message
