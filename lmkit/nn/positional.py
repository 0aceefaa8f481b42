"""Three ways to tell a transformer where each token sits.

Introduced in chapter 5. Attention by itself is blind to order: permuting the input tokens
permutes the outputs the same way. Position information has to be added:

- :class:`LearnedPositionalEmbedding`: one trained vector per position (GPT-2).
- :class:`SinusoidalPositionalEncoding`: fixed sines and cosines of geometric frequencies
  ("Attention Is All You Need", 2017). Nothing to train.
- :class:`RotaryEmbedding` (RoPE, 2021): rotate queries and keys by an angle proportional to
  their position, so their dot product depends only on the *distance* between positions.

The first two produce a ``(T, C)`` table that is added to the token embeddings; rotary is
applied inside attention to q and k. All three take an ``offset`` so a KV cache can ask for
positions ``offset … offset+T-1`` while generating.
"""

from __future__ import annotations

import torch
from torch import nn

from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int, check_number


def _check_window(seq_len: int, offset: int, max_len: int, what: str) -> None:
    for name, value in (("seq_len", seq_len), ("offset", offset)):
        check_int(f"{what}: {name}", value, error=InputError)
    if offset + seq_len > max_len:
        raise InputError(
            f"{what}: positions {offset}..{offset + seq_len - 1} are beyond max_len={max_len}. "
            f"Use a shorter input or build the module with a larger max_len."
        )


class LearnedPositionalEmbedding(nn.Module):
    """A trainable ``(max_len, dim)`` table; row ``p`` is added to the token at position ``p``.

    GPT-2 uses this. It cannot say anything about positions it never saw in training, so
    the context length is fixed at ``max_len``. Introduced in chapter 5.
    """

    def __init__(self, max_len: int, dim: int) -> None:
        super().__init__()
        max_len = check_int("max_len", max_len, minimum=1)
        dim = check_int("dim", dim, minimum=1)
        self.max_len = max_len
        self.weight = nn.Parameter(torch.empty(max_len, dim))
        nn.init.normal_(self.weight, mean=0.0, std=0.02)

    def forward(self, seq_len: int, offset: int = 0) -> torch.Tensor:
        """Embeddings of positions ``offset … offset+seq_len-1``: ``(seq_len, dim)``."""
        _check_window(seq_len, offset, self.max_len, "LearnedPositionalEmbedding")
        # A slice of the table, not an embedding lookup: positions are consecutive.
        return self.weight[offset : offset + seq_len]


def sinusoidal_table(max_len: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """The 2017 table: ``PE[p, 2i] = sin(p / base^(2i/dim))``, ``PE[p, 2i+1] = cos(same)``."""
    max_len = check_int("max_len", max_len, minimum=1)
    dim = check_int("dim", dim, minimum=1)
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    pair = torch.arange(0, dim, 2, dtype=torch.float64)  # the "2i" of the formula
    angle = position / base ** (pair / dim)  # (max_len, ceil(dim/2))
    table = torch.zeros(max_len, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : dim // 2])  # odd dim: the last sine has no cosine
    return table.to(torch.get_default_dtype())


class SinusoidalPositionalEncoding(nn.Module):
    """Fixed sine/cosine position vectors ("Attention Is All You Need", section 3.5).

    Each pair of dimensions is a clock ticking at its own frequency, from one turn every
    ``2π`` positions down to one every ``2π·base`` positions; together they give every
    position a unique, smoothly varying code. Nothing is trained, and the table is not
    saved in checkpoints (it is recomputed). Introduced in chapter 5.
    """

    def __init__(self, max_len: int, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        check_number("base", base, minimum=1, above=True)
        self.max_len = max_len
        self.register_buffer("table", sinusoidal_table(max_len, dim, base), persistent=False)

    def forward(self, seq_len: int, offset: int = 0) -> torch.Tensor:
        """Encodings of positions ``offset … offset+seq_len-1``: ``(seq_len, dim)``."""
        _check_window(seq_len, offset, self.max_len, "SinusoidalPositionalEncoding")
        return self.table[offset : offset + seq_len]


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``(x1, x2) -> (-x2, x1)`` on the two halves of the last dimension (a 90° turn per pair)."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` (..., T, D) by the angles whose cos/sin are given, each ``(T, D)``."""
    return x * cos + rotate_half(x) * sin


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE, Su et al. 2021) for queries and keys of one head size.

    Dimension ``i`` and ``i + D/2`` of a head form a pair (the "rotate half" layout used by
    GPT-NeoX and Llama), treated as a point in the plane and turned by the angle
    ``position · base^(-2i/D)``. Rotations compose, so ``rot(p)·q`` dotted with ``rot(s)·k``
    equals ``q`` dotted with ``rot(s - p)·k``: attention scores only see the relative
    distance. Applied to q and k inside attention (never to v); nothing is trained.
    Introduced in chapter 5.
    """

    def __init__(self, head_dim: int, max_len: int, base: float = 10000.0) -> None:
        super().__init__()
        head_dim = check_int("head_dim", head_dim, minimum=1)
        max_len = check_int("max_len", max_len, minimum=1)
        if head_dim % 2:
            raise ConfigError(
                f"RotaryEmbedding rotates pairs of dimensions, so head_dim must be even, got {head_dim}."
            )
        check_number("base", base, minimum=1, above=True)
        self.head_dim = head_dim
        self.max_len = max_len
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        angle = torch.outer(torch.arange(max_len, dtype=torch.float64), inv_freq)  # (L, D/2)
        angle = torch.cat((angle, angle), dim=-1)  # (L, D): both halves of a pair share one angle
        dtype = torch.get_default_dtype()
        self.register_buffer("cos_table", angle.cos().to(dtype), persistent=False)
        self.register_buffer("sin_table", angle.sin().to(dtype), persistent=False)

    def cos_sin(
        self, seq_len: int, offset: int = 0, dtype: torch.dtype | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of the angles for positions ``offset … offset+seq_len-1``, each (T, D)."""
        _check_window(seq_len, offset, self.max_len, "RotaryEmbedding")
        cos = self.cos_table[offset : offset + seq_len]
        sin = self.sin_table[offset : offset + seq_len]
        if dtype is not None and dtype != cos.dtype:
            cos, sin = cos.to(dtype), sin.to(dtype)
        return cos, sin

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, offset: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate ``q`` (..., T, D) and ``k`` (..., T, D) as tokens at ``offset … offset+T-1``."""
        for name, x in (("q", q), ("k", k)):
            if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[-1] != self.head_dim:
                shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
                raise InputError(
                    f"RotaryEmbedding expects {name} of shape (..., T, {self.head_dim}), got {shape}."
                )
        if q.shape[-2] != k.shape[-2]:
            raise InputError(
                f"q and k must hold the same positions (same T), got {q.shape[-2]} and {k.shape[-2]}."
            )
        cos, sin = self.cos_sin(q.shape[-2], offset, dtype=q.dtype)
        return apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)


__all__ = [
    "LearnedPositionalEmbedding",
    "RotaryEmbedding",
    "SinusoidalPositionalEncoding",
    "apply_rotary",
    "rotate_half",
    "sinusoidal_table",
]
