"""What the two story-world BERT recipes feed their models: ``[CLS] text [SEP]`` ids, batched
by length (little padding) in a seeded order, right-padded with an attention mask.

Introduced in chapter 11 (tiny-bert and tiny-sentiment).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

__all__ = ["encode_texts", "length_batches"]


def encode_texts(tokenizer: Any, texts: Sequence[str], max_len: int) -> list[list[int]]:
    """``[CLS] text [SEP]`` for every text, cut to ``max_len`` tokens (keeping the [SEP])."""
    out = []
    for text in texts:
        ids = tokenizer.encode(text)
        out.append(ids if len(ids) <= max_len else [*ids[: max_len - 1], tokenizer.sep_id])
    return out


def length_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, pool: int = 50
) -> list[list[int]]:
    """Index batches of similar lengths (little padding), in a seeded random order.

    Examples are shuffled, cut into pools of ``pool`` batches, sorted by length inside each
    pool and cut into batches; the batches are then shuffled.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    size = batch_size * pool
    for start in range(0, len(order), size):
        chunk = sorted(order[start : start + size], key=lengths.__getitem__)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


