"""Save and load weights and training state: safetensors + JSON, written atomically.

Introduced in chapter 8. Two kinds of folders:

- a **model export** (:func:`save_model` / :func:`load_model`): ``model.safetensors`` and a
  ``config.json`` naming the ``model_type``, enough to rebuild the model anywhere;
- a **training checkpoint** (:func:`save_checkpoint` / :func:`read_checkpoint`), which adds the
  optimizer state, the random-number-generator states and a ``state.json`` (step, configs,
  history), everything needed to continue a run exactly where it stopped.

Nothing here unpickles: tensors live in safetensors files, everything else in JSON. A crash or a
full disk in the middle of a save never destroys the previous checkpoint: files are written
under a temporary name, flushed to disk (fsync) and only then renamed over the old ones.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from lmkit.errors import CheckpointError, InputError
from lmkit.registry import MODEL_TYPES, model_type_of, resolve
from lmkit.training.files import (
    atomic_write,
    read_json,
    read_shapes,
    read_tensors,
    replace_directory,
    write_json,
)
from lmkit.training.run_state import flatten_optimizer, unflatten_optimizer

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "check_weights",
    "config_to_dict",
    "load_model",
    "load_weights",
    "read_checkpoint",
    "read_state",
    "save_checkpoint",
    "save_model",
]

FORMAT_NAME = "lmkit-checkpoint"
FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
OPTIMIZER_FILE = "optimizer.safetensors"
RNG_FILE = "rng.safetensors"
STATE_FILE = "state.json"


def config_to_dict(config: object) -> dict[str, Any]:
    """A model config (dataclass or object with ``to_dict()``) as a plain dict."""
    if hasattr(config, "to_dict"):
        return dict(config.to_dict())
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    raise InputError(
        f"model.config must be a dataclass (or have to_dict()), got {type(config).__name__}."
    )


def _config_from_dict(config_cls: type, data: dict[str, Any]) -> object:
    try:
        if hasattr(config_cls, "from_dict"):
            return config_cls.from_dict(data)
        return config_cls(**data)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"The saved config does not fit {config_cls.__name__}: {exc}. The checkpoint may come "
            "from a different lmkit version; re-export it with the version that wrote it."
        ) from exc


# ------------------------------------------------------------------------------ weights
def _weights_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / MODEL_FILE if path.is_dir() else path


def check_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Raise :class:`CheckpointError` unless the weights file fits ``model`` key for key.

    Tied parameters (``lm_head.weight`` sharing ``wte.weight``) are stored once; the other
    name is accepted when its twin is present.
    """
    file = _weights_file(path)
    shapes, _ = read_shapes(file)
    own = model.state_dict()
    by_storage: dict[int, list[str]] = {}
    for name, tensor in own.items():
        if tensor.numel():
            by_storage.setdefault(tensor.data_ptr(), []).append(name)
    wrong = [
        f"{k}: file {shapes[k]} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in shapes and shapes[k] != tuple(v.shape)
    ]
    missing = []
    for k, v in own.items():
        twins = by_storage.get(v.data_ptr(), []) if v.numel() else []
        if k not in shapes and not any(twin in shapes for twin in twins):
            missing.append(k)
    unexpected = [k for k in shapes if k not in own]
    if wrong or missing or unexpected:
        parts = []
        if wrong:
            parts.append(f"wrong shapes: {'; '.join(wrong[:5])}")
        if missing:
            parts.append(f"missing from the file: {', '.join(missing[:5])}")
        if unexpected:
            parts.append(f"not in the model: {', '.join(unexpected[:5])}")
        raise CheckpointError(
            f"The weights in {file} do not fit this {type(model).__name__} ("
            + "; ".join(parts)
            + "). Build the model with the same config the weights were saved with."
        )


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Copy the weights from a ``model.safetensors`` file (or a folder holding one) into ``model``.

    Everything is checked before any parameter is touched, so a mismatch leaves ``model`` as it
    was. Introduced in chapter 8.
    """
    file = _weights_file(path)
    check_weights(model, file)
    try:
        safetensors.torch.load_model(model, str(file), strict=True)
    except Exception as exc:
        raise CheckpointError(f"Could not load weights from {file}: {exc}") from exc
    return model


def save_model(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Export ``model`` to ``directory``: ``model.safetensors`` plus ``config.json``.

    ``model`` must have a ``config`` dataclass and a registered class (see
    :mod:`lmkit.registry`); ``GPT`` is registered as ``"gpt"``. Introduced in chapter 8.
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"save_model expects an nn.Module, got {type(model).__name__}.")
    model_type = model_type_of(model)
    if model_type is None:
        raise InputError(
            f"{type(model).__name__} is not a registered model class, so load_model could not "
            "rebuild it. Call lmkit.registry.register_model_type('name', ModelClass, ConfigClass, kind) "
            "first, or save just the weights with safetensors.torch.save_model."
        )
    if getattr(model, "config", None) is None:
        raise InputError(f"{type(model).__name__} has no .config; save_model needs one.")
    config = {"model_type": model_type, **config_to_dict(model.config)}
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory} is a file; save_model writes into a folder.")
    atomic_write(directory / MODEL_FILE, lambda p: safetensors.torch.save_model(model, str(p)))
    atomic_write(directory / CONFIG_FILE, lambda p: write_json(p, config))
    return directory


def load_model(directory: str | os.PathLike, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model saved by :func:`save_model` (or a training checkpoint), in eval mode.

    Introduced in chapter 8.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(
            f"{directory} is not a folder. load_model expects the folder written by save_model."
        )
    if (directory / CONFIG_FILE).is_file() or not (directory / STATE_FILE).is_file():
        config = read_json(directory / CONFIG_FILE, "model config")
    else:  # a training checkpoint without a config.json (an unregistered model type)
        state = read_json(directory / STATE_FILE, "checkpoint state")
        config = {"model_type": state.get("model_type"), **(state.get("model_config") or {})}
    model_type = config.pop("model_type", None)
    if model_type is None:
        raise CheckpointError(
            f"{directory / CONFIG_FILE} has no 'model_type', so it was not written by lmkit. "
            "For Hugging Face checkpoints use the lmkit Hugging Face converters."
        )
    entry = MODEL_TYPES.get(model_type)
    if entry is None or entry.config_class is None:
        raise CheckpointError(
            f"Unknown model_type {model_type!r} in {directory}. Known: "
            f"{sorted(t for t, e in MODEL_TYPES.items() if e.config_class is not None)}. Register "
            "it with lmkit.registry.register_model_type, or load the folder with lmkit.load."
        )
    model_cls, config_cls = resolve(entry.model_class), resolve(entry.config_class)
    model = model_cls(_config_from_dict(config_cls, config))
    load_weights(model, directory / MODEL_FILE)
    return model.to(map_location).eval()


# ------------------------------------------------------------------- training checkpoint
@dataclasses.dataclass
class Checkpoint:
    """What :func:`read_checkpoint` found in a checkpoint folder."""

    path: Path
    state: dict[str, Any]
    optimizer_state: dict[str, Any]
    rng_tensors: dict[str, torch.Tensor]

    @property
    def weights_file(self) -> Path:
        """The ``model.safetensors`` file of this checkpoint."""
        return self.path / MODEL_FILE


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: Mapping[str, Any],
    rng_tensors: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Write a training checkpoint folder; all or nothing (the old one survives any failure).

    ``state`` is any JSON-ready mapping (step, configs, history…); the format marker and
    version are added here. Introduced in chapter 8.
    """
    path = Path(path)
    opt_tensors, opt_meta = flatten_optimizer(optimizer)
    model_type = model_type_of(model)
    config = getattr(model, "config", None)
    model_config = config_to_dict(config) if config is not None else None
    full_state = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        **state,
        "model_type": model_type,
        "model_config": model_config,
        "optimizer": opt_meta,
    }
    rng = {k: v.detach().cpu().contiguous() for k, v in (rng_tensors or {}).items()}
    writers: dict[str, Callable[[Path], None]] = {
        MODEL_FILE: lambda p: safetensors.torch.save_model(model, str(p)),
        OPTIMIZER_FILE: lambda p: safetensors.torch.save_file(opt_tensors, str(p)),
        RNG_FILE: lambda p: safetensors.torch.save_file(rng, str(p)),
    }
    if model_type is not None and model_config is not None:
        writers[CONFIG_FILE] = lambda p: write_json(p, {"model_type": model_type, **model_config})
    writers[STATE_FILE] = lambda p: write_json(p, full_state)  # last: marks a complete folder
    try:
        replace_directory(path, writers, marker=STATE_FILE)
    except (TypeError, ValueError) as exc:  # json refuses NaN and non-JSON objects
        raise CheckpointError(f"Could not serialise the checkpoint state: {exc}") from exc
    return path


def read_state(path: str | os.PathLike) -> dict[str, Any]:
    """The validated ``state.json`` of a checkpoint folder (format marker and version checked)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"{path} is a file; a checkpoint is a folder. Pass the folder.")
    state = read_json(path / STATE_FILE, "checkpoint state")
    if state.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f'{path / STATE_FILE} is not an lmkit checkpoint (no "format": "{FORMAT_NAME}"). '
            "Point to a folder written by Trainer.save_checkpoint."
        )
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} uses checkpoint format version {version!r}; this lmkit reads version "
            f"{FORMAT_VERSION}. Use the lmkit version that wrote it (or upgrade lmkit)."
        )
    for key in ("step", "optimizer"):
        if key not in state:
            raise CheckpointError(f"{path / STATE_FILE} lacks {key!r}; the file is incomplete.")
    return state


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and validate a checkpoint folder (format, version, files); touches no model."""
    path = Path(path)
    state = read_state(path)
    opt_tensors, _ = read_tensors(path / OPTIMIZER_FILE, "optimizer state")
    rng_tensors, _ = read_tensors(path / RNG_FILE, "random-number-generator state")
    read_shapes(path / MODEL_FILE)  # fail early on a corrupted weights file
    return Checkpoint(
        path, state, unflatten_optimizer(opt_tensors, state["optimizer"]), rng_tensors
    )
