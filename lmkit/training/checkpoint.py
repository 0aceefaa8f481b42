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
import importlib
import json
import os
import random
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from safetensors import safe_open
from torch import nn

from lmkit.errors import CheckpointError, InputError

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "atomic_write",
    "capture_rng_state",
    "check_optimizer_state",
    "check_weights",
    "config_to_dict",
    "load_model",
    "load_weights",
    "model_type_of",
    "read_checkpoint",
    "read_state",
    "register_model",
    "restore_rng_state",
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

# model_type -> (model class, config class), each a class or a lazy "module:attribute" path so
# that importing this module never drags in every model family.
_MODEL_REGISTRY: dict[str, tuple[type | str, type | str]] = {
    "gpt": ("lmkit.gpt.model:GPT", "lmkit.gpt.model:GPTConfig"),
    "bert": ("lmkit.bert.model:BertEncoder", "lmkit.bert.model:BertConfig"),
    "bert-mlm": ("lmkit.bert.model:BertForMaskedLM", "lmkit.bert.model:BertConfig"),
    "bert-classifier": ("lmkit.bert.model:BertForSequenceClassification", "lmkit.bert.model:BertConfig"),
}


# ------------------------------------------------------------------------------ registry
def register_model(model_type: str, model_cls: type | str, config_cls: type | str) -> None:
    """Teach :func:`load_model` to rebuild ``model_type`` as ``model_cls(config_cls(...))``.

    Classes may be given directly or as lazy ``"package.module:ClassName"`` strings.
    """
    if not isinstance(model_type, str) or not model_type:
        raise InputError(f"model_type must be a non-empty string, got {model_type!r}.")
    for what, cls in (("model_cls", model_cls), ("config_cls", config_cls)):
        if not isinstance(cls, type) and not (isinstance(cls, str) and ":" in cls):
            raise InputError(f"{what} must be a class or a 'module:Class' string, got {cls!r}.")
    _MODEL_REGISTRY[model_type] = (model_cls, config_cls)


def _resolve(ref: type | str) -> type:
    if isinstance(ref, type):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def model_type_of(model: nn.Module) -> str | None:
    """The registered ``model_type`` of ``model``'s class, or ``None`` if it is not registered."""
    for model_type, (model_ref, _) in _MODEL_REGISTRY.items():
        if model_ref is type(model) or model_ref == _qualified(type(model)):
            return model_type
    return None


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


# ---------------------------------------------------------------------- atomic writing
def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    try:  # directories cannot be opened on Windows; the rename is still atomic there
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file next to ``path``, fsync it, rename it to ``path``.

    Readers see either the old file or the complete new one, never half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        _fsync_file(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _replace_directory(path: Path, writers: Mapping[str, Callable[[Path], None]]) -> None:
    """Write every file into a fresh temporary folder, then swap it in for ``path``."""
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"{path} is a file; a checkpoint is a folder. Choose another path.")
    if path.is_dir() and any(path.iterdir()) and not (path / STATE_FILE).is_file():
        raise CheckpointError(
            f"{path} is a non-empty folder that is not an lmkit checkpoint; refusing to replace "
            "it. Choose an empty or new folder for checkpoints."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
    moved_old = False
    try:
        for name, write in writers.items():
            write(tmp / name)
            _fsync_file(tmp / name)
        os.chmod(tmp, 0o755)
        _fsync_dir(tmp)
        # A folder cannot be renamed over a non-empty one, so the old one steps aside first.
        if path.exists():
            os.replace(path, old)
            moved_old = True
        os.replace(tmp, path)
    except BaseException:
        if moved_old and not path.exists():
            os.replace(old, path)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(path.parent)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------- reading safely
def _require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        hint = ""
        leftovers = sorted(path.parent.parent.glob(f".{path.parent.name}.old-*"))
        if not path.parent.exists() and leftovers:
            hint = f" A save was interrupted; the previous checkpoint is at {leftovers[-1]}."
        raise CheckpointError(f"Missing {what}: {path} does not exist.{hint}")
    return path


def _read_json(path: Path, what: str) -> dict[str, Any]:
    _require_file(path, what)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"{path} is not valid JSON ({exc}); the file is corrupted. Use an earlier checkpoint."
        ) from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} should hold a JSON object, got {type(data).__name__}.")
    return data


def _read_tensors(path: Path, what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    _require_file(path, what)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types for bad files
        raise CheckpointError(
            f"{path} is not a readable safetensors file (truncated or corrupted?): {exc}. "
            "Use an earlier checkpoint or save it again."
        ) from exc
    return tensors, metadata


def _read_shapes(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    _require_file(path, "model weights")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except Exception as exc:
        raise CheckpointError(
            f"{path} is not a readable safetensors file (truncated or corrupted?): {exc}. "
            "Use an earlier checkpoint or save the model again."
        ) from exc
    return shapes, metadata


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
    shapes, _ = _read_shapes(file)
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
    :func:`register_model`); ``GPT`` is registered as ``"gpt"``. Introduced in chapter 8.
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"save_model expects an nn.Module, got {type(model).__name__}.")
    model_type = model_type_of(model)
    if model_type is None:
        raise InputError(
            f"{type(model).__name__} is not a registered model class, so load_model could not "
            "rebuild it. Call lmkit.training.checkpoint.register_model('name', ModelClass, ConfigClass) "
            "first, or save just the weights with safetensors.torch.save_model."
        )
    if getattr(model, "config", None) is None:
        raise InputError(f"{type(model).__name__} has no .config; save_model needs one.")
    config = {"model_type": model_type, **config_to_dict(model.config)}
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory} is a file; save_model writes into a folder.")
    atomic_write(directory / MODEL_FILE, lambda p: safetensors.torch.save_model(model, str(p)))
    atomic_write(directory / CONFIG_FILE, lambda p: _write_json(p, config))
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
        config = _read_json(directory / CONFIG_FILE, "model config")
    else:  # a training checkpoint without a config.json (an unregistered model type)
        state = _read_json(directory / STATE_FILE, "checkpoint state")
        config = {"model_type": state.get("model_type"), **(state.get("model_config") or {})}
    model_type = config.pop("model_type", None)
    if model_type is None:
        raise CheckpointError(
            f"{directory / CONFIG_FILE} has no 'model_type', so it was not written by lmkit. "
            "For Hugging Face checkpoints use the lmkit Hugging Face converters."
        )
    if model_type not in _MODEL_REGISTRY:
        raise CheckpointError(
            f"Unknown model_type {model_type!r} in {directory}. Known: "
            f"{sorted(_MODEL_REGISTRY)}. Register it with lmkit.training.checkpoint.register_model."
        )
    model_ref, config_ref = _MODEL_REGISTRY[model_type]
    model_cls, config_cls = _resolve(model_ref), _resolve(config_ref)
    model = model_cls(_config_from_dict(config_cls, config))
    load_weights(model, directory / MODEL_FILE)
    return model.to(map_location).eval()


# ---------------------------------------------------------------------- optimizer state
def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state as safetensors-ready tensors plus a JSON-ready description."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in state_dict["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    groups = []
    for group in state_dict["param_groups"]:
        tuples = sorted(k for k, v in group.items() if isinstance(v, tuple))
        groups.append(
            {**{k: list(v) if k in tuples else v for k, v in group.items()}, "_tuples": tuples}
        )
    return tensors, {"param_groups": groups, "scalar_state": scalars}


def _unflatten_optimizer(tensors: Mapping[str, torch.Tensor], meta: Mapping) -> dict[str, Any]:
    try:
        state: dict[int, dict[str, Any]] = {}
        for name, tensor in tensors.items():
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = tensor
        for index, values in meta["scalar_state"].items():
            state.setdefault(int(index), {}).update(values)
        groups = []
        for group in meta["param_groups"]:
            group = dict(group)
            tuples = group.pop("_tuples", [])
            groups.append({k: tuple(v) if k in tuples else v for k, v in group.items()})
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(
            f"The optimizer state in the checkpoint is malformed: {exc!r}."
        ) from exc
    return {"state": state, "param_groups": groups}


def check_optimizer_state(optimizer: torch.optim.Optimizer, state_dict: Mapping) -> None:
    """Raise :class:`CheckpointError` unless ``state_dict`` fits ``optimizer``'s parameters."""
    groups = optimizer.param_groups
    saved = state_dict["param_groups"]
    if len(saved) != len(groups) or any(
        len(s.get("params", [])) != len(g["params"]) for s, g in zip(saved, groups, strict=True)
    ):
        raise CheckpointError(
            "The optimizer state does not fit this model: parameter groups of sizes "
            f"{[len(s.get('params', [])) for s in saved]} vs {[len(g['params']) for g in groups]}. "
            "Resume with the same model architecture."
        )
    params = [p for g in groups for p in g["params"]]
    ids = [i for s in saved for i in s["params"]]
    position = {pid: n for n, pid in enumerate(ids)}
    for index, per_param in state_dict["state"].items():
        if index not in position:
            raise CheckpointError(f"Optimizer state refers to unknown parameter {index}.")
        param = params[position[index]]
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor) and value.dim() and value.shape != param.shape:
                raise CheckpointError(
                    f"Optimizer state {key!r} of parameter {index} has shape {tuple(value.shape)}, "
                    f"the parameter {tuple(param.shape)}. Resume with the same model architecture."
                )


# --------------------------------------------------------------------------- RNG state
def capture_rng_state() -> dict[str, Any]:
    """Python's and NumPy's global RNG states as JSON-ready data (torch's go in safetensors)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    try:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"The saved random-number-generator state is malformed: {exc}"
        ) from exc


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
    opt_tensors, opt_meta = _flatten_optimizer(optimizer)
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
        writers[CONFIG_FILE] = lambda p: _write_json(p, {"model_type": model_type, **model_config})
    writers[STATE_FILE] = lambda p: _write_json(p, full_state)  # last: marks a complete folder
    try:
        _replace_directory(path, writers)
    except (TypeError, ValueError) as exc:  # json refuses NaN and non-JSON objects
        raise CheckpointError(f"Could not serialise the checkpoint state: {exc}") from exc
    return path


def read_state(path: str | os.PathLike) -> dict[str, Any]:
    """The validated ``state.json`` of a checkpoint folder (format marker and version checked)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"{path} is a file; a checkpoint is a folder. Pass the folder.")
    state = _read_json(path / STATE_FILE, "checkpoint state")
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
    opt_tensors, _ = _read_tensors(path / OPTIMIZER_FILE, "optimizer state")
    rng_tensors, _ = _read_tensors(path / RNG_FILE, "random-number-generator state")
    _read_shapes(path / MODEL_FILE)  # fail early on a corrupted weights file
    return Checkpoint(
        path, state, _unflatten_optimizer(opt_tensors, state["optimizer"]), rng_tensors
    )
