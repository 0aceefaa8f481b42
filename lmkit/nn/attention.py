"""Attention, written out: the function, multi-head attention, and GPT's causal self-attention.

Introduced in chapter 6. Everything here is the formula ``softmax(Q Kᵀ / √d_k) V`` plus masks.

Mask conventions (one per argument, the same everywhere in lmkit):

- ``causal=True``: query ``i`` may only look at keys at or before its own position. When
  there are fewer queries than keys (a KV cache: the queries are the *last* ``L`` of ``S``
  positions) the triangle is aligned to the bottom-right, so query ``i`` sits at position
  ``S - L + i``. (``torch.nn.functional.scaled_dot_product_attention`` aligns it top-left;
  both agree when ``L == S``.)
- ``key_padding_mask``: ``(B, S)`` bool, **True marks padding** to ignore (as in
  ``nn.MultiheadAttention``).
- ``attn_mask``: bool, **True means "may attend"** (as in ``F.scaled_dot_product_attention``;
  note ``nn.MultiheadAttention`` uses the opposite for bool masks), or a float mask that is
  added to the scores (``-inf`` blocks).

A query row whose keys are *all* masked has nothing to attend to. Softmax over all ``-inf``
would give NaN; here such a row gets all-zero weights and an all-zero output instead, so a
padded batch never poisons the loss with NaN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.errors import ConfigError, InputError
from lmkit.nn.kv_cache import KVCache
from lmkit.nn.linear import Linear
from lmkit.nn.positional import RotaryEmbedding, apply_rotary
from lmkit.validators import check_int


def _shape(x: object) -> str:
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


def _check_qkv(q: object, k: object, v: object) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or not x.is_floating_point():
            raise InputError(
                f"{name} must be a floating point tensor of shape (..., length, dim), got "
                f"{_shape(x)}{' with dtype ' + str(x.dtype) if isinstance(x, torch.Tensor) else ''}."
            )
    if q.shape[-1] != k.shape[-1]:
        raise InputError(
            f"q and k must have the same last dimension d_k, got q {_shape(q)} and k {_shape(k)}."
        )
    if k.shape[-2] != v.shape[-2]:
        raise InputError(
            f"k and v must have the same number of positions, got k {_shape(k)} and v {_shape(v)}."
        )
    try:
        torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError as exc:
        raise InputError(
            f"q, k and v must have matching batch/head dimensions, got {_shape(q)}, {_shape(k)} "
            f"and {_shape(v)}."
        ) from exc


def causal_mask(q_len: int, k_len: int, device: torch.device | None = None) -> torch.Tensor:
    """Bool ``(q_len, k_len)``, True where query ``i`` (at position ``k_len - q_len + i``) may look."""
    offset = k_len - q_len
    rows = torch.arange(q_len, device=device).unsqueeze(1)
    cols = torch.arange(k_len, device=device).unsqueeze(0)
    return cols <= rows + offset


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    key_padding_mask: torch.Tensor | None = None,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    return_weights: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q kᵀ / √d_k + masks) v``, step by step, for q (..., L, d_k), k (..., S, d_k), v (..., S, d_v).

    Returns the output ``(..., L, d_v)``, or ``(output, weights)`` with ``weights`` of shape
    ``(..., L, S)`` (before dropout) when ``return_weights``. See the module docstring for the
    mask conventions and for what happens to fully masked rows (zeros, not NaN).
    Introduced in chapter 6.
    """
    _check_qkv(q, k, v)
    if not 0.0 <= dropout_p < 1.0:
        raise ConfigError(f"dropout_p must be in [0, 1), got {dropout_p!r}.")
    q_len, k_len = q.shape[-2], k.shape[-2]
    if causal and q_len > k_len:
        raise InputError(
            f"causal attention needs at least as many keys as queries, got {q_len} queries and "
            f"{k_len} keys."
        )

    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (..., L, S)

    # Collect every "may not attend" condition in one bool mask, then apply it once.
    blocked = None
    if causal:
        blocked = ~causal_mask(q_len, k_len, device=q.device)
    if key_padding_mask is not None:
        if (
            not isinstance(key_padding_mask, torch.Tensor)
            or key_padding_mask.dtype != torch.bool
            or key_padding_mask.dim() != 2
            or key_padding_mask.shape[1] != k_len
            or q.dim() < 3
            or key_padding_mask.shape[0] != q.shape[0]
        ):
            raise InputError(
                f"key_padding_mask must be a bool tensor of shape (B, S) = ({q.shape[0]}, {k_len}) "
                f"with True at padding, got {_shape(key_padding_mask)}"
                f"{' ' + str(key_padding_mask.dtype) if isinstance(key_padding_mask, torch.Tensor) else ''}."
            )
        # (B, S) -> (B, 1, …, 1, S) so it broadcasts over heads and queries.
        pad = key_padding_mask.view(q.shape[0], *([1] * (q.dim() - 2)), k_len)
        blocked = pad if blocked is None else blocked | pad
    if attn_mask is not None:
        if not isinstance(attn_mask, torch.Tensor) or attn_mask.shape[-1] != k_len:
            raise InputError(
                f"attn_mask must be a tensor broadcastable to (..., {q_len}, {k_len}), got "
                f"{_shape(attn_mask)}."
            )
        if attn_mask.dtype == torch.bool:
            blocked = ~attn_mask if blocked is None else blocked | ~attn_mask
        elif attn_mask.is_floating_point():
            scores = scores + attn_mask
        else:
            raise InputError(
                f"attn_mask must be bool (True = may attend) or float (added), got {attn_mask.dtype}."
            )
    if blocked is not None:
        scores = scores.masked_fill(blocked, float("-inf"))

    weights = torch.softmax(scores, dim=-1)
    if blocked is not None or attn_mask is not None:
        # A row with every key masked is all -inf, and softmax of that is 0/0 = NaN. Give such
        # rows zero weights instead (NaN coming from the inputs themselves is left alone).
        dead_rows = torch.isneginf(scores).all(dim=-1, keepdim=True)
        weights = weights.masked_fill(dead_rows, 0.0)
    attended = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    out = attended @ v  # (..., L, d_v)
    return (out, weights) if return_weights else out


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate q/k/v/out projections (self- or cross-attention).

    ``n_heads`` heads of size ``d_model / n_heads`` attend in parallel (one batched matmul,
    no loop over heads); their outputs are concatenated and mixed by ``out_proj``. Same
    maths and the same argument names as ``torch.nn.MultiheadAttention``, whose weights
    :meth:`load_from_torch` can copy in. Introduced in chapter 6.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        bias: bool = True,
        dropout: float = 0.0,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        d_model = check_int("d_model", d_model, minimum=1)
        n_heads = check_int("n_heads", n_heads, minimum=1)
        if d_model % n_heads:
            raise ConfigError(
                f"d_model ({d_model}) must be divisible by n_heads ({n_heads}) so each head gets "
                f"d_model / n_heads dimensions."
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}.")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.dropout, self.batch_first = dropout, batch_first
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
        average_attn_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``query`` (B, L, E) to ``key``/``value`` (B, S, E); they default to ``query``.

        Returns ``(output (B, L, E), weights)``; ``weights`` is None unless ``need_weights``,
        then ``(B, L, S)`` averaged over heads or ``(B, H, L, S)`` per head. With
        ``batch_first=False`` inputs and output are ``(L, B, E)``.
        """
        key = query if key is None else key
        value = key if value is None else value
        for name, x in (("query", query), ("key", key), ("value", value)):
            if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.d_model:
                layout = "(B, T, E)" if self.batch_first else "(T, B, E)"
                raise InputError(
                    f"{name} must be a 3-D tensor {layout} with E={self.d_model}, got {_shape(x)}."
                )
        if not self.batch_first:
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise InputError(
                f"query, key and value must share the batch size and key/value the length, got "
                f"{_shape(query)}, {_shape(key)}, {_shape(value)} (batch first)."
            )
        q = self._split_heads(self.q_proj(query))  # (B, H, L, hd)
        k = self._split_heads(self.k_proj(key))  # (B, H, S, hd)
        v = self._split_heads(self.v_proj(value))  # (B, H, S, hd)
        out, weights = scaled_dot_product_attention(
            q,
            k,
            v,
            causal=causal,
            key_padding_mask=key_padding_mask,
            attn_mask=attn_mask,
            dropout_p=self.dropout if self.training else 0.0,
            return_weights=True,
        )
        b, _, length, _ = out.shape
        out = self.out_proj(out.transpose(1, 2).reshape(b, length, self.d_model))  # (B, L, E)
        if not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, weights.mean(dim=1) if average_attn_weights else weights

    @torch.no_grad()
    def load_from_torch(self, reference: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of a ``torch.nn.MultiheadAttention`` with the same sizes; returns self.

        PyTorch packs q, k and v into one ``in_proj_weight`` of shape (3E, E), stacked in that
        order; we cut it into our three projections.
        """
        if not isinstance(reference, nn.MultiheadAttention):
            raise InputError(
                f"load_from_torch expects a torch.nn.MultiheadAttention, got {type(reference).__name__}."
            )
        if reference.embed_dim != self.d_model or reference.num_heads != self.n_heads:
            raise ConfigError(
                f"Size mismatch: this module has d_model={self.d_model}, n_heads={self.n_heads}; "
                f"the reference has embed_dim={reference.embed_dim}, num_heads={reference.num_heads}."
            )
        if not reference._qkv_same_embed_dim or reference.bias_k is not None:
            raise ConfigError(
                "Only nn.MultiheadAttention without kdim/vdim and without add_bias_kv can be loaded."
            )
        has_bias = reference.in_proj_bias is not None
        if has_bias != (self.q_proj.bias is not None):
            raise ConfigError(
                f"bias mismatch: this module has bias={self.q_proj.bias is not None}, the reference "
                f"has bias={has_bias}. Build MultiHeadAttention with bias={has_bias}."
            )
        for i, proj in enumerate((self.q_proj, self.k_proj, self.v_proj)):
            rows = slice(i * self.d_model, (i + 1) * self.d_model)
            proj.weight.copy_(reference.in_proj_weight[rows])
            if has_bias:
                proj.bias.copy_(reference.in_proj_bias[rows])
        self.out_proj.weight.copy_(reference.out_proj.weight)
        if has_bias:
            self.out_proj.bias.copy_(reference.out_proj.bias)
        return self

    @classmethod
    def from_torch(cls, reference: nn.MultiheadAttention) -> MultiHeadAttention:
        """A new module with the sizes and weights of ``reference`` (an ``nn.MultiheadAttention``)."""
        if not isinstance(reference, nn.MultiheadAttention):
            raise InputError(
                f"from_torch expects a torch.nn.MultiheadAttention, got {type(reference).__name__}."
            )
        module = cls(
            reference.embed_dim,
            reference.num_heads,
            bias=reference.in_proj_bias is not None,
            dropout=reference.dropout,
            batch_first=reference.batch_first,
        )
        module = module.to(
            device=reference.out_proj.weight.device, dtype=reference.out_proj.weight.dtype
        )
        return module.load_from_torch(reference)


class CausalSelfAttention(nn.Module):
    """GPT's masked self-attention: each token attends to itself and the tokens before it.

    GPT-2 layout: one packed ``c_attn`` Linear makes q, k and v at once (C -> 3C) and
    ``c_proj`` mixes the heads back (C -> C). Two paths give the same output:
    the fast path calls ``F.scaled_dot_product_attention`` (a fused/flash kernel when one
    exists); the explicit path (when attention weights are asked for) runs
    :func:`scaled_dot_product_attention` above and can return the per-head maps.
    Introduced in chapter 6.
    """

    def __init__(
        self, n_embd: int, n_head: int, *, bias: bool = True, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ConfigError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head}).")
        self.n_embd, self.n_head, self.head_dim = n_embd, n_head, n_embd // n_head
        self.dropout = dropout
        self.c_attn = Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        *,
        rotary: RotaryEmbedding | None = None,
        offset: int = 0,
        kv_cache: KVCache | None = None,
        layer: int = 0,
        return_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x`` (B, T, C) -> ``(y (B, T, C), weights (B, H, T, T_keys) or None)``.

        ``offset`` is the position of ``x``'s first token (``kv_cache.length`` when a cache
        is used); with ``kv_cache`` this layer's keys/values are stored in slot ``layer``.
        """
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # 3 x (B, T, C)
        # (B, T, C) -> (B, H, T, hd): heads become a batch dimension, no loop over heads.
        q = q.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        if rotary is not None:
            cos, sin = rotary.cos_sin(t, offset, dtype=q.dtype)
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)  # (B, H, offset + T, hd)
            if k.dtype != q.dtype:  # e.g. an fp32 cache used under autocast
                k, v = k.to(q.dtype), v.to(q.dtype)
        dropout_p = self.dropout if self.training else 0.0

        weights = None
        if return_weights:
            y, weights = scaled_dot_product_attention(
                q, k, v, causal=True, dropout_p=dropout_p, return_weights=True
            )
        elif k.shape[2] == t:
            # No cached prefix: the plain lower triangle, which the fused kernels know.
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        elif t == 1:
            # One new token may look at every stored position: no mask at all.
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        else:
            # Several new tokens after a cached prefix: the triangle is shifted right by the
            # prefix length, which is_causal (aligned top-left) would get wrong.
            mask = causal_mask(t, k.shape[2], device=q.device)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        y = y.transpose(1, 2).reshape(b, t, c)  # (B, T, C): heads side by side again
        return self.resid_dropout(self.c_proj(y)), weights


__all__ = [
    "CausalSelfAttention",
    "MultiHeadAttention",
    "causal_mask",
    "scaled_dot_product_attention",
]
