"""The rest of a run's state, beside the weights: the optimizer's and the random-number
generators', as safetensors-ready tensors plus JSON, so that a resumed run continues exactly.

Introduced in chapter 8.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmkit.errors import CheckpointError


# ---------------------------------------------------------------------- optimizer state
def flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
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


def unflatten_optimizer(tensors: Mapping[str, torch.Tensor], meta: Mapping) -> dict[str, Any]:
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


# ----------------------------------------------------------------- state.json's fields
def _int(low: int) -> Callable[[object], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _optional(test: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda v: v is None or test(v)


def _seconds(value: object) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value) and value >= 0


def _digests(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and "/" not in k and "\\" not in k and k not in ("", ".", "..")
        and isinstance(v, str) and re.fullmatch("[0-9a-f]{64}", v)
        for k, v in value.items()
    )  # fmt: skip


# field -> (required?, test, what it must be)
_STATE_FIELDS: dict[str, tuple[bool, Callable[[object], bool], str]] = {
    "step": (True, _int(0), "a non-negative integer"),
    "optimizer": (True, lambda v: isinstance(v, dict), "an object"),
    "history": (
        False,
        lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v),
        "a list of records (objects)",
    ),
    "elapsed": (False, _seconds, "a finite number of seconds >= 0"),
    "world_size": (False, _optional(_int(1)), "an integer >= 1"),
    "train_config": (False, lambda v: isinstance(v, dict), "an object"),
    "model_type": (False, _optional(lambda v: isinstance(v, str)), "a string or null"),
    "model_config": (False, _optional(lambda v: isinstance(v, dict)), "an object or null"),
    "rng": (False, lambda v: isinstance(v, dict), "an object"),
    "data": (False, lambda v: isinstance(v, dict), "an object"),
    "files_sha256": (False, _digests, "an object of file names and 64-digit SHA-256s"),
}


def check_state_fields(state: Mapping[str, Any], where: Path) -> None:
    """Raise :class:`CheckpointError` naming the first field of ``state.json`` that is missing
    or of the wrong type (``step`` a non-negative integer, ``history`` a list of records…)."""
    for name, (required, test, requirement) in _STATE_FIELDS.items():
        if name not in state:
            if required:
                raise CheckpointError(f"{where} lacks {name!r}; the file is incomplete.")
            continue
        if not test(state[name]):
            shown = repr(state[name])
            shown = shown if len(shown) <= 60 else f"{shown[:60]}…"
            raise CheckpointError(
                f"{where}: {name!r} must be {requirement}, got {shown}. The file is damaged or "
                "was edited; use an earlier checkpoint."
            )


__all__ = [
    "capture_rng_state",
    "check_optimizer_state",
    "check_state_fields",
    "flatten_optimizer",
    "restore_rng_state",
    "unflatten_optimizer",
]
