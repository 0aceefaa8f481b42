"""A GPT-2 style decoder-only transformer, in reading order: output, GPT (its config is
:class:`lmkit.gpt.config.GPTConfig`).

Introduced in chapter 7. The layers come from elsewhere and this module wires them together:
``MLP`` and ``Block`` from :mod:`lmkit.gpt.blocks`, the attention layer from
:mod:`lmkit.nn.attention`, the position encodings from :mod:`lmkit.nn.positional`, and the input
checks from :mod:`lmkit.gpt.inputs`:

    token ids -> token embedding (+ position) -> n_layer x Block -> final LayerNorm -> logits
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from lmkit.errors import CheckpointError, ConfigError
from lmkit.gpt.blocks import Block
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.inputs import IGNORE_INDEX, check_inputs
from lmkit.nn.kv_cache import KVCache
from lmkit.nn.linear import Linear
from lmkit.nn.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
)
from lmkit.validators import check_int


@dataclass
class GPTOutput:
    """What :meth:`GPT.forward` returns.

    ``logits`` (B, T, vocab_size); ``loss`` a scalar when targets were given, else None;
    ``attentions`` a tuple of n_layer tensors (B, n_head, T, T_keys) when asked for, else None.
    """

    logits: torch.Tensor
    loss: torch.Tensor | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class GPT(nn.Module):
    """A decoder-only language model: predicts the next token at every position.

    ``model(idx, targets)`` returns a :class:`GPTOutput`. With ``tie_weights`` the output
    layer *is* the token embedding matrix (``lm_head.weight is wte.weight``), as in GPT-2.
    Introduced in chapter 7.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise ConfigError(f"GPT expects a GPTConfig, got {type(config).__name__}.")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe: nn.Module | None = None
        self.rotary: RotaryEmbedding | None = None
        if config.pos_encoding == "learned":
            self.wpe = LearnedPositionalEmbedding(config.block_size, config.n_embd)
        elif config.pos_encoding == "sinusoidal":
            self.wpe = SinusoidalPositionalEncoding(config.block_size, config.n_embd)
        else:
            self.rotary = RotaryEmbedding(config.head_dim, config.block_size, config.rotary_base)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            self.lm_head.weight = self.wte.weight
        if not self.wte.weight.is_meta:  # a meta-device model only has shapes; nothing to fill
            self.init_weights()

    def init_weights(self) -> None:
        """GPT-2 initialisation: N(0, 0.02) weights, zero biases, shrunken residual projections."""
        self.apply(self._init_weights)
        config = self.config
        # GPT-2's trick: each residual branch adds to the stream, 2 per layer; shrinking the
        # last projection of each branch keeps the stream's variance from growing with depth.
        residual_std = 0.02 / math.sqrt(2 * config.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.attn.c_proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp.c_proj.weight, mean=0.0, std=residual_std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.Embedding, LearnedPositionalEmbedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @classmethod
    def from_config(cls, config: GPTConfig | Mapping[str, Any]) -> GPT:
        """Build a freshly initialised model from a :class:`GPTConfig` or its dict form."""
        if isinstance(config, Mapping):
            config = GPTConfig.from_dict(config)
        return cls(config)

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return self.wte.weight.device

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of the parameters."""
        return self.wte.weight.dtype

    def num_parameters(self, exclude_position_embeddings: bool = False) -> int:
        """Number of trainable numbers; tied weights count once (``parameters()`` dedups them)."""
        total = sum(p.numel() for p in self.parameters())
        if exclude_position_embeddings and isinstance(self.wpe, LearnedPositionalEmbedding):
            total -= self.wpe.weight.numel()
        return total

    def new_kv_cache(
        self,
        batch_size: int,
        max_len: int | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> KVCache:
        """An empty :class:`KVCache` sized for this model (defaults: block_size, model device/dtype)."""
        max_len = self.config.block_size if max_len is None else max_len
        max_len = check_int("max_len", max_len, minimum=1)
        if max_len > self.config.block_size:
            raise ConfigError(
                f"max_len={max_len} is longer than the model's block_size="
                f"{self.config.block_size}; the model has no positions beyond that. Use "
                f"max_len <= {self.config.block_size}."
            )
        c = self.config
        return KVCache(
            c.n_layer,
            batch_size,
            c.n_head,
            c.head_dim,
            max_len,
            device=self.device if device is None else device,
            dtype=self.dtype if dtype is None else dtype,
        )

    # ----------------------------------------------------------------------------- forward
    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        kv_cache: KVCache | None = None,
        return_attention: bool = False,
        last_position_only: bool = False,
    ) -> GPTOutput:
        """Logits for every position of ``idx`` (B, T); the loss too when ``targets`` is given.

        With ``kv_cache``, ``idx`` holds only the new tokens: they sit at positions
        ``kv_cache.length …``, their keys/values are appended to the cache, and attention
        covers everything stored. The loss averages cross-entropy over all positions whose
        target is not -100. ``last_position_only`` returns logits (B, 1, V) for the last
        position alone, as nanoGPT does at inference: a decoding step needs nothing else, and
        the output layer over every position is the largest matmul of a step without the cache.
        """
        if last_position_only and targets is not None:
            raise ConfigError(
                "last_position_only=True computes logits for the last position only, so there "
                "is no loss over the sequence; pass targets=None or last_position_only=False."
            )
        idx, targets = check_inputs(
            self.config,
            self.device,
            idx,
            targets,
            kv_cache,
            trainable=self.wte.weight.requires_grad,
        )
        b, t = idx.shape
        offset = 0 if kv_cache is None else kv_cache.length

        x = self.wte(idx)  # (B, T, C)
        if self.wpe is not None:
            x = x + self.wpe(t, offset)  # (T, C) broadcasts over the batch
        x = self.drop(x)

        use_checkpoint = (
            self.config.gradient_checkpointing
            and self.training
            and torch.is_grad_enabled()
            and kv_cache is None
            and not return_attention
        )
        attentions = []
        for layer, block in enumerate(self.blocks):
            if use_checkpoint:
                # Keep only the block input; recompute its insides during backward.
                x, weights = checkpoint(block, x, self.rotary, offset, use_reentrant=False)
            else:
                x, weights = block(x, self.rotary, offset, kv_cache, layer, return_attention)
            if return_attention:
                attentions.append(weights)
        if kv_cache is not None:
            kv_cache.advance(t)

        if last_position_only:
            x = x[:, -1:, :]  # (B, 1, C): LayerNorm and lm_head act on each position alone
        logits = self.lm_head(self.ln_f(x))  # (B, T or 1, vocab_size)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                # reshape, not view: targets is often a slice such as tokens[:, 1:].
                logits.view(b * t, -1),
                targets.reshape(b * t),
                ignore_index=IGNORE_INDEX,
            )
        return GPTOutput(logits, loss, tuple(attentions) if return_attention else None)

    # -------------------------------------------------------------------------- state dicts
    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        """Like ``nn.Module.load_state_dict``, but a mismatch raises :class:`CheckpointError`
        listing the missing, unexpected and wrongly shaped entries.

        A ``_orig_mod.`` prefix left by ``torch.compile`` is removed first.
        """
        if not isinstance(state_dict, Mapping):
            raise CheckpointError(
                f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}."
            )
        prefix = "_orig_mod."
        if state_dict and all(k.startswith(prefix) for k in state_dict):
            state_dict = {k[len(prefix) :]: v for k, v in state_dict.items()}
        own = self.state_dict()
        problems = []
        wrong_shape = [
            f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
            for k, v in state_dict.items()
            if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape
        ]
        if wrong_shape:
            problems.append("wrong shapes: " + "; ".join(wrong_shape[:8]))
        if strict:
            missing = sorted(set(own) - set(state_dict))
            unexpected = sorted(set(state_dict) - set(own))
            if missing:
                problems.append(f"missing keys: {_preview(missing)}")
            if unexpected:
                problems.append(f"unexpected keys: {_preview(unexpected)}")
        if problems:
            raise CheckpointError(
                "The weights do not match this model's configuration ("
                + ", ".join(problems)
                + "). Build the model from the config saved with the weights."
            )
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        if self.config.tie_weights and self.lm_head.weight is not self.wte.weight:
            self.lm_head.weight = self.wte.weight  # assign=True swaps in new Parameter objects
        return result


def _preview(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


__all__ = ["GPT", "GPTConfig", "GPTOutput"]
