"""Input checks shared by every decoding loop (:mod:`~lmkit.decoding.generation` and
:mod:`~lmkit.decoding.beam`): what a model must offer, how token ids arrive, and eval mode.

Introduced in chapter 10.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from lmkit.errors import InputError
from lmkit.validators import is_int

MAX_NEW_TOKENS = 100_000


def check_model(model: object) -> tuple[int, int]:
    """Return (block_size, vocab_size) or raise :class:`InputError` if ``model`` does not fit."""
    config = getattr(model, "config", None)
    block, vocab = getattr(config, "block_size", None), getattr(config, "vocab_size", None)
    if not callable(model) or not is_int(block) or not is_int(vocab) or block < 1 or vocab < 1:
        raise InputError(
            f"model must be a language model like lmkit.gpt.model.GPT (callable, with config.block_size "
            f"and config.vocab_size), got {type(model).__name__}."
        )
    return block, vocab


def model_device(model: Any) -> torch.device:
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    first = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return first.device if first is not None else torch.device("cpu")


def as_batch(idx: object, vocab_size: int, bos_id: int | None) -> torch.LongTensor:
    """Token ids as a (B, T) LongTensor on the CPU: from a list of ints, a 1-D or a 2-D tensor."""
    if isinstance(idx, torch.Tensor):
        if idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex():
            raise InputError(
                f"idx must hold integer token ids, got dtype {idx.dtype}. "
                "Tokenize text first (tokenizer.encode) or use .long() if the values are ids."
            )
        if idx.dim() not in (1, 2):
            raise InputError(f"idx must be 1-D (T,) or 2-D (B, T), got shape {tuple(idx.shape)}.")
        batch = idx.detach().to("cpu", torch.long)
        batch = batch.unsqueeze(0) if batch.dim() == 1 else batch  # (B, T)
    elif isinstance(idx, Sequence) and not isinstance(idx, (str, bytes)):
        if not all(is_int(i) for i in idx):
            raise InputError(
                "idx as a list must contain only int token ids, e.g. [15496, 995]; for a batch "
                "pass a 2-D LongTensor."
            )
        bad = [i for i in idx if not 0 <= i < vocab_size]
        if bad:  # checked here too: a huge int would overflow torch.long
            raise InputError(
                f"Token ids must lie in [0, {vocab_size}) (the model's vocabulary), got {bad[:5]}."
            )
        batch = torch.tensor([list(idx)], dtype=torch.long).reshape(1, len(idx))
    else:
        raise InputError(
            f"idx must be a list of ints or a LongTensor of token ids, got {type(idx).__name__}. "
            "For text use generate_text(model, tokenizer, prompt)."
        )
    if batch.shape[0] == 0:
        raise InputError("idx has no rows (batch size 0); give at least one prompt.")
    if batch.shape[1] == 0:
        if bos_id is None:
            raise InputError(
                "The prompt is empty: the model needs at least one token to continue. Give a "
                "prompt, or set bos_id (e.g. the tokenizer's beginning/end-of-text id)."
            )
        batch = torch.full((batch.shape[0], 1), bos_id, dtype=torch.long)
    lo, hi = int(batch.min()), int(batch.max())
    if lo < 0 or hi >= vocab_size:
        raise InputError(
            f"Token ids must lie in [0, {vocab_size}) (the model's vocabulary), got values in "
            f"[{lo}, {hi}]. Check that the tokenizer matches the model."
        )
    return batch


def warn_if_cropped(length: int, block_size: int) -> None:
    if length > block_size:
        warnings.warn(
            f"The prompt has {length} tokens but the model's context is block_size={block_size}; "
            f"only the last {block_size} tokens are used.",
            UserWarning,
            stacklevel=3,
        )


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """Switch off dropout for the duration, then restore whatever mode the model was in."""
    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train(True)


__all__ = ["MAX_NEW_TOKENS", "as_batch", "check_model", "eval_mode", "model_device", "warn_if_cropped"]
