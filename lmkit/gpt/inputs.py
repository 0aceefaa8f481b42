"""Input checks for :class:`lmkit.gpt.model.GPT`: token ids, targets and the KV cache, with clear errors.

Introduced in chapter 7. Kept apart so that the model file reads as the architecture only
(:mod:`lmkit.bert.inputs` does the same for BERT).
"""

from __future__ import annotations

import torch

from lmkit.errors import ConfigError, InputError
from lmkit.gpt.config import GPTConfig
from lmkit.nn.kv_cache import KVCache

__all__ = ["IGNORE_INDEX", "check_inputs", "check_targets"]

IGNORE_INDEX = -100  # targets with this value do not count in the loss (padding, prompts)


def check_inputs(
    config: GPTConfig,
    device: torch.device,
    idx: object,
    targets: object,
    kv_cache: object,
    *,
    trainable: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Check a GPT's inputs against its ``config`` and parameter ``device``; return ``idx`` and
    ``targets`` as LongTensors. ``trainable`` says whether the weights need gradients (a KV
    cache then needs ``torch.no_grad()``). Every problem is an :class:`InputError` (or a
    :class:`ConfigError` for a cache made for another model) saying what to do."""
    vocab, block = config.vocab_size, config.block_size
    if not isinstance(idx, torch.Tensor):
        raise InputError(f"idx must be a LongTensor of token ids (B, T), got {type(idx).__name__}.")
    if idx.dim() != 2:
        hint = " Add a batch dimension with idx.unsqueeze(0)." if idx.dim() == 1 else ""
        raise InputError(f"idx must be 2-D (batch, time), got shape {tuple(idx.shape)}.{hint}")
    if idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex():
        raise InputError(
            f"idx must hold integer token ids (torch.long), got dtype {idx.dtype}. "
            f"Use idx.long() if the values are ids."
        )
    b, t = idx.shape
    if b == 0 or t == 0:
        raise InputError(f"idx must hold at least one token per row, got shape {(b, t)}.")
    if t > block:
        raise InputError(
            f"Sequence length {t} is longer than block_size={block}. Crop the context to the "
            f"last {block} tokens, e.g. idx[:, -{block}:]."
        )
    if idx.device.type != device.type:
        raise InputError(
            f"idx is on {idx.device} but the model is on {device}; move it with "
            f"idx.to(model.device)."
        )
    # Reading the range back is a device sync and a graph break, so compiled code skips it
    # (an out-of-range id then fails inside the embedding lookup instead).
    if not torch.compiler.is_compiling():
        lo, hi = torch.stack(torch.aminmax(idx)).tolist()  # one device sync for both
        if lo < 0 or hi >= vocab:
            raise InputError(
                f"Token ids must be in [0, {vocab}) (vocab_size), got values in [{lo}, {hi}]. "
                f"Check that the tokenizer matches the model."
            )
    if idx.dtype != torch.long:
        idx = idx.long()
    if kv_cache is not None:
        if not isinstance(kv_cache, KVCache):
            raise InputError(f"kv_cache must be a KVCache, got {type(kv_cache).__name__}.")
        if torch.is_grad_enabled() and trainable:
            # Autograd would chain every step's graph through the cache buffers: memory
            # grows each step and backward fails once a slot is overwritten.
            raise InputError(
                "A KV cache is for inference only: call the model under torch.no_grad() or "
                "torch.inference_mode() (lmkit's generate functions do this for you)."
            )
        c = config
        if (kv_cache.n_layer, kv_cache.n_head, kv_cache.head_dim) != (
            c.n_layer,
            c.n_head,
            c.head_dim,
        ):
            raise ConfigError(
                f"This KV cache was made for another model (n_layer={kv_cache.n_layer}, "
                f"n_head={kv_cache.n_head}, head_dim={kv_cache.head_dim}); use "
                f"model.new_kv_cache(batch_size)."
            )
        if kv_cache.batch_size != b:
            raise InputError(
                f"idx has batch size {b} but the KV cache holds {kv_cache.batch_size} rows. "
                f"Make the cache with model.new_kv_cache({b}) or reorder it."
            )
        if kv_cache.max_len > block:
            raise ConfigError(f"KV cache max_len={kv_cache.max_len} exceeds block_size={block}.")
        kv_cache.check_room(t)
    if targets is not None:
        targets = check_targets(config, targets, idx)
    return idx, targets


def check_targets(config: GPTConfig, targets: object, idx: torch.Tensor) -> torch.Tensor:
    """``targets`` as a LongTensor shaped like ``idx``: ids in [0, vocab_size) or
    :data:`IGNORE_INDEX`. Every problem is an :class:`InputError` saying what to do."""
    if not isinstance(targets, torch.Tensor):
        raise InputError(f"targets must be a LongTensor, got {type(targets).__name__}.")
    if targets.shape != idx.shape:
        raise InputError(
            f"targets must have the same shape as idx {tuple(idx.shape)}, got "
            f"{tuple(targets.shape)}. targets[b, t] is the token that follows idx[b, t]."
        )
    if targets.dtype == torch.bool or targets.is_floating_point() or targets.is_complex():
        raise InputError(f"targets must hold integer token ids, got dtype {targets.dtype}.")
    vocab = config.vocab_size
    if torch.compiler.is_compiling():
        # As for idx: reading the check back would break the graph in two. The compiled loss
        # still stops at an out-of-range target ("index out of bounds"); the Trainer checks
        # its data's token ids before the first step.
        return targets.long()
    bad = (targets != IGNORE_INDEX) & ((targets < 0) | (targets >= vocab))
    if bool(bad.any()):
        raise InputError(
            f"targets must be token ids in [0, {vocab}) or {IGNORE_INDEX} (ignored), got "
            f"{targets[bad][:5].tolist()} among others."
        )
    return targets.long()
