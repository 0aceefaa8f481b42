"""The two halves of a GPT layer, the feed-forward MLP and the pre-LN transformer Block.

Introduced in chapter 7. The attention inside a Block is
:class:`~lmkit.nn.attention.CausalSelfAttention` (chapter 6); :class:`~lmkit.gpt.model.GPT`
stacks ``n_layer`` Blocks. Each Block is pre-LN: ``x + attn(ln_1(x))`` then
``x + mlp(ln_2(x))``, so the residual stream is never normalised and gradients flow straight
through deep stacks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.gpt.config import GPTConfig
from lmkit.nn.attention import CausalSelfAttention
from lmkit.nn.kv_cache import KVCache
from lmkit.nn.linear import Linear
from lmkit.nn.positional import RotaryEmbedding

__all__ = ["MLP", "Block"]


class MLP(nn.Module):
    """Position-wise feed-forward net: C -> 4C, GELU, 4C -> C. Introduced in chapter 7."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, C)."""
        # GPT-2 used the tanh approximation of GELU ("gelu_new" in transformers); keep it so
        # pretrained weights give the same logits.
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    """One transformer layer: pre-LN attention then pre-LN MLP, each added to the residual.

    Introduced in chapter 7.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(
            config.n_embd, config.n_head, bias=config.bias, dropout=config.dropout
        )
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        rotary: RotaryEmbedding | None = None,
        offset: int = 0,
        kv_cache: KVCache | None = None,
        layer: int = 0,
        return_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T, C) -> ((B, T, C), attention weights or None)."""
        attended, weights = self.attn(
            self.ln_1(x),
            rotary=rotary,
            offset=offset,
            kv_cache=kv_cache,
            layer=layer,
            return_weights=return_weights,
        )
        x = x + attended
        x = x + self.mlp(self.ln_2(x))
        return x, weights
