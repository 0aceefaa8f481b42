"""A model folder that holds only a LoRA adapter for a built-in GPT: write it, load it merged.

Introduced in chapter 12. Such a folder (``tiny-gpt-instruct`` ships one) has a ``config.json``
with ``model_type`` ``"gpt-lora"``, the built-in ``base_model`` it adapts, the adapter's ``r``,
``alpha`` and ``targets``, and the prompt template it was trained with; the adapter tensors sit
in ``adapter.safetensors`` (:func:`lmkit.nn.lora.save_lora`). :func:`load_folder` loads the base
model and its tokenizer, adds adapters of that shape, reads them, and merges them into plain
Linear layers, so the result is an ordinary :class:`~lmkit.gpt.model.GPT` that costs nothing
extra at inference. Any problem with the folder is a :class:`~lmkit.errors.CheckpointError`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lmkit import safe_files
from lmkit.errors import CheckpointError, LmkitError
from lmkit.nn.lora import add_lora, load_lora, merge_and_unload

__all__ = ["ADAPTER_FILE", "MODEL_TYPE", "load_folder", "save_folder"]

ADAPTER_FILE = "adapter.safetensors"
MODEL_TYPE = "gpt-lora"
_KEYS = ("base_model", "r", "alpha", "targets")


def save_folder(
    model: nn.Module,
    folder: str | Path,
    *,
    base_model: str,
    r: int,
    alpha: float,
    targets: Sequence[str],
    prompt_template: str,
) -> Path:
    """Write ``config.json`` and ``adapter.safetensors`` of ``model`` (with unmerged adapters)."""
    from lmkit.nn.lora import save_lora

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "model_type": MODEL_TYPE,
        "base_model": base_model,
        "r": r,
        "alpha": alpha,
        "targets": list(targets),
        "prompt_template": prompt_template,
    }
    (folder / "config.json").write_text(
        json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    save_lora(model, folder / ADAPTER_FILE)
    return folder


def _read_config(folder: Path) -> dict[str, Any]:
    config = safe_files.read_config(
        folder, _KEYS, "LoRA adapter config", "lmkit.gpt.adapter.save_folder"
    )
    targets = config["targets"]
    if not isinstance(config["base_model"], str) or not (
        isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets)
    ):
        raise CheckpointError(
            f"{folder}/config.json: base_model must be a model name and targets a list of "
            f"layer names, got {config['base_model']!r} and {targets!r}."
        )
    return config


def load_folder(folder: str | Path, device: torch.device) -> tuple[nn.Module, Any]:
    """The base model with the folder's adapter merged in, and the base model's tokenizer."""
    from lmkit.hub import load

    folder = Path(folder)
    config = _read_config(folder)
    adapter = folder / ADAPTER_FILE
    if not adapter.exists():
        raise CheckpointError(
            f"{folder} has no {ADAPTER_FILE}; the adapter folder is incomplete. Rebuild it with "
            "the recipe named in its MODEL_CARD.md."
        )
    base = load(config["base_model"], device=device)
    try:
        add_lora(base.model, r=config["r"], alpha=config["alpha"], targets=config["targets"])
    except LmkitError as exc:
        raise CheckpointError(
            f"{folder}: the adapter does not fit {config['base_model']}: {exc}"
        ) from exc
    load_lora(base.model, adapter)  # a damaged or mismatched file raises CheckpointError
    model = merge_and_unload(base.model.to(device)).eval()
    return model, base.tokenizer
