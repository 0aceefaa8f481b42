"""Chapter 1 exercises: probabilities of sentences, add-k smoothing, perplexity, Bayes' rule.

Introduced in chapter 1. Each reference is hidden from the reader; ``diagnose`` recognises the
usual slips (joint instead of conditional probability, a missing minus sign, a forgotten prior)
and says so in plain words.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch

from lmkit.exercises.core import Case, Exercise, register


def _close(a: Any, b: Any, rel: float = 1e-4) -> bool:
    try:
        a_t = torch.as_tensor(a, dtype=torch.float64)
        b_t = torch.as_tensor(b, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return False
    return a_t.shape == b_t.shape and bool(torch.allclose(a_t, b_t, rtol=rel, atol=1e-9))


# ----------------------------------------------------------------- 1. P(sentence) from counts
def _sentence_prob(counts: torch.Tensor, ids: list[int]) -> float:
    counts = counts.double()
    rows = counts.sum(dim=1)
    prob = 1.0
    for prev, nxt in itertools.pairwise(ids):
        prob *= float(counts[prev, nxt] / rows[prev])
    return prob


def _sentence_cases(gen: torch.Generator) -> list[Case]:
    cases = [
        Case(
            (torch.tensor([[0.0, 3.0, 1.0], [1.0, 0.0, 3.0], [2.0, 2.0, 0.0]]), [0, 1, 2]),
            "3 tokens, sentence [0, 1, 2]",
        )
    ]
    for _ in range(4):
        size = int(torch.randint(3, 7, (1,), generator=gen))
        counts = torch.randint(1, 9, (size, size), generator=gen).double()
        length = int(torch.randint(3, 8, (1,), generator=gen))
        ids = torch.randint(0, size, (length,), generator=gen).tolist()
        cases.append(Case((counts, ids), f"random {size}x{size} counts, {length}-token sentence"))
    return cases


def _sentence_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    counts, ids = args
    counts = counts.double()
    pairs = list(itertools.pairwise(ids))
    joint = math.prod(float(counts[a, b] / counts.sum()) for a, b in pairs)
    by_column = math.prod(float(counts[a, b] / counts[:, b].sum()) for a, b in pairs)
    if _close(got, joint):
        return (
            "you divided each count by the total of the whole table: that is the joint "
            "probability P(prev, next). The chain rule needs P(next | prev) = "
            "count(prev, next) / count(prev), the sum of row `prev`."
        )
    if _close(got, by_column):
        return "you normalised by the column (the next token); normalise by the row of the previous token."
    if _close(got, math.log(max(float(expected), 1e-300))):
        return "you returned the log-probability; exponentiate it (or multiply the probabilities)."
    return None


register(
    Exercise(
        id="ch01.sentence_probability",
        title="probability of a sentence under a bigram model",
        kind="function",
        reference=_sentence_prob,
        make_cases=_sentence_cases,
        atol=1e-12,  # products of many probabilities are small: compare relatively
        hints=(
            "Multiply P(next | prev) = counts[prev, next] / counts[prev].sum() over consecutive pairs.",
        ),
        diagnose=_sentence_diagnose,
    )
)


# ----------------------------------------------------------------- 2. add-k smoothing
def _add_k(counts: torch.Tensor, k: float) -> torch.Tensor:
    counts = counts.double()
    return (counts + k) / (counts.sum() + k * counts.numel())


def _add_k_cases(gen: torch.Generator) -> list[Case]:
    cases = [
        Case((torch.tensor([3.0, 0.0, 1.0, 0.0]), 1.0), "counts [3, 0, 1, 0], k = 1"),
        Case((torch.zeros(5), 0.5), "a context never seen (all counts 0), k = 0.5"),
    ]
    for _ in range(3):
        size = int(torch.randint(2, 10, (1,), generator=gen))
        counts = torch.randint(0, 6, (size,), generator=gen).double()
        k = round(float(torch.rand(1, generator=gen)) * 2 + 0.05, 3)
        cases.append(Case((counts, k), f"random counts of {size} tokens, k = {k}"))
    return cases


def _add_k_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    counts, k = args
    counts = counts.double()
    if _close(got, (counts + k) / (counts.sum() + k)):
        return (
            "the denominator adds k only once; k is added to every one of the V counts, so "
            "add k * V (V = len(counts)) or the probabilities will not sum to 1."
        )
    if counts.sum() > 0 and _close(got, (counts + k) / counts.sum()):
        return "you added k to the counts but not to the total; the result does not sum to 1."
    if _close(got, counts / counts.sum().clamp_min(1e-300) + k):
        return "you added k to the probabilities; add it to the counts, then normalise."
    return None


register(
    Exercise(
        id="ch01.add_k_smoothing",
        title="add-k smoothed next-token distribution",
        kind="function",
        reference=_add_k,
        make_cases=_add_k_cases,
        hints=("P(w) = (count(w) + k) / (total + k * V), where V is the number of tokens.",),
        diagnose=_add_k_diagnose,
    )
)


# ----------------------------------------------------------------- 3. perplexity from log-probs
def _perplexity(log_probs: torch.Tensor) -> float:
    return math.exp(-float(log_probs.double().mean()))


def _perplexity_cases(gen: torch.Generator) -> list[Case]:
    cases = [Case((torch.log(torch.tensor([0.5, 0.25, 0.125])),), "probabilities 1/2, 1/4, 1/8")]
    for _ in range(4):
        n = int(torch.randint(2, 12, (1,), generator=gen))
        probs = torch.rand(n, generator=gen, dtype=torch.float64) * 0.9 + 0.05
        cases.append(Case((torch.log(probs),), f"{n} random log-probabilities"))
    return cases


def _perplexity_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    (log_probs,) = args
    lp = log_probs.double()
    if _close(got, torch.exp(lp.mean())):
        return (
            "the minus sign is missing: perplexity is exp of the *negative* mean log-probability."
        )
    if _close(got, -lp.mean()):
        return "that is the cross-entropy (mean negative log-likelihood); perplexity is its exp."
    if _close(got, torch.exp(-lp.sum())):
        return (
            "you used the sum of the log-probabilities; perplexity uses their mean (divide by N)."
        )
    if _close(got, 2 ** (-lp.mean())):
        return "these log-probabilities are natural logs (base e); use exp, not 2 ** x."
    return None


register(
    Exercise(
        id="ch01.perplexity",
        title="perplexity from per-token log-probabilities",
        kind="function",
        reference=_perplexity,
        make_cases=_perplexity_cases,
        hints=("perplexity = exp(-(1/N) * sum(log p)) = exp(-log_probs.mean()).",),
        diagnose=_perplexity_diagnose,
    )
)


# ----------------------------------------------------------------- 4. Bayes' rule
def _posterior(prior: torch.Tensor, likelihood: torch.Tensor) -> torch.Tensor:
    joint = prior.double() * likelihood.double()
    return joint / joint.sum()


def _posterior_cases(gen: torch.Generator) -> list[Case]:
    cases = [
        Case(
            (torch.tensor([0.7, 0.3]), torch.tensor([0.6, 0.05])),
            "prior [0.7, 0.3], likelihood [0.6, 0.05]",
        )
    ]
    for _ in range(4):
        k = int(torch.randint(2, 6, (1,), generator=gen))
        prior = torch.rand(k, generator=gen, dtype=torch.float64) + 0.05
        prior = prior / prior.sum()
        likelihood = torch.rand(k, generator=gen, dtype=torch.float64) * 0.9 + 0.05
        cases.append(Case((prior, likelihood), f"{k} hypotheses, random prior and likelihood"))
    return cases


def _posterior_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    prior, likelihood = (t.double() for t in args)
    if _close(got, prior * likelihood):
        return (
            "you computed P(E | H) P(H) but did not divide by the evidence P(E) = "
            "sum over hypotheses of P(E | H) P(H); the posterior must sum to 1."
        )
    if _close(got, likelihood / likelihood.sum()):
        return "you normalised the likelihood but forgot to multiply by the prior P(H)."
    if _close(got, prior / likelihood / (prior / likelihood).sum()):
        return "you divided by the likelihood; Bayes' rule multiplies prior by likelihood."
    return None


register(
    Exercise(
        id="ch01.bayes_posterior",
        title="posterior over hypotheses with Bayes' rule",
        kind="function",
        reference=_posterior,
        make_cases=_posterior_cases,
        hints=("posterior = prior * likelihood, divided by its sum (the evidence P(E)).",),
        diagnose=_posterior_diagnose,
    )
)
