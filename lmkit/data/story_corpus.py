"""The bilingual story corpus the story-world models learn from, and its token stream.

Introduced in chapter 9, where tiny-gpt is trained on it; chapter 11's tiny-bert and chapter
8's live training read the same stories. :func:`story_texts` draws seeded stories, each in
English or Chinese; :func:`encode_stories` turns them into one token stream with
``<|endoftext|>`` before every story, so a model learns where stories begin and end.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from lmkit.data.story_world import StoryWorld
from lmkit.errors import ConfigError, TokenizerError

if TYPE_CHECKING:
    from lmkit.tokenizers import Tokenizer

__all__ = ["EOT", "LANGS", "encode_stories", "eot_id", "story_texts"]

EOT = "<|endoftext|>"
LANGS = ("en", "zh")


def story_texts(seed: int, n_stories: int) -> list[tuple[str, str]]:
    """``n_stories`` stories as ``(lang, text)``, the language drawn by a seeded coin flip.

    Each story comes from its own frame, so the corpus holds no translation pairs: nothing
    tempts the model to spend its capacity on copying names from one language to the other.
    Introduced in chapter 9.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}.")
    if not isinstance(n_stories, int) or isinstance(n_stories, bool) or n_stories < 1:
        raise ConfigError(f"n_stories must be an integer >= 1, got {n_stories!r}.")
    world, coin = StoryWorld(seed), random.Random(seed + 1_000_003)
    out = []
    for _ in range(n_stories):
        lang = "en" if coin.random() < 0.5 else "zh"
        out.append((lang, world.story(lang).text))
    return out


def eot_id(tokenizer: Tokenizer) -> int:
    """The id of ``<|endoftext|>``; a clear error for a tokenizer without it. Chapter 9."""
    if EOT not in getattr(tokenizer, "special_tokens", {}):
        raise TokenizerError(
            f"This tokenizer has no {EOT!r} special token, which separates stories. Use the "
            "tokenizer saved with the model (tokenizer.json)."
        )
    return tokenizer.special_tokens[EOT]


def encode_stories(tokenizer: Tokenizer, stories: Sequence[tuple[str, str]]) -> np.ndarray:
    """One token stream: ``<|endoftext|>`` before every story. Returns a 1-D int32 array.

    Introduced in chapter 9.
    """
    eot = eot_id(tokenizer)
    ids: list[int] = []
    for _, text in stories:
        ids.append(eot)
        ids.extend(tokenizer.encode(text))
    return np.asarray(ids, dtype=np.int32)
