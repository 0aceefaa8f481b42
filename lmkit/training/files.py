"""Files that survive crashes: atomic writes, whole folders swapped in at once, and reads that
turn a damaged file into a clear :class:`~lmkit.errors.CheckpointError`.

A crash or a full disk in the middle of a save never destroys the previous file: files are
written under a temporary name, flushed to disk (fsync) and only then renamed over the old ones.
Nothing here unpickles: tensors are read from safetensors, everything else from JSON.
Introduced in chapter 8.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from lmkit.errors import CheckpointError


# ---------------------------------------------------------------------- atomic writing
def fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
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
        fsync_file(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def replace_directory(
    path: Path, writers: Mapping[str, Callable[[Path], None]], marker: str
) -> None:
    """Write every file into a fresh temporary folder, then swap it in for ``path``.

    An existing folder is replaced only if it holds ``marker`` (it is one of ours).
    """
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"{path} is a file; a checkpoint is a folder. Choose another path.")
    if path.is_dir() and any(path.iterdir()) and not (path / marker).is_file():
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
            fsync_file(tmp / name)
        os.chmod(tmp, 0o755)
        fsync_dir(tmp)
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
    fsync_dir(path.parent)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------- reading safely
def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        hint = ""
        leftovers = sorted(path.parent.parent.glob(f".{path.parent.name}.old-*"))
        if not path.parent.exists() and leftovers:
            hint = f" A save was interrupted; the previous checkpoint is at {leftovers[-1]}."
        raise CheckpointError(f"Missing {what}: {path} does not exist.{hint}")
    return path


def read_json(path: Path, what: str) -> dict[str, Any]:
    require_file(path, what)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"{path} is not valid JSON ({exc}); the file is corrupted. Use an earlier checkpoint."
        ) from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} should hold a JSON object, got {type(data).__name__}.")
    return data


def read_tensors(path: Path, what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    require_file(path, what)
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


def read_shapes(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    require_file(path, "model weights")
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


__all__ = [
    "atomic_write",
    "fsync_dir",
    "fsync_file",
    "read_json",
    "read_shapes",
    "read_tensors",
    "replace_directory",
    "require_file",
    "write_json",
]
