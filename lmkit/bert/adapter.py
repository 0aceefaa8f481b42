"""A folder that holds only what fine-tuning added to tiny-bert: LoRA adapters and a task head.

Introduced in chapter 13. ``tiny-ner`` and ``tiny-qa`` ship this way: ``config.json`` names the
``model_type`` (``"bert-lora-tagger"`` or ``"bert-lora-qa"``), the built-in ``base_model``
whose encoder they adapt, the adapters' ``r``, ``alpha`` and ``targets`` and, for a tagger, its
``labels``. ``adapter.safetensors`` holds the LoRA matrices (stored as float16, which halves the
file; they are read back as float32) and ``head.safetensors`` the head's Linear layer.
:func:`load_folder` rebuilds the task model from the base encoder, adds adapters of that shape,
reads both files and merges the adapters in, so inference costs what plain BERT costs. Any
problem with the folder is a :class:`~lmkit.errors.CheckpointError`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lmkit import safe_files
from lmkit.bert.task_heads import BertForQuestionAnswering, BertForTokenClassification
from lmkit.errors import CheckpointError, LmkitError
from lmkit.nn.lora import add_lora, load_lora, lora_state_dict, merge_and_unload

__all__ = [
    "ADAPTER_FILE",
    "BERT_TARGETS",
    "HEAD_FILE",
    "TASK_MODELS",
    "load_folder",
    "save_folder",
    "task_model_from_base",
]

ADAPTER_FILE = "adapter.safetensors"
HEAD_FILE = "head.safetensors"
BERT_TARGETS = ("attn.query", "attn.key", "attn.value", "attn.out", "mlp_in", "mlp_out")
"""The Linear layers of an lmkit BERT layer that LoRA can adapt (attention and feed-forward)."""
# model_type -> (task model class, name of its head module)
TASK_MODELS: dict[str, tuple[type[nn.Module], str]] = {
    "bert-lora-tagger": (BertForTokenClassification, "classifier"),
    "bert-lora-qa": (BertForQuestionAnswering, "qa_outputs"),
}
_MAX_BYTES = 64 * 1024 * 1024
_KEYS = ("model_type", "base_model", "r", "alpha", "targets", "labels")


def task_model_from_base(model_type: str, base: nn.Module, labels: Sequence[str] = ()) -> nn.Module:
    """A fresh task model of ``model_type`` whose encoder is a copy of ``base``'s (a
    BertForMaskedLM such as tiny-bert): the starting point of fine-tuning."""
    cls, _ = TASK_MODELS[model_type]
    config = dataclasses.replace(base.config, labels=tuple(labels))
    model = cls(config)
    model.bert.load_state_dict(base.bert.state_dict())
    return model


def save_folder(
    model: nn.Module,
    folder: str | Path,
    *,
    model_type: str,
    base_model: str,
    r: int,
    alpha: float,
    targets: Sequence[str],
) -> Path:
    """Write config.json, adapter.safetensors (float16) and head.safetensors of ``model``,
    a task model with (unmerged) adapters."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _, head_name = TASK_MODELS[model_type]
    config = {
        "model_type": model_type, "base_model": base_model, "r": r, "alpha": alpha,
        "targets": list(targets), "labels": list(model.config.labels),
    }  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    adapters = {
        k: v.detach().cpu().half().contiguous() for k, v in lora_state_dict(model.bert).items()
    }
    save_file(adapters, str(folder / ADAPTER_FILE), metadata={"format": "lmkit-lora"})
    head = getattr(model, head_name).state_dict()
    save_file({k: v.detach().cpu().contiguous() for k, v in head.items()}, str(folder / HEAD_FILE))
    return folder


def _read_config(folder: Path) -> dict[str, Any]:
    config = safe_files.read_config(
        folder, _KEYS, "task adapter config", "lmkit.bert.adapter.save_folder"
    )
    if config["model_type"] not in TASK_MODELS or not isinstance(config["base_model"], str):
        raise CheckpointError(
            f"{folder}/config.json: model_type must be one of {sorted(TASK_MODELS)} and "
            f"base_model a model name, got {config['model_type']!r}, {config['base_model']!r}."
        )
    return config


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.exists():
        raise CheckpointError(
            f"{path} is missing; the folder is incomplete. Rebuild it with the recipe named in "
            "its MODEL_CARD.md."
        )
    safe_files.check_regular_file(path, path.name, max_bytes=_MAX_BYTES)
    try:
        return {k: v.float() for k, v in load_file(str(path)).items()}
    except (OSError, SafetensorError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is not a readable safetensors file (truncated or corrupted?): {exc}. "
            "Rebuild the folder with the recipe named in its MODEL_CARD.md."
        ) from exc


def load_folder(folder: str | Path, device: torch.device) -> tuple[nn.Module, Any]:
    """The task model (adapters merged, eval mode) and the base model's tokenizer."""
    from lmkit.hub import load

    folder = Path(folder)
    config = _read_config(folder)
    adapters, head = _tensors(folder / ADAPTER_FILE), _tensors(folder / HEAD_FILE)
    base = load(config["base_model"], device="cpu")
    try:
        model = task_model_from_base(config["model_type"], base.model, config["labels"])
        add_lora(model.bert, r=config["r"], alpha=config["alpha"], targets=config["targets"])
    except LmkitError as exc:
        raise CheckpointError(
            f"{folder}: the adapter does not fit {config['base_model']}: {exc}"
        ) from exc
    load_lora(model.bert, adapters)  # a missing or misshapen tensor raises CheckpointError
    head_module = getattr(model, TASK_MODELS[config["model_type"]][1])
    try:
        head_module.load_state_dict(head)
    except RuntimeError as exc:
        raise CheckpointError(f"{folder}/{HEAD_FILE} does not fit the model: {exc}") from exc
    merge_and_unload(model.bert)
    return model.to(device).eval(), base.tokenizer
