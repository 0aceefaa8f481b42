"""Counting n-grams: all the "training" a count-based n-gram language model does.

Introduced in chapter 1. An n-gram model makes the Markov assumption: the next token depends
only on the previous ``n - 1`` tokens, so learning from text means counting how often each
token followed each context. :class:`NGramCounts` keeps those counts;
:class:`~lmkit.basics.ngram.NGramModel` turns them into probabilities.

Tokens can be anything hashable: characters of a Chinese sentence, English words, or integer
ids from a tokenizer. With ``add_boundaries=True`` (the default) every sequence is padded with
``n - 1`` start markers :data:`BOS` on the left and one end marker :data:`EOS` on the right, so
the model also learns how sentences start and when they stop. ``BOS`` is only ever a context,
never a prediction; ``EOS`` is a prediction, never a context.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int

__all__ = ["BOS", "EOS", "NGramCounts"]


BOS = "<s>"
"""The start-of-sequence marker that pads the left of every sequence."""
EOS = "</s>"
"""The end-of-sequence marker appended to every sequence."""


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


class NGramCounts:
    """How often each token followed each ``n - 1``-token context, plus the vocabulary.

    ``n``: order (1 = unigram, 2 = bigram, …). ``vocab``: fix the vocabulary up front
    (otherwise it is every token seen by :meth:`fit`). ``unk_token``: a token that unknown
    tokens map to; without it an unknown token raises :class:`InputError`. ``add_boundaries``:
    pad sequences with :data:`BOS`/:data:`EOS`.

    Introduced in chapter 1.
    """

    def __init__(
        self,
        n: int = 2,
        *,
        vocab: Iterable[Hashable] | None = None,
        unk_token: Hashable | None = None,
        add_boundaries: bool = True,
    ) -> None:
        self.n = check_int("n", n, minimum=1, hint=" (2 for a bigram model)")
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

    # ----- vocabulary ------------------------------------------------------------------------

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
        """Every token the model can predict, in the order of ``NGramModel.next_token_probs``."""
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

    def fit(self, sequences: Iterable[Sequence[Hashable]]) -> NGramCounts:
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

    # ----- counts ----------------------------------------------------------------------------

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

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n={self.n}, vocab={len(self.vocab)} tokens, "
            f"contexts={len(self._totals)})"
        )
