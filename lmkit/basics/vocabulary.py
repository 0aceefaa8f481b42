"""From text to word ids for the word-vector chapter: sentences of words, and a vocabulary.

Introduced in chapter 3. Both :mod:`lmkit.basics.word2vec` and :mod:`lmkit.basics.glove` learn
from words that appear near each other, so the text is split into sentences first (a context
window never crosses a sentence end), then each word gets an id by frequency.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int

__all__ = ["Vocabulary", "build_vocab", "tokenize_sentences"]

_SENTENCE_END = re.compile(r"[.!?。！？\n]+")
# English words (lower-cased, with inner apostrophes) or single CJK characters.
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|[\u4e00-\u9fff]")


# ---------------------------------------------------------------- text → ids
def tokenize_sentences(text: str) -> list[list[str]]:
    """Split ``text`` into sentences of lower-cased words; each Chinese character is a word.

    Context windows never cross a sentence end, so the sentences are kept apart.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}.")
    sentences = [_WORD.findall(part.lower()) for part in _SENTENCE_END.split(text)]
    return [s for s in sentences if s]


@dataclass(frozen=True)
class Vocabulary:
    """Words sorted by frequency (ties alphabetically) with their counts."""

    words: tuple[str, ...]
    counts: tuple[int, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.words) != len(self.counts):
            raise ConfigError("words and counts must have the same length.")
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.words)})

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def id(self, word: str) -> int:
        """The id of ``word``; an unknown word raises :class:`InputError` with close matches."""
        if word not in self._index:
            close = difflib.get_close_matches(str(word), self.words, n=3)
            hint = f" Close words: {', '.join(close)}." if close else ""
            raise InputError(
                f"{word!r} is not in the vocabulary ({len(self)} words; rare words are dropped "
                f"by min_count).{hint}"
            )
        return self._index[word]

    def encode(self, sentences: Iterable[Sequence[str]]) -> list[list[int]]:
        """Map each sentence to ids, silently dropping words outside the vocabulary."""
        return [[self._index[w] for w in s if w in self._index] for s in sentences]

    def count_tensor(self) -> torch.Tensor:
        """The counts as a float tensor of shape (V,)."""
        return torch.tensor(self.counts, dtype=torch.float64)


def build_vocab(
    sentences: Iterable[Sequence[str]], *, min_count: int = 1, max_size: int | None = None
) -> Vocabulary:
    """Count words and keep those seen at least ``min_count`` times (at most ``max_size``)."""
    min_count = check_int("min_count", min_count, minimum=1)
    if max_size is not None:
        max_size = check_int("max_size", max_size, minimum=1)
    counts = Counter(w for s in sentences for w in s)
    kept = sorted(
        ((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0])
    )
    if max_size is not None:
        kept = kept[:max_size]
    if not kept:
        raise InputError(
            f"No word occurs at least min_count={min_count} times "
            f"({len(counts)} distinct words in total). Use more text or a lower min_count."
        )
    return Vocabulary(tuple(w for w, _ in kept), tuple(c for _, c in kept))


# word2vec and GloVe both walk the ids as one flat tensor; ``owner`` (which sentence each id
# came from) keeps their context windows inside one sentence.
def _flatten(sentences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([i for s in sentences for i in s], dtype=torch.long)
    owner = torch.repeat_interleave(
        torch.arange(len(sentences)), torch.tensor([len(s) for s in sentences])
    )
    return ids, owner
