"""One key/value cache for every request the engine is decoding: a row per request.

Introduced in chapter 14. A :class:`~lmkit.nn.kv_cache.KVCache` has one ``length`` for all of
its rows, because ``generate`` moves every row forward together. A server's requests are at
different positions, so a :class:`RowKVCache` keeps one length per row: row ``r`` holds its
request's keys and values left-aligned at ``[0 : lengths[r]]`` and a decoding step writes the
new token's at ``lengths[r]``, for all rows in one indexed write per layer
(:func:`lmkit.serving.batched_step.decode_step`). The positions past a row's length are
hidden by the attention mask; they are zeros or an earlier request's keys, never read.

A request is prefilled alone, exactly as ``generate`` prefills it, in its own batch-1 cache;
:meth:`load_row` then copies that prefix into the request's row once. Per step nothing is
copied but the new token's keys.
"""

from __future__ import annotations

from typing import Any

import torch

from lmkit.errors import InputError
from lmkit.nn.kv_cache import KVCache

__all__ = ["RowKVCache"]


class RowKVCache:
    """Keys and values of ``rows`` requests, each at its own length (up to ``max_len``).

    Storage ``(n_layer, rows, n_head, max_len, head_dim)``, made with the model's sizes by
    :meth:`for_model`. Introduced in chapter 14.
    """

    def __init__(self, store: KVCache) -> None:
        # Zeros, not torch.empty: masked positions get weight 0, and 0 * NaN would be NaN.
        store.keys.zero_()
        store.values.zero_()
        self.keys, self.values = store.keys, store.values
        self.max_len = store.max_len
        self.lengths = [0] * store.batch_size  # positions stored, per row

    @classmethod
    def for_model(cls, model: Any, rows: int, device: torch.device) -> RowKVCache:
        """A cache of ``rows`` rows of ``model.config.block_size`` positions."""
        return cls(model.new_kv_cache(rows, model.config.block_size, device=device))

    @property
    def rows(self) -> int:
        return self.keys.shape[1]

    def load_row(self, row: int, cache: KVCache) -> None:
        """Copy the prefix stored in a batch-1 ``cache`` into ``row`` (replacing what it held)."""
        if cache.batch_size != 1 or cache.length > self.max_len or not 0 <= row < self.rows:
            raise InputError(
                f"load_row needs a batch-1 cache of at most {self.max_len} positions and a row "
                f"in [0, {self.rows}); got batch {cache.batch_size}, length {cache.length}, "
                f"row {row}."
            )
        n = cache.length
        self.keys[:, row, :, :n] = cache.keys[:, 0, :, :n]
        self.values[:, row, :, :n] = cache.values[:, 0, :, :n]
        self.lengths[row] = n

    def update(
        self,
        layer: int,
        rows: torch.Tensor,
        lengths: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write one new key/value per row, ``k``/``v`` (B, n_head, 1, head_dim), at row
        ``rows[b]``, position ``lengths[b]``; return the keys and values of those rows,
        ``(B, n_head, max(lengths) + 1, head_dim)``, padding included."""
        self.keys[layer, rows, :, lengths] = k[:, :, 0]
        self.values[layer, rows, :, lengths] = v[:, :, 0]
        span, b = int(lengths.max()) + 1, len(rows)
        if torch.equal(rows, torch.arange(b, device=rows.device)):  # rows 0..B-1: no copy
            return self.keys[layer, :b, :, :span], self.values[layer, :b, :, :span]
        keys = self.keys[layer, :, :, :span].index_select(0, rows)
        return keys, self.values[layer, :, :, :span].index_select(0, rows)

    def advance(self, rows: list[int]) -> None:
        """Mark one more position stored in each of ``rows`` (after the last layer)."""
        for row in rows:
            self.lengths[row] += 1
