"""The encoder–decoder Transformer of "Attention Is All You Need", small, pre-norm, from scratch.

Introduced in chapter 13. The encoder reads the whole source at once (self-attention that sees
every source token); the decoder writes the target one token at a time: causal self-attention
over what it wrote so far, then **cross-attention** from each target position to the encoder's
output (the "memory"), then an MLP. One embedding matrix serves the source, the target and the
output layer (tied), and positions are the fixed sinusoids, so the model stays tiny.

Layout, per layer (``norm_first=True`` in ``torch.nn.TransformerEncoderLayer`` terms, GELU)::

    encoder:  x = x + SelfAttn(LN(x));            x = x + MLP(LN(x))
    decoder:  y = y + CausalSelfAttn(LN(y));      y = y + CrossAttn(LN(y), memory)
              y = y + MLP(LN(y))

Masks: ``src_mask`` is ``(B, S)`` with **1/True at real tokens** (Hugging Face's
``attention_mask``); internally it becomes the key-padding mask (True at padding) that
:mod:`lmkit.nn.attention` uses. Generation goes through :meth:`Seq2SeqTransformer.encode` (run
once; the cross-attention keys and values of every layer are computed here and cached) and
:meth:`Seq2SeqTransformer.decode_step` (one new token per call, with a self-attention KV cache).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.errors import InputError
from lmkit.nn.attention import MultiHeadAttention, scaled_dot_product_attention
from lmkit.nn.positional import sinusoidal_table
from lmkit.seq2seq.config import Seq2SeqConfig

__all__ = [
    "CachedAttention",
    "DecoderLayer",
    "DecoderState",
    "EncoderLayer",
    "FeedForward",
    "Seq2SeqTransformer",
]

KV = tuple[torch.Tensor, torch.Tensor]


class CachedAttention(MultiHeadAttention):
    """:class:`lmkit.nn.attention.MultiHeadAttention` (same weights, same ``forward``), plus the
    two halves that generation needs: :meth:`keys_values` projects keys and values once (the
    encoder memory for cross-attention, or one new token for self-attention), and
    :meth:`attend` attends from new queries to keys and values computed earlier."""

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, E) -> (B, H, T, hd)."""
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)

    def keys_values(self, x: torch.Tensor) -> KV:
        """Projected keys and values of ``x`` (B, S, E), each (B, H, S, hd)."""
        return self.heads(self.k_proj(x)), self.heads(self.v_proj(x))

    def attend(
        self,
        query: torch.Tensor,
        kv: KV,
        *,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from ``query`` (B, L, E) to cached ``kv``; returns the output (B, L, E) and the
        weights per head (B, H, L, S). ``causal`` aligns the queries to the last L keys."""
        q = self.heads(self.q_proj(query))  # (B, H, L, hd)
        out, weights = scaled_dot_product_attention(
            q, kv[0], kv[1], causal=causal, key_padding_mask=key_padding_mask,
            dropout_p=self.dropout if self.training else 0.0, return_weights=True,
        )  # fmt: skip
        b, _, length, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, length, self.d_model)), weights


class FeedForward(nn.Module):
    """Linear → GELU → dropout → Linear, named as in ``torch.nn.TransformerEncoderLayer``."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.linear1 = nn.Linear(config.d_model, config.d_ff)
        self.linear2 = nn.Linear(config.d_ff, config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(F.gelu(self.linear1(x))))


def _attention(config: Seq2SeqConfig) -> CachedAttention:
    return CachedAttention(config.d_model, config.n_heads, dropout=config.dropout)


class EncoderLayer(nn.Module):
    """Pre-norm self-attention + MLP over the source. Introduced in chapter 13."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.self_attn = _attention(config)
        self.norm2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.mlp = FeedForward(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        h = self.norm1(x)
        attended, _ = self.self_attn.attend(
            h, self.self_attn.keys_values(h), key_padding_mask=key_padding_mask
        )
        x = x + self.dropout(attended)
        return x + self.dropout(self.mlp(self.norm2(x)))


class DecoderLayer(nn.Module):
    """Pre-norm causal self-attention, cross-attention to the memory, MLP. Chapter 13.

    ``self_kv`` is this layer's self-attention cache: keys and values of the target positions
    before ``y`` (``None`` when ``y`` is the whole target so far). ``cross_kv`` holds the
    memory's keys and values for this layer. Returns the new ``y``, the updated self-attention
    cache and the cross-attention weights (B, H, T, S).
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.self_attn = _attention(config)
        self.norm2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.cross_attn = _attention(config)
        self.norm3 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.mlp = FeedForward(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        y: torch.Tensor,
        cross_kv: KV,
        memory_padding_mask: torch.Tensor | None,
        self_kv: KV | None = None,
    ) -> tuple[torch.Tensor, KV, torch.Tensor]:
        h = self.norm1(y)
        k, v = self.self_attn.keys_values(h)
        if self_kv is not None:  # earlier positions come from the cache
            k, v = torch.cat([self_kv[0], k], dim=2), torch.cat([self_kv[1], v], dim=2)
        attended, _ = self.self_attn.attend(h, (k, v), causal=True)
        y = y + self.dropout(attended)
        crossed, cross_weights = self.cross_attn.attend(
            self.norm2(y), cross_kv, key_padding_mask=memory_padding_mask
        )
        y = y + self.dropout(crossed)
        y = y + self.dropout(self.mlp(self.norm3(y)))
        return y, (k, v), cross_weights


@dataclass
class DecoderState:
    """The cache of one generation: the encoder's output and what the decoder wrote so far.

    ``memory`` (B, S, E) and ``memory_padding_mask`` (B, S, True at padding) come from
    :meth:`Seq2SeqTransformer.encode`; ``cross_kv`` the memory's keys and values, one pair per
    decoder layer (computed once); ``self_kv`` each layer's self-attention keys and values of
    the target tokens fed so far (``length`` of them); ``cross_attention`` the last decoder
    layer's cross-attention weights (B, H, 1, S) of the latest step.
    """

    memory: torch.Tensor
    memory_padding_mask: torch.Tensor
    cross_kv: list[KV]
    self_kv: list[KV | None] = field(default_factory=list)
    length: int = 0
    cross_attention: torch.Tensor | None = None

    def reorder(self, rows: torch.Tensor) -> DecoderState:
        """A state whose row ``i`` is this state's row ``rows[i]`` (beam search picks parents;
        a single encoded source is repeated with ``rows = zeros(n)``)."""

        def pick(pair: KV | None) -> KV | None:
            return None if pair is None else (pair[0][rows], pair[1][rows])

        return DecoderState(
            self.memory[rows], self.memory_padding_mask[rows],
            [(k[rows], v[rows]) for k, v in self.cross_kv], [pick(p) for p in self.self_kv],
            self.length, None if self.cross_attention is None else self.cross_attention[rows],
        )  # fmt: skip


class Seq2SeqTransformer(nn.Module):
    """Encoder–decoder Transformer with tied embeddings and sinusoidal positions.

    ``forward(src_ids, src_mask, tgt_in_ids)`` returns logits (B, T, V) for teacher forcing;
    with ``labels`` (B, T; -100 = ignore) it returns ``(logits, loss)``, the form
    :class:`lmkit.training.trainer.Trainer` reads. Introduced in chapter 13.
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        if not isinstance(config, Seq2SeqConfig):
            raise InputError(f"Seq2SeqTransformer needs a Seq2SeqConfig, got {config!r}.")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        longest = max(config.max_source_len, config.max_target_len)
        self.register_buffer(
            "positions", sinusoidal_table(longest, config.d_model), persistent=False
        )
        self.dropout = nn.Dropout(config.dropout)
        self.encoder_layers = nn.ModuleList(
            EncoderLayer(config) for _ in range(config.n_encoder_layers)
        )
        self.encoder_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.decoder_layers = nn.ModuleList(
            DecoderLayer(config) for _ in range(config.n_decoder_layers)
        )
        self.decoder_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):  # times sqrt(d) on input: unit variance
            nn.init.normal_(module.weight, std=self.config.d_model**-0.5)

    # ------------------------------------------------------------------ pieces
    def _check_ids(self, name: str, ids: object, limit: int) -> torch.Tensor:
        if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype != torch.long:
            raise InputError(f"{name} must be a (B, T) tensor of int64 token ids, got {ids!r:.80}.")
        if ids.shape[1] == 0 or ids.shape[1] > limit:
            raise InputError(
                f"{name} has {ids.shape[1]} positions; this model takes 1 to {limit}. Shorten "
                "the text."
            )
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.config.vocab_size):
            raise InputError(f"{name} holds ids outside 0..{self.config.vocab_size - 1}.")
        return ids

    def _embed(self, ids: torch.Tensor, offset: int = 0) -> torch.Tensor:
        # sqrt(d) scaling: the embeddings get the sinusoids' scale
        x = self.embed(ids) * math.sqrt(self.config.d_model)
        return self.dropout(x + self.positions[offset : offset + ids.shape[1]])

    def _logits(self, y: torch.Tensor) -> torch.Tensor:
        return self.decoder_norm(y) @ self.embed.weight.T  # tied output layer

    # ------------------------------------------------------------------ the model
    def encode(self, src_ids: torch.Tensor, src_mask: torch.Tensor | None = None) -> DecoderState:
        """Run the encoder once; the returned :class:`DecoderState` caches its output and the
        cross-attention keys/values of every decoder layer."""
        src_ids = self._check_ids("src_ids", src_ids, self.config.max_source_len)
        if src_mask is None:
            src_mask = src_ids != self.config.pad_id
        if not isinstance(src_mask, torch.Tensor) or src_mask.shape != src_ids.shape:
            raise InputError(
                f"src_mask must have the shape of src_ids {tuple(src_ids.shape)} (1 = real token)."
            )
        padding = ~src_mask.bool()
        if bool(padding.all(dim=1).any()):
            raise InputError("A source row has no real token (src_mask all 0); give it text.")
        x = self._embed(src_ids)
        for layer in self.encoder_layers:
            x = layer(x, padding)
        memory = self.encoder_norm(x)
        cross_kv = [layer.cross_attn.keys_values(memory) for layer in self.decoder_layers]
        return DecoderState(memory, padding, cross_kv, [None] * len(self.decoder_layers))

    def decode(
        self, state: DecoderState, tgt_ids: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Feed ``tgt_ids`` (B, T), the next T target tokens after the ``state.length`` cached
        ones; returns logits (B, T, V) and each layer's cross-attention weights (B, H, T, S).
        The state is updated in place (its self-attention cache grows by T)."""
        limit = self.config.max_target_len - state.length
        tgt_ids = self._check_ids("tgt_ids", tgt_ids, limit)
        y = self._embed(tgt_ids, offset=state.length)
        crosses = []
        for i, layer in enumerate(self.decoder_layers):
            y, state.self_kv[i], cross = layer(
                y, state.cross_kv[i], state.memory_padding_mask, state.self_kv[i]
            )
            crosses.append(cross)
        state.length += tgt_ids.shape[1]
        state.cross_attention = crosses[-1][:, :, -1:]
        return self._logits(y), crosses

    def decode_step(self, state: DecoderState, token_ids: torch.Tensor) -> torch.Tensor:
        """One generation step: ``token_ids`` (B,) are the latest target tokens; returns the
        next-token logits (B, V). ``state.cross_attention`` then holds this step's weights."""
        if not isinstance(token_ids, torch.Tensor) or token_ids.dim() != 1:
            raise InputError(f"token_ids must be a (B,) tensor, got {token_ids!r:.80}.")
        logits, _ = self.decode(state, token_ids.unsqueeze(1))
        return logits[:, -1]

    def forward(
        self,
        src_ids: torch.Tensor,
        src_mask: torch.Tensor | None,
        tgt_in_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: logits (B, T, V) for every target position at once; with
        ``labels`` the pair ``(logits, mean cross-entropy over labels != -100)``."""
        state = self.encode(src_ids, src_mask)
        if not isinstance(tgt_in_ids, torch.Tensor) or tgt_in_ids.shape[:1] != src_ids.shape[:1]:
            raise InputError("tgt_in_ids must be a (B, T) tensor with the batch size of src_ids.")
        logits, _ = self.decode(state, tgt_in_ids)
        if labels is None:
            return logits
        if not isinstance(labels, torch.Tensor) or labels.shape != tgt_in_ids.shape:
            raise InputError("labels must have the shape of tgt_in_ids (-100 = not scored).")
        loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        return logits, loss

    @torch.no_grad()
    def cross_attention(
        self, src_ids: torch.Tensor, src_mask: torch.Tensor | None, tgt_in_ids: torch.Tensor
    ) -> list[torch.Tensor]:
        """Every decoder layer's cross-attention weights (B, H, T, S) under teacher forcing:
        row ``t`` is where the decoder looked while predicting target token ``t + 1``."""
        _, crosses = self.decode(self.encode(src_ids, src_mask), tgt_in_ids)
        return crosses

    def num_parameters(self) -> int:
        """Trainable numbers (the tied embedding counted once)."""
        return sum(p.numel() for p in self.parameters())
