"""Three ways to cut the same text: characters, byte-level BPE and WordPiece, side by side.

Introduced in chapter 2; the app's Tokenizer page shows it. :func:`story_char_tokenizer` is a
character tokenizer whose vocabulary is every character of the bilingual story world that
tiny-gpt learned from (plus printable ASCII); characters outside it become ``<unk>``.
:func:`compare_tokenizers` runs any set of lmkit tokenizers on one text and returns, for each,
the pieces and ids that :func:`lmkit.viz.tokens.token_boxes` draws.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from dataclasses import dataclass

from lmkit.errors import InputError
from lmkit.tokenizers import CharTokenizer, Tokenizer

__all__ = ["TokenizedText", "compare_tokenizers", "story_char_tokenizer"]

_STORIES_PER_LANGUAGE = 3000  # ~1 s; fewer stories miss rare characters of other seeds


@functools.lru_cache(maxsize=1)
def story_char_tokenizer() -> CharTokenizer:
    """A character tokenizer over the story world's English and Chinese characters, with ``<unk>``."""
    from lmkit.data import StoryWorld

    corpus = "".join(
        StoryWorld(seed=0).corpus(_STORIES_PER_LANGUAGE, lang) for lang in ("en", "zh")
    )
    return CharTokenizer.train(corpus + string.printable, unk_token="<unk>")


@dataclass(frozen=True)
class TokenizedText:
    """One tokenizer's view of a text: a display piece and an id per token."""

    name: str
    pieces: tuple[str, ...]
    ids: tuple[int, ...]
    unknown: int  # tokens that are the tokenizer's unknown token

    @property
    def count(self) -> int:
        return len(self.ids)


def compare_tokenizers(text: str, tokenizers: Mapping[str, Tokenizer]) -> list[TokenizedText]:
    """Encode ``text`` with every tokenizer (name → tokenizer), in the mapping's order.

    ``ids`` are exactly ``tokenizer.encode(text)`` (no ``[CLS]``/``[SEP]`` added), and
    ``pieces[i]`` is ``tokenizer.id_to_token(ids[i])``. Special-token text typed by a user
    stays ordinary text.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}.")
    if not tokenizers:
        raise InputError("Give at least one tokenizer to compare.")
    results = []
    for name, tokenizer in tokenizers.items():
        ids = tuple(tokenizer.encode(text))
        unk = tokenizer.unk_id
        results.append(
            TokenizedText(
                name,
                tuple(tokenizer.id_to_token(i) for i in ids),
                ids,
                sum(i == unk for i in ids) if unk is not None else 0,
            )
        )
    return results
