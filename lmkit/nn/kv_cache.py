"""A preallocated key/value cache, so generation does not recompute the whole prefix each step.

Introduced in chapter 8 (fast generation). During generation the keys and values of tokens
already seen never change, so each layer can keep them and only compute the new token's.
The cache holds one big tensor for keys and one for values, allocated once at full size:
every step writes the new keys/values *in place* at ``[length : length + T]`` and attention
reads ``[: length + T]``. Growing tensors with ``torch.cat`` instead would copy the whole
prefix every step (quadratic work), which is exactly what the cache is there to avoid.

Use it under ``torch.no_grad()`` (or ``torch.inference_mode()``): it is an inference tool,
and writing in place into a tensor that autograd tracks would break backward.
"""

from __future__ import annotations

import torch

from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int


class KVCache:
    """Keys and values of every layer for up to ``max_len`` positions of ``batch_size`` rows.

    Storage shape, for keys and values alike: ``(n_layer, B, n_head, max_len, head_dim)``.
    Usually made by :meth:`lmkit.gpt.model.GPT.new_kv_cache`, which fills in the model's sizes.
    Introduced in chapter 8.
    """

    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        n_head: int,
        head_dim: int,
        max_len: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        sizes = {
            "n_layer": n_layer,
            "batch_size": batch_size,
            "n_head": n_head,
            "head_dim": head_dim,
            "max_len": max_len,
        }
        n_layer, batch_size, n_head, head_dim, max_len = (
            check_int(f"KVCache {name}", value, minimum=1) for name, value in sizes.items()
        )
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        if not dtype.is_floating_point:
            raise ConfigError(f"KVCache dtype must be a floating point dtype, got {dtype}.")
        shape = (n_layer, batch_size, n_head, max_len, head_dim)
        # torch.empty: positions at or beyond `length` are never read, so no need to zero them.
        self.keys = torch.empty(shape, device=device, dtype=dtype)
        self.values = torch.empty(shape, device=device, dtype=dtype)
        self.n_layer = n_layer
        self.n_head = n_head
        self.head_dim = head_dim
        self.max_len = max_len
        self._length = 0

    # ----------------------------------------------------------------------------- properties
    @property
    def length(self) -> int:
        """Number of positions stored so far (the next token's position)."""
        return self._length

    @property
    def batch_size(self) -> int:
        """Number of rows (sequences) the cache holds; changes when :meth:`reorder` selects rows."""
        return self.keys.shape[1]

    @property
    def device(self) -> torch.device:
        """Device of the cache tensors."""
        return self.keys.device

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of the cache tensors."""
        return self.keys.dtype

    def __repr__(self) -> str:
        return (
            f"KVCache(length={self.length}, max_len={self.max_len}, batch_size={self.batch_size}, "
            f"n_layer={self.n_layer}, n_head={self.n_head}, head_dim={self.head_dim}, "
            f"dtype={self.dtype}, device={self.device})"
        )

    # ------------------------------------------------------------------------------- writing
    def check_room(self, new_tokens: int) -> None:
        """Raise :class:`ConfigError` if ``new_tokens`` more positions would not fit."""
        if self._length + new_tokens > self.max_len:
            raise ConfigError(
                f"The KV cache is full: it holds {self._length} of max_len={self.max_len} positions "
                f"and {new_tokens} more were given. Crop the cache (cache.crop(n)), reset it "
                f"(cache.reset()) and re-feed a shorter context, or make a larger cache with "
                f"model.new_kv_cache(batch_size, max_len=...)."
            )

    def update(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write this step's ``k``/``v`` (B, n_head, T, head_dim) for ``layer`` at ``length``.

        Returns views of all keys and values stored for that layer so far, including the new
        ones: ``(B, n_head, length + T, head_dim)``. ``length`` itself only moves on when the
        model calls :meth:`advance` after the last layer, so every layer writes at the same place.
        """
        t = k.shape[2]
        self.check_room(t)
        if self.keys.is_inference() and not torch.is_inference_mode_enabled():
            # Made under torch.inference_mode() but used outside it, where inference tensors
            # may not be written in place: switch to ordinary copies once.
            self.keys, self.values = self.keys.clone(), self.values.clone()
        end = self._length + t
        # In-place slice assignment: no reallocation, no copy of the prefix.
        self.keys[layer, :, :, self._length : end] = k
        self.values[layer, :, :, self._length : end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def advance(self, new_tokens: int) -> None:
        """Mark ``new_tokens`` positions as stored (called once per forward, after all layers)."""
        self.check_room(new_tokens)
        self._length += new_tokens

    # ---------------------------------------------------------------------------- management
    def reset(self) -> None:
        """Forget everything stored (the memory is kept and reused)."""
        self._length = 0

    def crop(self, length: int) -> None:
        """Keep only the first ``length`` positions (e.g. to drop rejected draft tokens)."""
        hint = f" The cache holds {self._length} positions."
        self._length = check_int(
            "crop length", length, maximum=self._length, hint=hint, error=InputError
        )

    def reorder(self, index: torch.Tensor) -> None:
        """Select batch rows by ``index`` (a 1-D LongTensor), as beam search needs.

        ``index`` may repeat rows and may have a different length than the current batch
        (e.g. one prompt expanded to ``num_beams`` rows).
        """
        if not isinstance(index, torch.Tensor) or index.dim() != 1:
            got = (
                f"a tensor of shape {tuple(index.shape)}"
                if isinstance(index, torch.Tensor)
                else type(index).__name__
            )
            raise InputError(f"reorder index must be a 1-D LongTensor of batch rows, got {got}.")
        if index.dtype not in (torch.int64, torch.int32) or index.numel() == 0:
            raise InputError(
                f"reorder index must be a non-empty integer tensor, got dtype={index.dtype} "
                f"with {index.numel()} elements."
            )
        lo, hi = (int(x) for x in torch.aminmax(index))
        if lo < 0 or hi >= self.batch_size:
            raise InputError(
                f"reorder index values must be in [0, {self.batch_size}) (the cache batch size), "
                f"got values in [{lo}, {hi}]."
            )
        index = index.to(device=self.device, dtype=torch.long)
        # Only the stored prefix is worth copying; the rest of the new buffers stays unwritten.
        shape = (self.n_layer, index.numel(), self.n_head, self.max_len, self.head_dim)
        keys = torch.empty(shape, device=self.device, dtype=self.dtype)
        values = torch.empty(shape, device=self.device, dtype=self.dtype)
        n = self._length
        keys[:, :, :, :n] = self.keys[:, :, :, :n].index_select(1, index)
        values[:, :, :, :n] = self.values[:, :, :, :n].index_select(1, index)
        self.keys, self.values = keys, values

    def memory_bytes(self) -> int:
        """Bytes held by the key and value tensors together."""
        return 2 * self.keys.numel() * self.keys.element_size()


__all__ = ["KVCache"]
