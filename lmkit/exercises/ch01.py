"""Chapter 1 exercises: build a bigram model. The probability of a sentence, an add-k smoothed
bigram table trained from sequences, the perplexity of a corpus under a table, and a Bayes
classifier's posterior computed in log space.

Introduced in chapter 1. Each reference is hidden from the reader; ``diagnose`` rebuilds the
usual slips on the failed case (joint instead of conditional probability, k added once, pairs
across sentence boundaries, perplexity averaged per sentence, a missing minus sign, a forgotten
prior, probabilities that underflow) and names the one the answer matches.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch

from lmkit.exercises.core import Case, Exercise, register
from lmkit.exercises.feedback import matching_slip


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


# ----------------------------------------------------------------- 2. train a smoothed bigram table
def _bigram_table(sequences: list[list[int]], vocab_size: int, k: float) -> torch.Tensor:
    counts = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)
    for sequence in sequences:
        for prev, nxt in itertools.pairwise(sequence):
            counts[prev, nxt] += 1
    return (counts + k) / (counts.sum(dim=1, keepdim=True) + k * vocab_size)


def _random_sequences(gen: torch.Generator, vocab_size: int, n: int) -> list[list[int]]:
    """``n`` sequences that start with id 0 (<s>) and end with id 1 (</s>), of varied length."""
    sequences = []
    for _ in range(n):
        length = int(torch.randint(1, 7, (1,), generator=gen))
        body = torch.randint(2, vocab_size, (length,), generator=gen).tolist()
        sequences.append([0, *body, 1])
    return sequences


def _table_cases(gen: torch.Generator) -> list[Case]:
    cases = [
        Case(([[0, 2, 3, 1], [0, 3, 2, 2, 1]], 4, 1.0), "two sentences over 4 ids, k = 1"),
        Case(([[0, 2, 1]], 5, 0.5), "one short sentence, 5 ids (several rows never seen), k = 0.5"),
    ]
    for _ in range(3):
        size = int(torch.randint(4, 8, (1,), generator=gen))
        k = round(float(torch.rand(1, generator=gen)) * 0.9 + 0.05, 3)
        sequences = _random_sequences(gen, size, int(torch.randint(2, 6, (1,), generator=gen)))
        cases.append(
            Case((sequences, size, k), f"{len(sequences)} random sentences, {size} ids, k = {k}")
        )
    return cases


def _table_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    sequences, size, k = args
    counts = torch.zeros(size, size, dtype=torch.float64)
    for sequence in sequences:
        for prev, nxt in itertools.pairwise(sequence):
            counts[prev, nxt] += 1
    joined = [token for sequence in sequences for token in sequence]
    return matching_slip(
        got,
        [
            (
                (counts + k) / (counts.sum(dim=1, keepdim=True) + k),
                "the denominator adds k only once; k is added to each of the V counts of a row, "
                "so add k * V, or the rows will not sum to 1.",
            ),
            (
                (counts + k) / (counts.sum(dim=0, keepdim=True) + k * size),
                "you normalised each column (the next token); P(next | prev) divides by the "
                "total of row prev.",
            ),
            (
                (counts + k) / (counts.sum() + k * counts.numel()),
                "you divided by the total of the whole table: that is the joint P(prev, next); "
                "normalise each row separately.",
            ),
            (
                _bigram_table([joined], size, k),
                "you counted the pair (</s>, <s>) where one sentence ends and the next begins: "
                "count pairs inside each sentence only.",
            ),
        ],
    )


register(
    Exercise(
        id="ch01.bigram_table",
        title="train an add-k smoothed bigram table from sentences",
        kind="function",
        reference=_bigram_table,
        make_cases=_table_cases,
        hints=(
            "count pairs into a (V, V) tensor, sentence by sentence; then "
            "(counts + k) / (counts.sum(dim=1, keepdim=True) + k * V).",
        ),
        diagnose=_table_diagnose,
    )
)


# ----------------------------------------------------------------- 3. perplexity of a corpus
def _corpus_perplexity(probs: torch.Tensor, sequences: list[list[int]]) -> float:
    log_probs = [
        math.log(float(probs[prev, nxt]))
        for sequence in sequences
        for prev, nxt in itertools.pairwise(sequence)
    ]
    return math.exp(-sum(log_probs) / len(log_probs))


def _perplexity_cases(gen: torch.Generator) -> list[Case]:
    table = torch.tensor(
        [[0.0, 0.0, 0.5, 0.5], [0.25] * 4, [0.0, 0.5, 0.25, 0.25], [0.0, 0.5, 0.5, 0.0]]
    )
    cases = [Case((table, [[0, 2, 1], [0, 3, 2, 3, 1]]), "a 4-id table, two sentences")]
    for _ in range(4):
        size = int(torch.randint(4, 8, (1,), generator=gen))
        probs = torch.rand(size, size, generator=gen, dtype=torch.float64) + 0.05
        probs = probs / probs.sum(dim=1, keepdim=True)
        sequences = _random_sequences(gen, size, int(torch.randint(2, 6, (1,), generator=gen)))
        cases.append(
            Case((probs, sequences), f"random {size}x{size} table, {len(sequences)} sentences")
        )
    return cases


def _perplexity_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    probs, sequences = args
    per_sentence = [
        [math.log(float(probs[a, b])) for a, b in itertools.pairwise(s)] for s in sequences
    ]
    flat = [lp for sentence in per_sentence for lp in sentence]
    total, n_pred, n_tokens = sum(flat), len(flat), sum(len(s) for s in sequences)
    return matching_slip(
        got,
        [
            (
                sum(math.exp(-sum(s) / len(s)) for s in per_sentence) / len(per_sentence),
                "you averaged the perplexities of the sentences; perplexity pools every "
                "prediction of the corpus: exp(-(sum of all log-probs) / (number of predictions)).",
            ),
            (
                math.exp(-total / n_tokens),
                "you divided by the number of tokens; divide by the number of predictions "
                "(each sentence of n ids makes n - 1, since <s> is never predicted).",
            ),
            (
                math.exp(total / n_pred),
                "the minus sign is missing: perplexity is exp of the *negative* mean log-probability.",
            ),
            (
                -total / n_pred,
                "that is the cross-entropy (mean negative log-likelihood); perplexity is its exp.",
            ),
            (2 ** (-total / n_pred), "these are natural logs: use exp, not 2 ** x."),
        ],
    )


register(
    Exercise(
        id="ch01.corpus_perplexity",
        title="perplexity of a corpus under a bigram table",
        kind="function",
        reference=_corpus_perplexity,
        make_cases=_perplexity_cases,
        hints=(
            "collect log probs[prev, nxt] over every pair of every sentence; "
            "perplexity = exp(-their mean).",
        ),
        diagnose=_perplexity_diagnose,
    )
)


# ----------------------------------------------------------------- 4. Bayes' rule in log space
def _log_space_posterior(log_likelihoods: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    return torch.softmax(log_likelihoods.double() + torch.log(prior.double()), dim=0)


def _posterior_cases(gen: torch.Generator) -> list[Case]:
    cases = [
        Case(
            (torch.log(torch.tensor([0.6, 0.05], dtype=torch.float64)), torch.tensor([0.7, 0.3])),
            "likelihoods 0.6 and 0.05, prior [0.7, 0.3]",
        ),
        Case(
            (torch.tensor([-812.5, -815.0], dtype=torch.float64), torch.tensor([0.5, 0.5])),
            "log-likelihoods of a long text (-812.5, -815): exp underflows",
        ),
    ]
    for _ in range(3):
        k = int(torch.randint(2, 5, (1,), generator=gen))
        log_lik = -torch.rand(k, generator=gen, dtype=torch.float64) * 30 - 900
        prior = torch.rand(k, generator=gen, dtype=torch.float64) + 0.05
        cases.append(
            Case((log_lik, prior / prior.sum()), f"{k} classes, log-likelihoods near -900")
        )
    return cases


def _posterior_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    log_lik, prior = (t.double() for t in args)
    if isinstance(got, torch.Tensor) and not torch.isfinite(got.double()).all():
        return (
            "exp(-900) underflows to 0.0, so exponentiating the log-likelihoods first gives 0 / 0 "
            "= nan. Stay in log space: torch.softmax(log_lik + log(prior)) subtracts the largest "
            "score before exponentiating (the log-sum-exp trick)."
        )
    return matching_slip(
        got,
        [
            (
                torch.softmax(log_lik, dim=0),
                "the prior is missing: add log P(class) to each log-likelihood.",
            ),
            (
                torch.softmax(log_lik + prior, dim=0),
                "you added the prior itself; add its log, log P(class).",
            ),
            (
                torch.log_softmax(log_lik + prior.log(), dim=0),
                "that is the log of the posterior; return the probabilities.",
            ),
        ],
    )


register(
    Exercise(
        id="ch01.log_space_posterior",
        title="Bayes' rule for long texts: the posterior from log-likelihoods",
        kind="function",
        reference=_log_space_posterior,
        make_cases=_posterior_cases,
        hints=(
            "posterior = softmax(log P(text | class) + log P(class)); torch.softmax is stable.",
        ),
        diagnose=_posterior_diagnose,
    )
)
