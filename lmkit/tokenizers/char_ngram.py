"""A character n-gram tokenizer: every run of 1 to 3 characters of a text is one token.

Introduced in chapter 11, for the naive Bayes classifier ``zh-sentiment``
(:mod:`lmkit.basics.naive_bayes`). Chinese has no spaces between words, so instead of guessing
word boundaries we count overlapping character n-grams: ``"很好看"`` gives the 1-grams ``很``,
``好``, ``看``, the 2-grams ``很好``, ``好看`` and the 3-gram ``很好看``. A bag of such n-grams
catches most two- and three-character words without a word segmenter.

The pieces are exactly those of scikit-learn's ``CountVectorizer(analyzer="char")``, in its
order (all 1-grams left to right, then all 2-grams, …), after the same normalisation
(lowercase; a run of two or more whitespace characters becomes one space), preceded by Unicode
NFKC so that full-width letters and digits (``Ａ``, ``１``) meet their ordinary forms. The
vocabulary is the sorted set of n-grams seen in training; an n-gram never seen is ``[UNK]``.

**Negation marking** (``negation_span > 0``, a classic trick for bags of words): a bag loses
the order that says "not", so 一点也不无聊 ("not boring at all", positive) would teach that
无聊 is positive. Instead, the ``negation_span`` characters after a negator (不 没 别 未) within
its clause are marked with ``¬`` and become other tokens: 不无聊 gives ``不``, ``¬无``, ``¬聊``,
``不¬无``, ``¬无¬聊``… so plain 无聊 stays negative. With ``negation_span = 0`` the pieces are
scikit-learn's exactly.

Ids: ``[PAD]`` = 0, ``[UNK]`` = 1, then the n-grams. Encoding loses the text's order beyond
n characters, so :meth:`CharNgramTokenizer.decode` can only give back the 1-grams joined: the
normalised text without its unknown characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lmkit.errors import ConfigError, InputError, TokenizerError
from lmkit.tokenizers.base import Tokenizer
from lmkit.validators import is_int

SPECIALS = ("[PAD]", "[UNK]")  # ids 0 and 1; the roles pad/unk follow from these names
MAX_N = 8  # longer n-grams would only memorise whole phrases

# scikit-learn's ``_white_spaces``: only runs of 2+ collapse, so a lone tab or newline stays.
_WHITE_SPACES = re.compile(r"\s\s+")
NEGATORS = frozenset("不没别未")
MARK = "¬"  # prefixes a character inside a negator's span
# A clause ends the span (after NFKC, full-width ，。！？ are their ASCII forms).
_CLAUSE_END = frozenset(",.!?;:、。\n…~") | {" "}


def normalize(text: str) -> str:
    """NFKC, lowercase, runs of whitespace → one space (what the n-grams are cut from)."""
    return _WHITE_SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower())


def units(text: str, negation_span: int = 0) -> list[str]:
    """The normalised text as a list of characters, those within ``negation_span`` characters
    after a negator (and in its clause) marked with :data:`MARK`."""
    text = normalize(text)
    if not negation_span:
        return list(text)
    out: list[str] = []
    left = 0  # marked characters still to come
    for char in text.replace(MARK, ""):  # a typed ¬ must not pass for a mark
        if char in _CLAUSE_END:
            left = 0
            out.append(char)
            continue
        out.append(MARK + char if left else char)
        left = max(left - 1, 0)
        if char in NEGATORS:
            left = negation_span
    return out


def char_ngrams(
    text: str, ngram_range: tuple[int, int] = (1, 3), negation_span: int = 0
) -> list[str]:
    """Every n-gram of the normalised ``text`` for n in ``ngram_range``, shortest n first
    (with negation marking when ``negation_span > 0``; see the module)."""
    low, high = _check_range(ngram_range)
    chars = units(text, _check_span(negation_span))
    return [
        "".join(chars[i : i + n]) for n in range(low, high + 1) for i in range(len(chars) - n + 1)
    ]


def _check_span(negation_span: object) -> int:
    if not is_int(negation_span) or not 0 <= negation_span <= 20:
        raise ConfigError(f"negation_span must be an integer in 0..20, got {negation_span!r}.")
    return int(negation_span)


def _check_range(ngram_range: object) -> tuple[int, int]:
    if (
        not isinstance(ngram_range, (tuple, list))
        or len(ngram_range) != 2
        or not all(is_int(n) for n in ngram_range)
        or not 1 <= ngram_range[0] <= ngram_range[1] <= MAX_N
    ):
        raise ConfigError(
            f"ngram_range must be two integers (min_n, max_n) with 1 <= min_n <= max_n <= {MAX_N},"
            f" got {ngram_range!r}."
        )
    return int(ngram_range[0]), int(ngram_range[1])


class CharNgramTokenizer(Tokenizer):
    """Text → the ids of its character n-grams (unknown ones → ``[UNK]``). Chapter 11."""

    type_name = "char_ngram"

    def __init__(
        self, ngrams: Iterable[str], ngram_range: tuple[int, int] = (1, 3), negation_span: int = 0
    ) -> None:
        low, high = _check_range(ngram_range)
        self.negation_span = _check_span(negation_span)
        ngrams = list(ngrams)
        for gram in ngrams:
            if not isinstance(gram, str) or not low <= len(gram) - gram.count(MARK) <= high:
                raise ConfigError(
                    f"Every vocabulary entry must be a string of {low}..{high} characters, got "
                    f"{gram!r}."
                )
        if ngrams != sorted(set(ngrams)):
            raise ConfigError("The n-grams must be distinct and sorted.")
        super().__init__({name: i for i, name in enumerate(SPECIALS)})
        self.ngram_range = (low, high)
        self.ngrams: list[str] = ngrams
        self._gram_to_id = {gram: i + len(SPECIALS) for i, gram in enumerate(ngrams)}

    @classmethod
    def train(
        cls, texts: Iterable[str], ngram_range: tuple[int, int] = (1, 3), min_count: int = 1,
        negation_span: int = 0,
    ) -> CharNgramTokenizer:  # fmt: skip
        """The vocabulary: n-grams occurring at least ``min_count`` times in ``texts``, sorted."""
        if isinstance(texts, str):
            raise InputError("train expects a list of texts, not one string; write [text].")
        if not is_int(min_count) or min_count < 1:
            raise ConfigError(f"min_count must be an integer >= 1, got {min_count!r}.")
        counts: Counter[str] = Counter()
        for text in texts:
            if not isinstance(text, str):
                raise InputError(f"Every training text must be a str, got {type(text).__name__}.")
            counts.update(char_ngrams(text, ngram_range, negation_span))
        if not counts:
            raise InputError("Cannot build an n-gram vocabulary from empty texts.")
        kept = sorted(g for g, c in counts.items() if c >= min_count)
        return cls(kept, ngram_range, negation_span)

    @property
    def vocab_size(self) -> int:
        return len(SPECIALS) + len(self.ngrams)

    def _encode_ordinary(self, text: str) -> list[int]:
        unk = len(SPECIALS) - 1
        lookup = self._gram_to_id
        grams = char_ngrams(text, self.ngram_range, self.negation_span)
        return [lookup.get(gram, unk) for gram in grams]

    def decode(self, ids: Iterable[int]) -> str:
        """The 1-gram pieces joined, i.e. the normalised text; longer n-grams and the special
        tokens are skipped (n-grams overlap, so they cannot be put back into one text)."""
        pieces = [self.id_to_token(i) for i in self._check_ids(ids) if i >= len(SPECIALS)]
        return "".join(p.replace(MARK, "") for p in pieces if len(p) - p.count(MARK) == 1)

    def id_to_token(self, token_id: int) -> str:
        token_id = self._check_ids([token_id])[0]
        if token_id < len(SPECIALS):
            return SPECIALS[token_id]
        return self.ngrams[token_id - len(SPECIALS)]

    def token_to_id(self, token: str) -> int:
        if token in self.special_tokens:
            return self.special_tokens[token]
        if token in self._gram_to_id:
            return self._gram_to_id[token]
        raise TokenizerError(
            f"{token!r} is neither an n-gram nor a special token of this vocabulary."
        )

    def _state(self, path: Path) -> dict[str, Any]:
        return {
            "ngram_range": list(self.ngram_range),
            "negation_span": self.negation_span,
            "ngrams": self.ngrams,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], path: Path) -> CharNgramTokenizer:
        ngrams, ngram_range = state["ngrams"], state["ngram_range"]
        if not isinstance(ngrams, list):
            raise TokenizerError(f'{path}: "ngrams" must be a list of strings.')
        try:
            return cls(ngrams, tuple(ngram_range), state.get("negation_span", 0))
        except ConfigError as exc:
            raise TokenizerError(f"{path} is not a valid char_ngram tokenizer file: {exc}") from exc


__all__ = ["MARK", "NEGATORS", "SPECIALS", "CharNgramTokenizer", "char_ngrams", "normalize", "units"]
