"""From text to a prompt and back: the one place that decides what a causal LM is fed.

A story-world GPT saw ``<|endoftext|>`` before every story in training, so a prompt is fed after
it (``start_id``): that is what a *story start* looks like to the model. Every caller (the
Generate and Attention pages, :class:`lmkit.hub.LoadedModel`, live training, the recipes) builds
its ids with :func:`prompt_ids` and cuts the output with :func:`continuation`, so the same prompt
conditions the model the same way everywhere. Introduced in chapter 10.
"""

from __future__ import annotations

from typing import Protocol

import torch

from lmkit.errors import InputError
from lmkit.validators import is_int


class Tokenizer(Protocol):
    """What the text helpers need from a tokenizer."""

    def encode(self, text: str) -> list[int]: ...  # pragma: no cover
    def decode(self, ids: list[int]) -> str: ...  # pragma: no cover


def encode_prompt(tokenizer: object, prompt: object) -> list[int]:
    """``prompt``'s token ids, with a clear error for a tokenizer or prompt of the wrong kind."""
    if not callable(getattr(tokenizer, "encode", None)) or not callable(
        getattr(tokenizer, "decode", None)
    ):
        raise InputError(
            "tokenizer must have encode(str) -> list[int] and decode(list[int]) -> str, got "
            f"{type(tokenizer).__name__}."
        )
    if not isinstance(prompt, str):
        raise InputError(f"prompt must be a str, got {type(prompt).__name__}.")
    ids = tokenizer.encode(prompt)
    ids = getattr(ids, "ids", ids)  # a `tokenizers` Encoding carries its ids in .ids
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    if not all(is_int(i) for i in ids):
        raise InputError("tokenizer.encode must return a list of int token ids.")
    return ids


def prompt_ids(
    tokenizer: object, prompt: object, *, start_id: int | None = None, room: int | None = None
) -> list[int]:
    """The ids to feed: ``start_id`` (when given) followed by ``prompt``'s tokens.

    With ``room``, the prompt is cut from the left to fit ``room`` ids in all; the start token is
    kept, because it is what tells the model a text begins here.
    """
    ids = encode_prompt(tokenizer, prompt)
    start = [] if start_id is None else [start_id]
    if room is not None:
        keep = room - len(start)
        if keep < 1:
            raise InputError(f"room={room} leaves no space for the prompt's tokens.")
        ids = ids[-keep:]
    return start + ids


def continuation(new_ids: list[int], eos_id: int | None) -> list[int]:
    """The generated ids up to (not including) the first eos."""
    if eos_id is not None and eos_id in new_ids:
        return new_ids[: new_ids.index(eos_id)]
    return new_ids


__all__ = ["Tokenizer", "continuation", "encode_prompt", "prompt_ids"]
