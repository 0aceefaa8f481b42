"""Files that survive crashes: atomic writes, whole folders swapped in at once, and reads that
turn a damaged file into a clear :class:`~lmkit.errors.CheckpointError`.

A crash or a full disk in the middle of a save never destroys the previous file: files are
written under a temporary name, flushed to disk (fsync) and only then renamed over the old ones.
What an interrupted save leaves beside a folder is named in the error that follows (the newest
complete copy first) and removed by the next successful save. JSON is read through
:mod:`lmkit.safe_files` (regular files only, bounded in size). A weights file's header alone is
enough to check that it fits a model, even one built on the ``meta`` device before allocating.
Nothing here unpickles: tensors are read from safetensors, everything else from JSON.
Introduced in chapter 8.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn
from torch.overrides import TorchFunctionMode

from lmkit import safe_files
from lmkit.errors import CheckpointError
from lmkit.safe_files import MAX_JSON_BYTES, check_regular_file


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
    remove_leftovers(path)  # and whatever earlier interrupted saves left beside it


# ---------------------------------------------------------------------- reading safely
def _leftovers(folder: Path) -> list[Path]:
    """Folders an interrupted save of ``folder`` left beside it (``.name.old-*``, ``.name.tmp-*``)."""
    found = [
        *folder.parent.glob(f".{folder.name}.old-*"),
        *folder.parent.glob(f".{folder.name}.tmp-*"),
    ]
    return sorted(p for p in found if p.is_dir())


def _complete(copy: Path, marker: str = "state.json") -> float | None:
    """When ``copy``'s ``marker`` was written, if ``copy`` holds every file the marker lists."""
    try:
        state = read_json(copy / marker, "checkpoint state", max_bytes=2**30)
    except CheckpointError:
        return None
    names = state.get("files_sha256")
    names = list(names) if isinstance(names, dict) else ["model.safetensors"]
    if not all((copy / str(name)).is_file() for name in names):
        return None
    return (copy / marker).stat().st_mtime


def interrupted_save_hint(folder: Path) -> str:
    """Where the newest complete copy of a checkpoint folder is, after an interrupted save."""
    if folder.exists():
        return ""
    copies = _leftovers(folder)
    if not copies:
        return ""
    complete = {c: t for c in copies if (t := _complete(c)) is not None}
    incomplete = [c.name for c in copies if c not in complete]
    rest = f" Incomplete leftovers (delete them): {', '.join(incomplete)}." if incomplete else ""
    if not complete:
        return f" A save was interrupted and left only incomplete copies.{rest}"
    newest = max(complete, key=complete.__getitem__)
    return (
        f" A save was interrupted; the newest complete copy is {newest}: rename it to "
        f"{folder.name} to use it.{rest}"
    )


def remove_leftovers(folder: Path) -> None:
    """Delete what interrupted saves of ``folder`` left behind (after a successful save)."""
    for leftover in _leftovers(folder):
        shutil.rmtree(leftover, ignore_errors=True)


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a regular file (not a FIFO, device or folder), else a CheckpointError."""
    missing = f"Missing {what}: {path} does not exist.{interrupted_save_hint(path.parent)}"
    check_regular_file(path, what, missing=missing)
    return path


def read_json(path: Path, what: str, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The JSON object in ``path`` (bounded, regular files only; see :mod:`lmkit.safe_files`)."""
    require_file(path, what)
    data = safe_files.read_json(
        path, what, max_bytes=max_bytes, fix="The file is corrupted. Use an earlier checkpoint."
    )
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


def read_header(
    path: Path,
) -> tuple[dict[str, tuple[int, ...]], dict[str, str], dict[str, str]]:
    """Shapes, dtypes (safetensors names such as ``"F32"``) and metadata of a weights file.

    Only the file's header is read: cheap even for a large model.
    """
    require_file(path, "model weights")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            slices = {key: handle.get_slice(key) for key in handle.keys()}  # noqa: SIM118
            shapes = {key: tuple(s.get_shape()) for key, s in slices.items()}
            dtypes = {key: str(s.get_dtype()) for key, s in slices.items()}
    except Exception as exc:
        raise CheckpointError(
            f"{path} is not a readable safetensors file (truncated or corrupted?): {exc}. "
            "Use an earlier checkpoint or save the model again."
        ) from exc
    return shapes, dtypes, metadata


def read_shapes(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Shapes and metadata of a weights file (see :func:`read_header`)."""
    shapes, _, metadata = read_header(path)
    return shapes, metadata


# ------------------------------------------------------------------- weights vs. model
_DTYPE_NAMES = {
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}  # fmt: skip


def _dtype_fits(file_dtype: str, tensor: torch.Tensor) -> bool:
    """Floating tensors take any floating dtype (a float16 export loads into float32); others
    only their own."""
    if tensor.is_floating_point():
        return file_dtype.startswith(("F", "BF"))
    return _DTYPE_NAMES.get(tensor.dtype) == file_dtype


def check_weights_fit(model: nn.Module, file: Path) -> None:
    """Raise :class:`CheckpointError` unless the weights file fits ``model`` key for key, in
    shape and dtype (works for a model on the ``meta`` device too: only the header is read).

    Tied parameters (``lm_head.weight`` sharing ``wte.weight``) are stored once; the other
    name is accepted when its twin is present.
    """
    shapes, dtypes, _ = read_header(file)
    own = model.state_dict(keep_vars=True)
    groups: dict[tuple[str, int], list[str]] = {}
    for name, tensor in own.items():  # twins: the same tensor object, or the same storage
        groups.setdefault(("object", id(tensor)), []).append(name)
        if tensor.numel() and not tensor.is_meta:
            groups.setdefault(("storage", tensor.data_ptr()), []).append(name)
    twins = {n: {t for g in groups.values() if n in g for t in g} for n in own}
    wrong = [
        f"{k}: file {shapes[k]} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in shapes and shapes[k] != tuple(v.shape)
    ]
    wrong_dtypes = [
        f"{k}: file {dtypes[k]} vs model {str(v.dtype).removeprefix('torch.')}"
        for k, v in own.items()
        if k in dtypes and not _dtype_fits(dtypes[k], v)
    ]
    missing = [k for k in own if not any(twin in shapes for twin in twins[k])]
    unexpected = [k for k in shapes if k not in own]
    if wrong or wrong_dtypes or missing or unexpected:
        parts = []
        if wrong:
            parts.append(f"wrong shapes: {'; '.join(wrong[:5])}")
        if wrong_dtypes:
            parts.append(f"wrong dtypes: {'; '.join(wrong_dtypes[:5])}")
        if missing:
            parts.append(f"missing from the file: {', '.join(missing[:5])}")
        if unexpected:
            parts.append(f"not in the model: {', '.join(unexpected[:5])}")
        raise CheckpointError(
            f"The weights in {file} do not fit this {type(model).__name__} ("
            + "; ".join(parts)
            + "). Build the model with the same config the weights were saved with."
        )


_FILLS = frozenset(
    {"normal_", "uniform_", "zero_", "fill_", "zeros_", "ones_", "constant_", "trunc_normal_",
     "orthogonal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_"}
)  # fmt: skip


class _Oversized(Exception):
    pass


class _MetaBuild(TorchFunctionMode):
    """Build a model on the ``meta`` device (shapes, no memory). Initialising a parameter is
    skipped (a meta tensor has no values) but its size is counted, so that a config far bigger
    than the weights file it claims to describe stops after a few layers."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.created, self.seen = limit, 0, set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        first = args[0] if args else kwargs.get("tensor")
        if getattr(func, "__name__", "") not in _FILLS or not (
            isinstance(first, torch.Tensor) and first.is_meta
        ):
            return func(*args, **kwargs)
        if isinstance(first, nn.Parameter) and id(first) not in self.seen:
            self.seen.add(id(first))
            self.created += first.numel()
            if self.created > self.limit:
                raise _Oversized
        return first  # nothing to fill (and a meta normal_ would import torch's compiler)


def check_before_building(model_cls: type, config: object, file: Path) -> None:
    """Compare the model ``config`` describes with the weights' header before allocating it."""
    shapes, _, _ = read_header(file)
    stored = sum(math.prod(shape) for shape in shapes.values())
    # A model that fits has about as many parameters as the file stores (twice, at most, when
    # a tied layer is created before its tie); four times as many means another model.
    try:
        with torch.device("meta"), _MetaBuild(4 * stored + 2**16):
            probe = model_cls(config)
    except _Oversized:
        raise CheckpointError(
            f"The config in {file.parent} describes a model far bigger than the {stored:,} "
            f"numbers stored in {file}: config and weights do not belong together. Use the "
            "config.json that was saved with these weights."
        ) from None
    except Exception:  # a model that cannot be built on meta: checked after building
        return
    check_weights_fit(probe, file)


__all__ = [
    "atomic_write",
    "check_before_building",
    "check_weights_fit",
    "fsync_dir",
    "fsync_file",
    "interrupted_save_hint",
    "read_header",
    "read_json",
    "read_shapes",
    "read_tensors",
    "remove_leftovers",
    "replace_directory",
    "require_file",
    "write_json",
]
