"""A character-level tokenizer: one id per Unicode code point seen in the training text.

Introduced in chapter 2. The vocabulary is the sorted set of distinct code points, so the ids
are deterministic: trained on tinyshakespeare it gives nanoGPT's 65-character vocabulary with
the same ids. Special tokens, if any, come after the characters.

A character is one code point, not one visible glyph: an emoji with a skin tone, a family emoji
joined by zero-width joiners, or an ``e`` followed by a combining accent are several tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lmkit.errors import ConfigError, InputError, TokenizerError
from lmkit.tokenizers.base import Tokenizer, normalize_special_tokens

_MAX_REPORTED = 5  # unknown characters named in one error message


def _describe_char(char: str) -> str:
    return f"{char!r} (U+{ord(char):04X})"


class CharTokenizer(Tokenizer):
    """Each character is a token. Unknown characters raise, or map to ``unk_token`` if set."""

    type_name = "char"

    def __init__(
        self,
        chars: Iterable[str],
        special_tokens: Iterable[str] | Mapping[str, int] | None = None,
        *,
        unk_token: str | None = None,
        roles: Mapping[str, str] | None = None,
    ) -> None:
        chars = list(chars)
        for char in chars:
            if not isinstance(char, str) or len(char) != 1:
                raise ConfigError(f"Every vocabulary entry must be one character, got {char!r}.")
        if chars != sorted(set(chars)):
            raise ConfigError("The characters must be distinct and sorted by code point.")
        specials = normalize_special_tokens(special_tokens, len(chars))
        if unk_token is not None and unk_token not in specials:
            specials[unk_token] = len(chars) + len(specials)
        roles = dict(roles or {})
        if unk_token is not None:
            roles["unk"] = unk_token
        super().__init__(specials, roles)
        self.chars: list[str] = chars
        self.unk_token = unk_token
        self._char_to_id = {char: i for i, char in enumerate(chars)}
        self._id_to_piece = chars + sorted(specials, key=specials.__getitem__)

    @classmethod
    def train(
        cls,
        text: str,
        special_tokens: Iterable[str] | Mapping[str, int] | None = None,
        *,
        unk_token: str | None = None,
    ) -> CharTokenizer:
        """Build the vocabulary from ``text``: its distinct characters, sorted by code point.

        ``unk_token`` (e.g. ``"<unk>"``) adds a special token that unknown characters map to;
        without it, encoding an unknown character raises :class:`TokenizerError`.
        """
        if not isinstance(text, str):
            raise InputError(f"Expected training text as a str, got {type(text).__name__}.")
        if not text:
            raise InputError("Cannot build a character vocabulary from empty text.")
        surrogate = next((i for i, c in enumerate(text) if "\ud800" <= c <= "\udfff"), None)
        if surrogate is not None:
            raise InputError(
                f"The text has a lone surrogate {_describe_char(text[surrogate])} at position "
                f"{surrogate}, which is not valid Unicode text. Decode your file with "
                "errors='replace' first."
            )
        return cls(sorted(set(text)), special_tokens, unk_token=unk_token)

    from_text = train

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_piece)

    def _encode_ordinary(self, text: str) -> list[int]:
        lookup = self._char_to_id
        try:
            return [lookup[c] for c in text]
        except KeyError:
            pass
        unk = self.unk_id
        if unk is not None:
            return [lookup.get(c, unk) for c in text]
        unknown: dict[str, int] = {}
        for position, char in enumerate(text):
            if char not in lookup:
                unknown.setdefault(char, position)
        named = ", ".join(
            f"{_describe_char(c)} at position {p}" for c, p in list(unknown.items())[:_MAX_REPORTED]
        )
        more = len(unknown) - _MAX_REPORTED
        raise TokenizerError(
            f"The text has characters that are not in the vocabulary: {named}"
            + (f" and {more} more" if more > 0 else "")
            + ". Train on text that contains them, or build the tokenizer with "
            "unk_token='<unk>' to map unknown characters to one token."
        )

    def decode(self, ids: Iterable[int]) -> str:
        pieces = self._id_to_piece
        return "".join([pieces[i] for i in self._check_ids(ids)])

    def id_to_token(self, token_id: int) -> str:
        return self._id_to_piece[self._check_ids([token_id])[0]]

    def token_to_id(self, token: str) -> int:
        if token in self.special_tokens:
            return self.special_tokens[token]
        if token in self._char_to_id:
            return self._char_to_id[token]
        raise TokenizerError(
            f"{token!r} is neither a character nor a special token of this vocabulary."
        )

    def _state(self, path: Path) -> dict[str, Any]:
        return {
            "chars": self.chars,
            "special_tokens": self.special_tokens,
            "unk_token": self.unk_token,
            "roles": self.roles,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], path: Path) -> CharTokenizer:
        chars = state["chars"]
        if not isinstance(chars, list):
            raise TokenizerError(f'{path}: "chars" must be a list of single characters.')
        return cls(
            chars,
            state["special_tokens"],
            unk_token=state["unk_token"],
            roles=state["roles"],
        )
