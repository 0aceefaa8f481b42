"""Attention maps of a real pretrained encoder: the offline all-MiniLM-L6-v2 (a small BERT).

Introduced in chapter 6, and used by the app's Attention page. MiniLM has 6 layers of 12 heads
on 384-dimensional token vectors; every head of every layer produces a ``(T, T)`` matrix of
attention weights, row ``i`` saying how token ``i`` spreads its attention over all tokens.
BERT-style encoders attend in both directions (no causal mask), so these matrices are full,
not triangular like GPT's.

Only ``transformers``' "eager" attention can hand the weights back (the fused SDPA kernel never
materialises them), so the model is loaded (once, by :func:`lmkit.minilm.loader.load_minilm`)
with ``attention="eager"``. The model is English-only and uncased: most Chinese characters are
not in its vocabulary and become ``[UNK]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmkit.errors import ConfigError, InputError
from lmkit.minilm.loader import MAX_POSITIONS, load_minilm
from lmkit.validators import check_int

__all__ = ["EncoderAttention", "minilm_attention"]

_PURPOSE = "show the attention maps of the offline MiniLM encoder"


@dataclass(frozen=True)
class EncoderAttention:
    """Every attention map MiniLM computed for one text.

    ``tokens``: the WordPiece tokens, ``[CLS]`` first and ``[SEP]`` last.
    ``attentions``: float32 on the CPU, shape ``(n_layers, n_heads, T, T)``; each row sums to 1.
    ``hidden_states``: the input of every layer plus the final output, ``(n_layers + 1, T, 384)``
    (``hidden_states[l]`` is what layer ``l``'s attention reads).
    ``truncated``: True when the text was cut to ``max_length`` tokens.
    Introduced in chapter 6.
    """

    text: str
    tokens: tuple[str, ...]
    input_ids: tuple[int, ...]
    attentions: torch.Tensor
    hidden_states: torch.Tensor
    truncated: bool

    @property
    def n_layers(self) -> int:
        """Number of layers (6 for MiniLM)."""
        return self.attentions.shape[0]

    @property
    def n_heads(self) -> int:
        """Heads per layer (12 for MiniLM)."""
        return self.attentions.shape[1]

    def _check(self, name: str, value: object, size: int) -> int:
        return check_int(name, value, 0, size - 1, error=InputError)

    def layer(self, layer: int) -> torch.Tensor:
        """All heads of one layer: ``(n_heads, T, T)`` (what :func:`lmkit.viz.attention_grid` takes)."""
        return self.attentions[self._check("layer", layer, self.n_layers)]

    def head(self, layer: int, head: int) -> torch.Tensor:
        """One head's map ``(T, T)`` (what :func:`lmkit.viz.attention_heatmap` takes)."""
        return self.layer(layer)[self._check("head", head, self.n_heads)]


@torch.no_grad()
def minilm_attention(
    text: str, *, max_length: int = 128, device: str | torch.device | None = None
) -> EncoderAttention:
    """Run MiniLM on ``text`` and return its tokens and every layer's per-head attention maps.

    ``max_length`` (3..512) caps the number of tokens, ``[CLS]`` and ``[SEP]`` included; a longer
    text is truncated and the result says so (``truncated=True``). Introduced in chapter 6.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}.")
    if not text.strip():
        raise InputError("text is empty: type a sentence to see its attention maps.")
    check_int(
        "max_length", max_length, 3, MAX_POSITIONS, f" MiniLM knows {MAX_POSITIONS} positions."
    )
    tokenizer, model = load_minilm(device, attention="eager", purpose=_PURPOSE)
    full_length = len(tokenizer(text)["input_ids"])
    encoded = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    encoded = {name: tensor.to(model.device) for name, tensor in encoded.items()}
    output = model(**encoded, output_attentions=True, output_hidden_states=True)
    if not output.attentions or output.attentions[0] is None:
        raise ConfigError(
            "The encoder returned no attention weights; it must be loaded with "
            'attention="eager" (lmkit.minilm.loader.load_minilm does this).'
        )
    attentions = torch.stack([a[0] for a in output.attentions]).float().cpu()  # (L, H, T, T)
    hidden = torch.stack([h[0] for h in output.hidden_states]).float().cpu()  # (L+1, T, C)
    ids = encoded["input_ids"][0].tolist()
    return EncoderAttention(
        text=text,
        tokens=tuple(tokenizer.convert_ids_to_tokens(ids)),
        input_ids=tuple(ids),
        attentions=attentions,
        hidden_states=hidden,
        truncated=full_length > max_length,
    )
