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
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from lmkit.errors import CheckpointError, InputError
from lmkit.registry import MODEL_TYPES, model_type_of, resolve
from lmkit.safe_files import sha256_file, verify_sha256
from lmkit.training.files import (
    atomic_write,
    check_before_building,
    check_weights_fit,
    read_header,
    read_json,
    read_shapes,
    read_tensors,
    replace_directory,
    require_file,
    write_json,
)
from lmkit.training.run_state import check_state_fields, flatten_optimizer, unflatten_optimizer

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
STATE_MAX_BYTES = 2**30  # state.json holds the whole history; a long run may log a lot
CONFIG_KEY = "lmkit_config"  # the weights' header records the config they were saved with
DIGEST_KEY = "weights_sha256"  # config.json records the SHA-256 of its model.safetensors


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
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise CheckpointError(
            f"The saved config does not fit {config_cls.__name__}: {exc}. The checkpoint may come "
            "from a different lmkit version; re-export it with the version that wrote it."
        ) from exc


# ------------------------------------------------------------------------------ weights
def _weights_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / MODEL_FILE if path.is_dir() else path


def check_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Raise :class:`CheckpointError` unless the weights file (or a folder's
    ``model.safetensors``) fits ``model`` key for key, in shape and dtype; see
    :func:`lmkit.training.files.check_weights_fit`."""
    check_weights_fit(model, _weights_file(path))


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


def _weights_writer(model: nn.Module, config: dict[str, Any] | None) -> Callable[[Path], None]:
    """Writes ``model``'s weights; the header records ``config``, binding the two files."""
    metadata = {CONFIG_KEY: json.dumps(config, sort_keys=True)} if config is not None else None
    return lambda p: safetensors.torch.save_model(model, str(p), metadata=metadata)


def save_model(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Export ``model`` to ``directory``: ``model.safetensors`` plus ``config.json``.

    ``model`` must have a ``config`` dataclass and a registered class (see
    :mod:`lmkit.registry`); ``GPT`` is registered as ``"gpt"``. Introduced in chapter 8.
    Each file is replaced atomically, and the two are bound together: the weights' header
    records the config and ``config.json`` the weights' SHA-256, so a save interrupted between
    the two files (or a damaged weights file) is refused by :func:`load_model`.
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
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"The model's config cannot be saved as JSON: {exc}") from exc
    weights = atomic_write(directory / MODEL_FILE, _weights_writer(model, config))
    digest = sha256_file(weights)
    atomic_write(directory / CONFIG_FILE, lambda p: write_json(p, {**config, DIGEST_KEY: digest}))
    return directory


def _check_bound(
    directory: Path, config: dict[str, Any], digest: object, saved: str | None
) -> None:
    """Refuse a config.json and model.safetensors that were not saved together."""
    if saved is not None:
        try:
            recorded = json.loads(saved)
        except ValueError:
            recorded = None
        if not isinstance(recorded, dict) or recorded != config:
            differ = sorted(
                k for k in set(config) | set(recorded or {})
                if not isinstance(recorded, dict) or config.get(k) != recorded.get(k)
            )  # fmt: skip
            raise CheckpointError(
                f"{directory / CONFIG_FILE} does not match the config {MODEL_FILE} was saved with "
                f"(they differ in {differ[:6]}): the two files come from different saves (was a "
                "save interrupted?). Save the model again."
            )
    if digest is not None:
        verify_sha256(directory / MODEL_FILE, digest, "model weights")


def load_model(directory: str | os.PathLike, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model saved by :func:`save_model` (or a training checkpoint), in eval mode.

    The config is checked against the weights' header (shapes, dtypes, and the config and
    SHA-256 recorded at save time) before the model is allocated. Introduced in chapter 8.
    """
    directory = Path(directory)
    try:
        is_folder = directory.is_dir()
    except OSError as exc:  # e.g. a name too long for the file system
        raise CheckpointError(f"Cannot look at {str(directory)[:80]!r}: {exc.strerror}.") from exc
    if not is_folder:
        raise CheckpointError(
            f"{directory} is not a folder. load_model expects the folder written by save_model."
        )
    if (directory / CONFIG_FILE).exists() or not (directory / STATE_FILE).is_file():
        config = read_json(directory / CONFIG_FILE, "model config")
    else:  # a training checkpoint without a config.json (an unregistered model type)
        state = read_state(directory)
        config = {"model_type": state.get("model_type"), **(state.get("model_config") or {})}
    digest = config.pop(DIGEST_KEY, None)
    model_type = config.get("model_type")
    if model_type is None:
        raise CheckpointError(
            f"{directory / CONFIG_FILE} has no 'model_type', so it was not written by lmkit. "
            "For Hugging Face checkpoints use the lmkit Hugging Face converters."
        )
    entry = MODEL_TYPES.get(model_type) if isinstance(model_type, str) else None
    if entry is None or entry.config_class is None:
        raise CheckpointError(
            f"Unknown model_type {model_type!r} in {directory}. Known: "
            f"{sorted(t for t, e in MODEL_TYPES.items() if e.config_class is not None)}. Register "
            "it with lmkit.registry.register_model_type, or load the folder with lmkit.load."
        )
    model_cls, config_cls = resolve(entry.model_class), resolve(entry.config_class)
    model_config = _config_from_dict(
        config_cls, {k: v for k, v in config.items() if k != "model_type"}
    )
    weights = directory / MODEL_FILE
    _check_bound(directory, config, digest, read_header(weights)[2].get(CONFIG_KEY))
    check_before_building(model_cls, model_config, weights)
    model = model_cls(model_config)
    load_weights(model, weights)
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
    export = None  # config.json, written when load_model can rebuild the model
    if model_type is not None and model_config is not None:
        try:
            export = {"model_type": model_type, **json.loads(json.dumps(model_config))}
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"Could not serialise the model config: {exc}") from exc
    writers: dict[str, Callable[[Path], None]] = {
        MODEL_FILE: _weights_writer(model, export),
        OPTIMIZER_FILE: lambda p: safetensors.torch.save_file(opt_tensors, str(p)),
        RNG_FILE: lambda p: safetensors.torch.save_file(rng, str(p)),
    }
    if export is not None:
        writers[CONFIG_FILE] = lambda p: write_json(
            p, {**export, DIGEST_KEY: sha256_file(p.parent / MODEL_FILE)}
        )
    # Last: marks a complete folder, and records every other file's SHA-256.
    writers[STATE_FILE] = lambda p: write_json(
        p,
        {
            **full_state,
            "files_sha256": {n: sha256_file(p.parent / n) for n in writers if n != STATE_FILE},
        },
    )
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
    state = read_json(path / STATE_FILE, "checkpoint state", max_bytes=STATE_MAX_BYTES)
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
    check_state_fields(state, path / STATE_FILE)
    return state


_WHAT = {
    MODEL_FILE: "model weights",
    OPTIMIZER_FILE: "optimizer state",
    RNG_FILE: "random-number-generator state",
    CONFIG_FILE: "model config",
}


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and validate a checkpoint folder (format, version, files); touches no model."""
    path = Path(path)
    state = read_state(path)
    for name in (MODEL_FILE, OPTIMIZER_FILE, RNG_FILE):
        require_file(path / name, _WHAT[name])
    opt_tensors, _ = read_tensors(path / OPTIMIZER_FILE, "optimizer state")
    rng_tensors, _ = read_tensors(path / RNG_FILE, "random-number-generator state")
    read_shapes(path / MODEL_FILE)  # fail early on a corrupted weights file
    # A file that parses can still have changed since the save (one flipped byte of a weight).
    for name, digest in state.get("files_sha256", {}).items():  # absent in older checkpoints
        verify_sha256(path / name, digest, _WHAT.get(name, name))
    return Checkpoint(
        path, state, unflatten_optimizer(opt_tensors, state["optimizer"]), rng_tensors
    )
