"""AdamW with weight decay on matrices only: the one optimizer builder lmkit trains with.

Introduced in chapter 8. Weight decay follows common GPT practice: matrices (every trainable
parameter with 2 or more dimensions, the embedding tables included) are decayed; biases and
LayerNorm gains/shifts (1-D) are not, because shrinking them towards 0 only changes a layer's
offset or scale, not its capacity. AdamW applies the decay *decoupled* from the gradient:
``w -= lr * weight_decay * w``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from lmkit.errors import ConfigError

__all__ = ["adamw_param_groups", "build_adamw"]


def adamw_param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """``[{"params": matrices, "weight_decay": weight_decay}, {"params": the rest, 0.0}]``.

    Only trainable parameters (``requires_grad``) are listed, each once (tied weights
    appear once), in ``model.parameters()`` order; an empty group is left out.
    Introduced in chapter 8.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]  # weight matrices and embeddings
    no_decay = [p for p in params if p.dim() < 2]  # biases, LayerNorm weights
    return [
        {"params": group, "weight_decay": wd}
        for group, wd in ((decay, weight_decay), (no_decay, 0.0))
        if group
    ]


def _checked_groups(groups: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    checked = []
    for group in groups:
        if not isinstance(group, Mapping) or "params" not in group:
            raise ConfigError(f"Each param group must be a dict with 'params', got {group!r}.")
        # A copy with a list: torch fills defaults into the dict it is given.
        checked.append({**group, "params": list(group["params"])})
    if not checked or not any(group["params"] for group in checked):
        raise ConfigError("The param groups hold no parameters to optimize.")
    return checked


def build_adamw(
    params: nn.Module | Iterable[Mapping[str, Any]],
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    fused: bool = False,
) -> torch.optim.AdamW:
    """AdamW over :func:`adamw_param_groups` of a model, or over the param groups given.

    Groups given without their own ``weight_decay`` (or ``lr``) take ``weight_decay`` (and
    ``lr``). ``fused=True`` asks for torch's single-kernel implementation (CUDA, recent CPUs);
    otherwise the multi-tensor ("foreach") one, which torch picks by itself on CUDA only: on a
    CPU it gives the per-parameter loop's numbers bit for bit with fewer Python calls.
    Introduced in chapter 8.
    """
    if isinstance(params, nn.Module):
        groups = adamw_param_groups(params, weight_decay)
    else:
        groups = _checked_groups(params)
    extra = {"fused": True} if fused else {"foreach": True}
    return torch.optim.AdamW(
        groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, **extra
    )
