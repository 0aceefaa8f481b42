"""Count-based n-gram language models: the simplest model that assigns text a probability.

Introduced in chapter 1. An n-gram model makes the Markov assumption: the next token depends
only on the previous ``n - 1`` tokens. Its "training" is counting, and its prediction is

    P(w | context) = (count(context, w) + k) / (count(context) + k * V)

where ``V`` is the number of tokens the model can predict and ``k`` is the add-k smoothing
constant (``k = 0`` is the maximum-likelihood estimate, ``k = 1`` is Laplace smoothing).

Tokens can be anything hashable: characters of a Chinese sentence, English words, or integer
ids from a tokenizer. With ``add_boundaries=True`` (the default) every sequence is padded with
``n - 1`` start markers :data:`BOS` on the left and one end marker :data:`EOS` on the right, so
the model also learns how sentences start and when they stop. ``BOS`` is only ever a context,
never a prediction; ``EOS`` is a prediction, never a context.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, NamedTuple

import torch

from lmkit.errors import ConfigError, InputError

BOS = "<s>"
"""The start-of-sequence marker that pads the left of every sequence."""
EOS = "</s>"
"""The end-of-sequence marker appended to every sequence."""


class TokenScore(NamedTuple):
    """One prediction while scoring a sequence: ``P(token | context) = prob``."""

    context: tuple[Hashable, ...]
    token: Hashable
    prob: float


def _check_sequences(sequences: Any, name: str = "sequences") -> list[Sequence[Hashable]]:
    """A list of token sequences; a bare string or a flat list of ids is a common slip."""
    if isinstance(sequences, (str, bytes)):
        raise InputError(
            f"{name} must be a list of sequences, got one {type(sequences).__name__}. "
            "Wrap it in a list: [text] (a string is a sequence of characters)."
        )
    if not isinstance(sequences, Iterable):
        raise InputError(
            f"{name} must be a list of token sequences, got {type(sequences).__name__}."
        )
    out = list(sequences)
    for index, sequence in enumerate(out):
        if isinstance(sequence, (str, list, tuple)):
            continue
        raise InputError(
            f"{name}[{index}] is a {type(sequence).__name__}, not a sequence of tokens. "
            "Pass a list of sequences, e.g. [[3, 1, 4], [1, 5]] or ['我喜欢', '苹果'], "
            "not a single flat sequence."
        )
    return out


class NGramModel:
    """An n-gram language model estimated by counting, with add-k smoothing.

    ``n``: order (1 = unigram, 2 = bigram, …). ``k``: add-k smoothing (``>= 0``). ``vocab``:
    fix the vocabulary up front (otherwise it is every token seen by :meth:`fit`).
    ``unk_token``: a token that unknown tokens map to; without it an unknown token raises
    :class:`InputError`. ``add_boundaries``: pad sequences with :data:`BOS`/:data:`EOS`.

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
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"n must be a positive integer (2 for a bigram model), got {n!r}.")
        self.n = n
        self._k = self._check_k(k)
        self.add_boundaries = bool(add_boundaries)
        self.unk_token = unk_token
        self._fixed_vocab = vocab is not None
        self.vocab: list[Hashable] = []
        self._index: dict[Hashable, int] = {}
        if vocab is not None:
            if isinstance(vocab, (str, bytes)):
                vocab = list(vocab)
            for token in vocab:
                self._add_to_vocab(token)
            if not self.vocab:
                raise ConfigError("vocab is empty; give at least one token, or leave it out.")
        if unk_token is not None:
            self._add_to_vocab(unk_token)
        self._counts: dict[tuple[Hashable, ...], Counter[Hashable]] = defaultdict(Counter)
        self._totals: Counter[tuple[Hashable, ...]] = Counter()
        self.fitted = False

    @property
    def k(self) -> float:
        """The add-k smoothing constant; it can be changed after fitting (counts are kept)."""
        return self._k

    @k.setter
    def k(self, value: float) -> None:
        self._k = self._check_k(value)

    # ----- vocabulary ------------------------------------------------------------------------

    @staticmethod
    def _check_k(k: float) -> float:
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k < 0:
            raise ConfigError(
                f"k (add-k smoothing) must be a finite number >= 0, got {k!r}. "
                "Use k=0 for raw counts, k=1 for Laplace smoothing, or something small like 0.01."
            )
        return float(k)

    def _add_to_vocab(self, token: Hashable) -> None:
        if token in (BOS, EOS) and self.add_boundaries:
            raise InputError(
                f"The token {token!r} is reserved for the sequence boundaries. Rename it, or "
                "build the model with add_boundaries=False."
            )
        try:
            known = token in self._index
        except TypeError as exc:
            raise InputError(f"Tokens must be hashable (str, int…), got {token!r}.") from exc
        if not known:
            self._index[token] = len(self.vocab)
            self.vocab.append(token)

    @property
    def outcomes(self) -> list[Hashable]:
        """Every token the model can predict, in the order of :meth:`next_token_probs`."""
        return [*self.vocab, EOS] if self.add_boundaries else list(self.vocab)

    @property
    def num_outcomes(self) -> int:
        """``V`` in the smoothing formula: the number of predictable tokens."""
        return len(self.vocab) + (1 if self.add_boundaries else 0)

    def _outcome_index(self, token: Hashable) -> int:
        """Position of a (known) predictable token in :attr:`outcomes`."""
        if self.add_boundaries and token == EOS:
            return len(self.vocab)
        return self._index[token]

    def _map_token(self, token: Hashable, where: str) -> Hashable:
        try:
            known = token in self._index
        except TypeError as exc:
            raise InputError(f"Tokens must be hashable (str, int…), got {token!r}.") from exc
        if known:
            return token
        if self.unk_token is not None:
            return self.unk_token
        raise InputError(
            f"The token {token!r} in {where} is not in the model's vocabulary "
            f"({len(self.vocab)} tokens). Fit on text that contains it, or build the model with "
            "unk_token='<unk>' so unknown tokens share one entry."
        )

    def _padded(self, sequence: Sequence[Hashable], where: str) -> list[Hashable]:
        tokens = [self._map_token(t, where) for t in sequence]
        if self.add_boundaries:
            return [BOS] * (self.n - 1) + tokens + [EOS]
        return tokens

    # ----- training --------------------------------------------------------------------------

    def fit(self, sequences: Iterable[Sequence[Hashable]]) -> NGramModel:
        """Count every n-gram in ``sequences`` (a list of token sequences); returns ``self``.

        Calling ``fit`` again adds more counts. Without a fixed ``vocab`` the vocabulary grows
        with every new token; with one, unknown tokens map to ``unk_token`` or raise.
        """
        sequences = _check_sequences(sequences)
        if not self._fixed_vocab:
            for sequence in sequences:
                for token in sequence:
                    if token != self.unk_token:
                        self._add_to_vocab(token)
        for index, sequence in enumerate(sequences):
            tokens = self._padded(sequence, f"sequences[{index}]")
            for t in range(self.n - 1, len(tokens)):
                context = tuple(tokens[t - self.n + 1 : t])
                self._counts[context][tokens[t]] += 1
                self._totals[context] += 1
        if not self.vocab and not self.add_boundaries:
            raise InputError("Nothing to learn: the sequences are empty and no vocab was given.")
        self.fitted = True
        return self

    # ----- counts and probabilities ----------------------------------------------------------

    def _context(self, context: Sequence[Hashable]) -> tuple[Hashable, ...]:
        """The last ``n - 1`` tokens of ``context``, padded with BOS on the left."""
        if isinstance(context, (str, list, tuple)):
            tokens = [
                t if (self.add_boundaries and t == BOS) else self._map_token(t, "the context")
                for t in context
            ]
        else:
            raise InputError(
                f"context must be a sequence of tokens (str, list or tuple), got "
                f"{type(context).__name__}."
            )
        width = self.n - 1
        if width == 0:
            return ()
        if self.add_boundaries:
            tokens = [BOS] * width + tokens
        elif len(tokens) < width:
            raise InputError(
                f"A {self.n}-gram model needs at least {width} context tokens, got {len(tokens)}."
            )
        return tuple(tokens[-width:])

    def count(self, context: Sequence[Hashable], token: Hashable) -> int:
        """How often ``token`` followed ``context`` in the training data."""
        return self._counts.get(self._context(context), Counter())[token]

    def context_count(self, context: Sequence[Hashable]) -> int:
        """How often ``context`` was followed by any token in the training data."""
        return self._totals[self._context(context)]

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise InputError("The model has not seen any data: call fit(sequences) first.")

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
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise ConfigError(f"temperature must be a number >= 0, got {temperature!r}.")
        if not math.isfinite(temperature) or temperature < 0:
            raise ConfigError(
                f"temperature must be a finite number >= 0, got {temperature!r}. Use 0 for the "
                "single most likely token, 1 for the model's own probabilities."
            )
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
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0:
            raise ConfigError(f"max_tokens must be an integer >= 0, got {max_tokens!r}.")
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
