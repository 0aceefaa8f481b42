"""What models hand back: one output type per task, shared by every model family.

Introduced in chapter 11.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ClassifierOutput:
    """What every lmkit text classifier returns (the interface the app and saliency rely on).

    ``logits`` (B, n_labels); ``loss`` the cross-entropy when labels were given; ``attentions``
    one (B, H, T, T) tensor per layer when ``return_attention=True`` was asked for.
    """

    logits: torch.Tensor
    loss: torch.Tensor | None = None
    attentions: list[torch.Tensor] | None = None


__all__ = ["ClassifierOutput"]
