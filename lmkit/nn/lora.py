"""LoRA: low-rank adapters added to frozen Linear layers, merged back when done.

Introduced in chapter 12. A LoRA layer keeps the pretrained weight ``W`` (out, in) frozen and
learns a low-rank update ``ΔW = (alpha / r) · B @ A`` with ``A`` (r, in) and ``B`` (out, r):

    y = x @ W.T + b + (alpha / r) · (x @ A.T) @ B.T

``A`` starts random (Kaiming-uniform, as in Hugging Face ``peft``) and ``B`` at zeros, so an
adapted model starts out computing exactly what the base model computes. Only ``A`` and ``B``
train: ``r · (in + out)`` numbers per layer instead of ``in · out``. :meth:`LoRALinear.merge`
folds ``ΔW`` into ``W`` (no extra cost at inference), :meth:`LoRALinear.unmerge` takes it back
out. :func:`add_lora` wraps the named Linear layers of a model (for an lmkit GPT: the attention's
``c_attn``/``c_proj`` and the MLP's ``c_fc``/``c_proj``) and freezes everything else;
:func:`save_lora` writes only the adapters as safetensors and :func:`load_lora` reads them back.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from lmkit.errors import CheckpointError, ConfigError, InputError

__all__ = [
    "GPT_TARGETS",
    "LoRALinear",
    "add_lora",
    "load_lora",
    "lora_parameter_count",
    "lora_state_dict",
    "merge_and_unload",
    "merge_lora",
    "save_lora",
    "trainable_parameters",
    "unmerge_lora",
]

GPT_TARGETS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
"""The Linear layers of an lmkit GPT block that :func:`add_lora` adapts by default."""

# adapters of a GPT small enough for lmkit stay far below this; a bigger file is not one
_MAX_ADAPTER_BYTES = 512 * 1024 * 1024


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update scaled by ``alpha / r``.

    Introduced in chapter 12. ``base`` is kept as it is (its weight and bias stop requiring
    gradients); ``lora_A`` is (r, in), ``lora_B`` is (out, r).
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise InputError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}.")
        if not isinstance(r, int) or isinstance(r, bool) or r < 1:
            raise ConfigError(f"the LoRA rank r must be an integer >= 1, got {r!r}.")
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha <= 0:
            raise ConfigError(f"alpha must be a number > 0, got {alpha!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}.")
        self.base, self.r, self.alpha = base, r, float(alpha)
        self.scaling = self.alpha / r
        for p in base.parameters():
            p.requires_grad_(False)
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, device=w.device, dtype=w.dtype))
        self.lora_B = nn.Parameter(
            torch.zeros(base.out_features, r, device=w.device, dtype=w.dtype)
        )
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # what peft does
        self.dropout = nn.Dropout(dropout)
        self.merged = False

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """``(alpha / r) · B @ A``, shaped like the base weight (out, in)."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.merged:
            return out
        return out + (self.dropout(x) @ self.lora_A.t() @ self.lora_B.t()) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """Add ``ΔW`` into the base weight; the layer then costs what a plain Linear costs."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract ``ΔW`` from the base weight again (up to float rounding)."""
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha:g}, merged={self.merged}"


def _lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def add_lora(
    model: nn.Module,
    r: int,
    alpha: float,
    targets: Iterable[str] = GPT_TARGETS,
    dropout: float = 0.0,
) -> nn.Module:
    """Freeze ``model`` and wrap every Linear whose name ends with one of ``targets``.

    Works in place and returns ``model``; afterwards only the adapters require gradients.
    Raises :class:`ConfigError` if no layer matches or the model already has adapters.
    """
    targets = tuple(targets)
    if _lora_layers(model):
        raise ConfigError("this model already has LoRA adapters; add them once.")
    chosen = [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and any(name == t or name.endswith("." + t) for t in targets)
    ]
    if not chosen:
        raise ConfigError(f"no nn.Linear layer of the model ends with one of {targets}.")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha, dropout))
    return model


def trainable_parameters(model: nn.Module) -> int:
    """Number of parameters with ``requires_grad`` (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lora_parameter_count(shapes: Iterable[tuple[int, int]], r: int) -> int:
    """Adapter parameters for Linear layers of shapes ``(out, in)``: ``Σ r · (in + out)``."""
    return sum(r * (n_in + n_out) for n_out, n_in in shapes)


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapter tensors, named ``<layer>.lora_A`` / ``<layer>.lora_B``."""
    layers = _lora_layers(model)
    if not layers:
        raise InputError("this model has no LoRA adapters (call add_lora first).")
    out = {}
    for name, layer in layers.items():
        out[f"{name}.lora_A"] = layer.lora_A.detach().contiguous()
        out[f"{name}.lora_B"] = layer.lora_B.detach().contiguous()
    return out


def merge_lora(model: nn.Module) -> nn.Module:
    """Merge every adapter into its base weight (in place)."""
    for layer in _lora_layers(model).values():
        layer.merge()
    return model


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge every adapter and put its base Linear back in its place (in place, as ``peft``'s
    method of that name does): a plain model again, with every parameter trainable."""
    for name, layer in _lora_layers(model).items():
        layer.merge()
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer.base)
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def unmerge_lora(model: nn.Module) -> nn.Module:
    """Undo :func:`merge_lora` (in place)."""
    for layer in _lora_layers(model).values():
        layer.unmerge()
    return model


def save_lora(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write the adapters (and their r and alpha) to a safetensors file; returns the path."""
    from safetensors.torch import save_file

    layers = _lora_layers(model)
    tensors = {k: v.cpu() for k, v in lora_state_dict(model).items()}
    first = next(iter(layers.values()))
    meta = {"format": "lmkit-lora", "r": str(first.r), "alpha": repr(first.alpha)}
    path = Path(path)
    save_file(tensors, str(path), metadata=meta)
    return path


def load_lora(
    model: nn.Module, source: str | os.PathLike | Mapping[str, torch.Tensor]
) -> nn.Module:
    """Copy adapters (a safetensors file from :func:`save_lora`, or a dict) into ``model``.

    ``model`` must already have adapters of the same rank on the same layers; a missing,
    extra or wrongly shaped tensor raises :class:`CheckpointError`.
    """
    if isinstance(source, Mapping):
        tensors = dict(source)
    else:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from lmkit.safe_files import check_regular_file

        check_regular_file(source, "LoRA adapter file", max_bytes=_MAX_ADAPTER_BYTES)
        try:
            tensors = load_file(str(source))
        except (OSError, SafetensorError, ValueError) as exc:
            raise CheckpointError(
                f"{source} is not a readable safetensors adapter file (truncated or corrupted?): "
                f"{exc}. Save the adapters again with save_lora."
            ) from exc
    own = lora_state_dict(model)
    missing, extra = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    wrong = [k for k in own if k in tensors and tensors[k].shape != own[k].shape]
    if missing or extra or wrong:
        raise CheckpointError(
            f"the adapters do not fit this model: missing {missing[:4]}, unexpected {extra[:4]}, "
            f"wrong shapes {wrong[:4]}. Add adapters with the same r and targets first."
        )
    layers = _lora_layers(model)
    with torch.no_grad():
        for name, layer in layers.items():
            if layer.merged:
                raise InputError(f"{name} is merged; unmerge before loading other adapters.")
            layer.lora_A.copy_(tensors[f"{name}.lora_A"])
            layer.lora_B.copy_(tensors[f"{name}.lora_B"])
    return model
