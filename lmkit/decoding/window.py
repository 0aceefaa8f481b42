"""The context window every decoding loop feeds: prefill, one token per step, and sliding.

A model knows only ``block_size`` positions. When the window fills up we keep the last
``block_size // 2`` tokens and prefill them again, so generation runs past ``block_size`` and the
KV cache is rebuilt once every ``block_size // 2`` tokens instead of every step.
Only the last position's logits are read, so a model whose forward takes
``last_position_only`` (lmkit's GPT) is asked for those alone, as nanoGPT does at inference:
without the cache that skips the output layer, the largest matmul, for every other position.
Introduced in chapter 10.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch


def last_logits(output: Any) -> torch.Tensor:
    logits = output.logits if hasattr(output, "logits") else output
    if isinstance(logits, tuple):  # nanoGPT style (logits, loss)
        logits = logits[0]
    return logits[:, -1, :].float()  # (B, V)


def accepts_last_position_only(model: Any) -> bool:
    """Whether ``model`` names a ``last_position_only`` keyword (lmkit's GPT does), so a
    decoding step can skip the output layer for every position but the last."""
    try:
        return "last_position_only" in inspect.signature(model.forward).parameters
    except (AttributeError, TypeError, ValueError):  # no forward, or a C function
        return False


class ContextWindow:
    """Feeds a growing (B, L) sequence to the model and returns the last position's logits.

    The model sees ``seq[:, start:]``. When that would exceed ``block_size`` we slide ``start``
    so only the last ``block_size // 2`` tokens remain, and (with a cache) prefill them again.
    """

    def __init__(self, model: Any, batch_size: int, device: torch.device, use_cache: bool):
        self.model = model
        self.block_size = model.config.block_size
        self.keep = max(1, self.block_size // 2)
        self.start = 0
        self.cache = None
        # Only the last position's logits are ever read; models that can skip the rest do.
        self.extra = {"last_position_only": True} if accepts_last_position_only(model) else {}
        if use_cache and hasattr(model, "new_kv_cache"):
            self.cache = model.new_kv_cache(batch_size, self.block_size, device=device)

    def _forward_window(self, seq: torch.Tensor) -> torch.Tensor:
        window = seq[:, self.start :]  # (B, <= block_size)
        if self.cache is None:
            return last_logits(self.model(window, **self.extra))
        self.cache.reset()
        return last_logits(self.model(window, kv_cache=self.cache, **self.extra))

    def prefill(self, seq: torch.Tensor) -> torch.Tensor:
        """Logits (B, V) after the prompt, cropped to its last ``block_size`` tokens."""
        self.start = max(0, seq.shape[1] - self.block_size)
        return self._forward_window(seq)

    def advance(self, seq: torch.Tensor) -> torch.Tensor:
        """Logits (B, V) after ``seq``, which has one more token than at the last call."""
        if seq.shape[1] - self.start > self.block_size:
            self.start = seq.shape[1] - self.keep
            return self._forward_window(seq)
        if self.cache is None:
            return self._forward_window(seq)
        return last_logits(self.model(seq[:, -1:], kv_cache=self.cache, **self.extra))

    def reorder(self, index: torch.Tensor) -> None:
        """Keep cache rows ``index`` (beam search); the caller reorders ``seq`` the same way."""
        if self.cache is not None:
            self.cache.reorder(index)


__all__ = ["ContextWindow", "accepts_last_position_only", "last_logits"]
