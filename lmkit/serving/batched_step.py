"""One decoding step for many requests at once, each at its own position in a shared KV cache.

Introduced in chapter 14. :meth:`lmkit.gpt.model.GPT.forward` runs a batch whose rows all sit
at the same position (one scalar ``offset``, one shared :class:`~lmkit.nn.kv_cache.KVCache`).
Requests in a server are never aligned like that: one has a 3-token prompt and has made 40
tokens, the next joined a moment ago with a 90-token prompt. :func:`decode_step` feeds one new
token per request through the model's own layers (the same modules ``GPT.forward`` uses, in the
same order) and differs in exactly two places:

1. **positions**: request ``r``'s token gets the position embedding (or rotary angle) of *its*
   position, ``cache.lengths[rows[r]]``;
2. **attention**: each layer writes every request's new key/value into its row of one
   :class:`~lmkit.serving.row_cache.RowKVCache` (one indexed write for all rows) and attends
   over the rows' keys, ``(B, H, S_max, hd)``, with a mask that hides each row's padding, so
   request ``r`` attends to its own ``length + 1`` positions only.

Everything else (embedding, LayerNorms, projections, MLPs, the output layer) is one batched
matmul per layer instead of ``B`` small ones: that is where batching wins.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lmkit.errors import ConfigError
from lmkit.nn.positional import apply_rotary
from lmkit.serving.row_cache import RowKVCache

__all__ = ["check_batchable", "decode_step"]

_NEEDED = ("wte", "wpe", "rotary", "drop", "blocks", "ln_f", "lm_head")


def check_batchable(model: Any) -> None:
    """Raise :class:`ConfigError` unless ``model`` is laid out like :class:`lmkit.gpt.model.GPT`."""
    missing = [name for name in _NEEDED if not hasattr(model, name)]
    if missing or not hasattr(model, "new_kv_cache"):
        raise ConfigError(
            f"The generation engine batches lmkit GPT models (lmkit.gpt.model.GPT); "
            f"{type(model).__name__} lacks {missing or ['new_kv_cache']}. Use "
            "lmkit.decoding.generation.generate for other models."
        )


def _attend(
    attn: Any,
    x: torch.Tensor,
    rotary: Any,
    step: tuple[RowKVCache, torch.Tensor, torch.Tensor, list[int]],
    layer: int,
    may_attend: torch.Tensor,
) -> torch.Tensor:
    """CausalSelfAttention for one new token per row: x (B, 1, C) -> (B, 1, C)."""
    cache, rows, lengths, positions = step
    b, t, c = x.shape
    q, k, v = attn.c_attn(x).split(attn.n_embd, dim=2)  # 3 x (B, 1, C)
    q, k, v = (z.view(b, t, attn.n_head, attn.head_dim).transpose(1, 2) for z in (q, k, v))
    if rotary is not None:
        angles = [rotary.cos_sin(1, position, dtype=q.dtype) for position in positions]
        cos = torch.stack([a[0] for a in angles])[:, None]  # (B, 1, 1, hd)
        sin = torch.stack([a[1] for a in angles])[:, None]
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    keys, values = cache.update(layer, rows, lengths, k, v)  # (B, H, S_max, hd)
    y = F.scaled_dot_product_attention(q, keys, values, attn_mask=may_attend)  # (B, H, 1, hd)
    y = y.transpose(1, 2).reshape(b, t, c)
    return attn.resid_dropout(attn.c_proj(y))


def decode_step(
    model: Any, cache: RowKVCache, rows: list[int], token_ids: torch.Tensor
) -> torch.Tensor:
    """Logits (B, V) of the next token after ``token_ids`` (B,), request ``r`` continuing
    row ``rows[r]`` of ``cache``.

    Each of those rows must have room for one more position; it is advanced by one. Run under
    ``torch.inference_mode()`` with the model in eval mode.
    """
    positions = [cache.lengths[row] for row in rows]
    if max(positions) >= cache.max_len:
        raise ConfigError(
            f"A row of the cache is full ({cache.max_len} positions): slide its window and "
            "load the row again before decoding it."
        )
    device = token_ids.device
    lengths = torch.tensor(positions, device=device)
    # (B, 1, 1, S_max), True where the key is real: row r has lengths[r] old keys + its new one.
    may_attend = (torch.arange(max(positions) + 1, device=device) <= lengths[:, None])[
        :, None, None, :
    ]
    step = (cache, torch.tensor(rows, device=device), lengths, positions)
    x = model.wte(token_ids[:, None])  # (B, 1, C)
    if model.wpe is not None:
        x = x + torch.stack([model.wpe(1, position) for position in positions])  # (B, 1, C)
    x = model.drop(x)
    for layer, block in enumerate(model.blocks):
        x = x + _attend(block.attn, block.ln_1(x), model.rotary, step, layer, may_attend)
        x = x + block.mlp(block.ln_2(x))
    cache.advance(rows)
    return model.lm_head(model.ln_f(x))[:, -1, :].float()  # (B, V), like window.last_logits
