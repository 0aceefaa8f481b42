"""n-gram language models from counts: add-k smoothing, scoring, perplexity and sampling.

Introduced in chapter 1. The counting lives in :class:`~lmkit.basics.ngram_counts.NGramCounts`;
an :class:`NGramModel` turns the counts into a prediction

    P(w | context) = (count(context, w) + k) / (count(context) + k * V)

where ``V`` is the number of tokens the model can predict and ``k`` is the add-k smoothing
constant (``k = 0`` is the maximum-likelihood estimate, ``k = 1`` is Laplace smoothing).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from typing import NamedTuple

import torch

from lmkit.basics.ngram_counts import BOS, EOS, NGramCounts, _check_sequences
from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int, check_number

__all__ = ["BigramModel", "NGramModel", "TokenScore"]


class TokenScore(NamedTuple):
    """One prediction while scoring a sequence: ``P(token | context) = prob``."""

    context: tuple[Hashable, ...]
    token: Hashable
    prob: float


class NGramModel(NGramCounts):
    """An n-gram language model estimated by counting, with add-k smoothing.

    ``n``: order (1 = unigram, 2 = bigram, …). ``k``: add-k smoothing (``>= 0``). ``vocab``,
    ``unk_token`` and ``add_boundaries`` as in :class:`~lmkit.basics.ngram_counts.NGramCounts`.

    Introduced in chapter 1.
    """

    def __init__(
        self,
        n: int = 2,
        *,
        k: float = 0.0,
        vocab: Iterable[Hashable] | None = None,
        unk_token: Hashable | None = None,
        add_boundaries: bool = True,
    ) -> None:
        k = self._check_k(k)  # before the vocabulary work, so a bad k fails fast
        super().__init__(n, vocab=vocab, unk_token=unk_token, add_boundaries=add_boundaries)
        self._k = k

    @property
    def k(self) -> float:
        """The add-k smoothing constant; it can be changed after fitting (counts are kept)."""
        return self._k

    @k.setter
    def k(self, value: float) -> None:
        self._k = self._check_k(value)

    @staticmethod
    def _check_k(k: float) -> float:
        hint = " Use k=0 for raw counts, k=1 for Laplace smoothing, or something small like 0.01."
        return check_number("k (add-k smoothing)", k, minimum=0, hint=hint)

    # ----- probabilities ---------------------------------------------------------------------

    def _probs_for(self, key: tuple[Hashable, ...]) -> torch.Tensor | None:
        """Smoothed distribution for a context key, or None when it is 0/0 (k=0, unseen)."""
        total = self._totals[key]
        size = self.num_outcomes
        denominator = total + self.k * size
        if denominator == 0:
            return None
        counts = torch.zeros(size, dtype=torch.float64)
        seen = self._counts.get(key)
        if seen:
            index = torch.tensor([self._outcome_index(t) for t in seen], dtype=torch.long)
            counts[index] = torch.tensor(list(seen.values()), dtype=torch.float64)
        return (counts + self.k) / denominator

    def next_token_probs(
        self, context: Sequence[Hashable] = (), *, temperature: float = 1.0
    ) -> torch.Tensor:
        """``P(next | context)`` for every token of :attr:`outcomes`, as a float64 tensor (V,).

        ``context`` is the tokens so far (only the last ``n - 1`` matter; the start is padded
        with BOS). ``temperature`` reshapes the distribution: ``p ** (1/T)``, renormalised;
        ``T < 1`` sharpens it, ``T > 1`` flattens it, ``T = 0`` puts all mass on the most
        likely token (ties: the first).
        """
        self._require_fitted()
        hint = " Use 0 for the single most likely token, 1 for the model's own probabilities."
        temperature = check_number("temperature", temperature, minimum=0, hint=hint)
        key = self._context(context)
        probs = self._probs_for(key)
        if probs is None:
            raise InputError(
                f"The context {key!r} never occurred in training and k=0, so the maximum-"
                "likelihood estimate is 0/0. Use add-k smoothing (k > 0) to give unseen "
                "contexts a distribution."
            )
        if temperature == 1.0:
            return probs
        if temperature == 0:
            out = torch.zeros_like(probs)
            out[int(torch.argmax(probs))] = 1.0
            return out
        logits = torch.log(probs) / temperature  # log 0 = -inf stays -inf
        return torch.softmax(logits, dim=0)

    def prob(self, token: Hashable, context: Sequence[Hashable] = ()) -> float:
        """``P(token | context)``; 0.0 when the model has no estimate for ``context`` (k=0)."""
        self._require_fitted()
        key = self._context(context)
        target = EOS if (self.add_boundaries and token == EOS) else self._map_token(token, "token")
        probs = self._probs_for(key)
        if probs is None:
            return 0.0
        return float(probs[self._outcome_index(target)])

    def score(self, sequence: Sequence[Hashable]) -> list[TokenScore]:
        """Every prediction made while reading ``sequence``: (context, token, probability).

        With boundaries the last row predicts :data:`EOS`. A context never seen with ``k = 0``
        has no estimate, and its row gets probability 0.
        """
        self._require_fitted()
        if not isinstance(sequence, (str, list, tuple)):
            raise InputError(
                f"sequence must be a str, list or tuple of tokens, got {type(sequence).__name__}."
            )
        tokens = self._padded(sequence, "the sequence")
        if not self.add_boundaries and len(tokens) < self.n:
            raise InputError(
                f"A {self.n}-gram model without boundaries needs at least {self.n} tokens to "
                f"make one prediction, got {len(tokens)}."
            )
        rows = []
        k, size = self.k, self.num_outcomes
        for t in range(self.n - 1, len(tokens)):
            key = tuple(tokens[t - self.n + 1 : t])
            # The same formula as _probs_for, for one token: no need to build the whole row.
            denominator = self._totals[key] + k * size
            seen = self._counts.get(key)
            numerator = (seen[tokens[t]] if seen else 0) + k
            p = numerator / denominator if denominator > 0 else 0.0
            rows.append(TokenScore(key, tokens[t], p))
        return rows

    def log_prob(self, sequence: Sequence[Hashable]) -> float:
        """Natural log of ``P(sequence)`` by the chain rule under the Markov assumption.

        ``-inf`` when some prediction has probability 0 (an n-gram never seen, with ``k = 0``).
        """
        total = 0.0
        for row in self.score(sequence):
            if row.prob == 0.0:
                return -math.inf
            total += math.log(row.prob)
        return total

    def num_predictions(self, sequence: Sequence[Hashable]) -> int:
        """How many tokens :meth:`log_prob` predicts: ``len + 1`` with boundaries (the EOS)."""
        if self.add_boundaries:
            return len(sequence) + 1
        return max(len(sequence) - self.n + 1, 0)

    def perplexity(self, sequences: Iterable[Sequence[Hashable]]) -> float:
        """``exp(-(1/N) Σ log P(token | context))`` over all ``N`` predictions in ``sequences``.

        ``inf`` when some prediction has probability 0. Pass a list of sequences.
        """
        sequences = _check_sequences(sequences)
        total, count = 0.0, 0
        for sequence in sequences:
            total += self.log_prob(sequence)
            count += self.num_predictions(sequence)
        if count == 0:
            raise InputError("perplexity needs at least one prediction; the sequences are empty.")
        return math.exp(-total / count)

    # ----- generation ------------------------------------------------------------------------

    def sample(
        self,
        max_tokens: int = 50,
        *,
        prompt: Sequence[Hashable] = (),
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ) -> list[Hashable]:
        """Generate tokens after ``prompt`` until :data:`EOS` or ``max_tokens`` new tokens.

        Returns only the new tokens (never BOS or EOS). Pass ``seed`` or ``generator`` for
        repeatable samples; ``temperature`` as in :meth:`next_token_probs`.
        """
        self._require_fitted()
        max_tokens = check_int("max_tokens", max_tokens)
        if generator is not None and seed is not None:
            raise ConfigError("Pass either seed or generator, not both.")
        if seed is not None:
            generator = torch.Generator().manual_seed(seed)
        if not isinstance(prompt, (str, list, tuple)):
            raise InputError(f"prompt must be a sequence of tokens, got {type(prompt).__name__}.")
        history = list(prompt)
        outcomes = self.outcomes
        new: list[Hashable] = []
        for _ in range(max_tokens):
            probs = self.next_token_probs(history, temperature=temperature)
            choice = outcomes[int(torch.multinomial(probs, 1, generator=generator))]
            if choice == EOS and self.add_boundaries:
                break
            new.append(choice)
            history.append(choice)
        return new

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n={self.n}, k={self.k}, vocab={len(self.vocab)} tokens, "
            f"contexts={len(self._totals)})"
        )


class BigramModel(NGramModel):
    """An :class:`NGramModel` with ``n = 2``: ``P(next | previous token)``. Introduced in chapter 1."""

    def __init__(
        self,
        *,
        k: float = 0.0,
        vocab: Iterable[Hashable] | None = None,
        unk_token: Hashable | None = None,
        add_boundaries: bool = True,
    ) -> None:
        super().__init__(2, k=k, vocab=vocab, unk_token=unk_token, add_boundaries=add_boundaries)

    def transition_matrix(self, tokens: Sequence[Hashable] | None = None) -> torch.Tensor:
        """``P(column token | row token)`` for ``tokens`` (default: the whole vocabulary).

        Rows are contexts (``tokens``, plus :data:`BOS` first when boundaries are on) and
        columns are predictions (``tokens``, plus :data:`EOS` last). A row for a context never
        seen with ``k = 0`` is all zeros. Each full row sums to 1 when ``tokens`` is the
        whole vocabulary.
        """
        self._require_fitted()
        chosen = list(self.vocab) if tokens is None else list(tokens)
        chosen = [self._map_token(t, "tokens") for t in chosen]
        rows = ([BOS] if self.add_boundaries else []) + chosen
        cols = chosen + ([EOS] if self.add_boundaries else [])
        columns = torch.tensor([self._outcome_index(c) for c in cols], dtype=torch.long)
        matrix = torch.zeros(len(rows), len(cols), dtype=torch.float64)
        for r, context in enumerate(rows):
            probs = self._probs_for((context,))
            if probs is not None:
                matrix[r] = probs[columns]
        return matrix
