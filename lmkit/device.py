"""Pick the best available device, the matching autocast dtype, and seed everything.

Introduced in chapter 4; used by every chapter that trains or generates.
"""

from __future__ import annotations

import contextlib
import os
import random
from typing import Literal

import numpy as np
import torch

from lmkit.errors import ConfigError
from lmkit.validators import check_int

DeviceName = Literal["auto", "cpu", "cuda", "mps"]


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(preferred: str | torch.device | None = "auto") -> torch.device:
    """Return ``cuda`` if present, else ``mps`` (Apple silicon), else ``cpu``.

    ``preferred`` may name a device explicitly (``"cpu"``, ``"cuda:1"``…); asking for one that
    is not available raises :class:`ConfigError` instead of failing later inside a kernel.
    The environment variable ``LMKIT_DEVICE`` overrides ``"auto"`` (handy in classrooms).
    """
    if isinstance(preferred, torch.device):
        preferred = str(preferred)
    if preferred in (None, "auto"):
        preferred = os.environ.get("LMKIT_DEVICE", "auto")
    if preferred == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preferred)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            f"Unknown device {preferred!r}. Use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."
        ) from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "CUDA was requested but no CUDA GPU is visible. Use device='auto' or 'cpu'."
        )
    if (
        device.type == "cuda"
        and device.index is not None
        and device.index >= torch.cuda.device_count()
    ):
        raise ConfigError(
            f"{device} was requested but only {torch.cuda.device_count()} CUDA device(s) exist."
        )
    if device.type == "mps" and not mps_available():
        raise ConfigError(
            "MPS was requested but this machine has no Apple GPU. Use 'auto' or 'cpu'."
        )
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"Device type {device.type!r} is not supported; use cpu, cuda or mps.")
    return device


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The mixed-precision dtype worth using on ``device``, or ``None`` for plain fp32.

    bf16 on CUDA GPUs that support it (Ampere and newer), fp16 on older CUDA GPUs and on MPS;
    fp32 on CPU, where autocast is slower than fp32 for these small models and changes results.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return None


def autocast(device: torch.device | str, enabled: bool = True):
    """A context manager that runs under :func:`autocast_dtype`, or does nothing on fp32."""
    device = torch.device(device)
    dtype = autocast_dtype(device)
    if not enabled or dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator seeded the same.

    ``deterministic=True`` also asks torch for deterministic kernels, which is slower on GPUs.
    """
    seed = check_int("seed", seed, maximum=2**63 - 1)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.Generator().manual_seed(seed)


def describe_device(device: torch.device | str | None = None) -> str:
    """A one-line human description, e.g. 'CUDA: NVIDIA H100 (bf16)' or 'CPU (2 threads, fp32)'."""
    device = pick_device(device)
    dtype = autocast_dtype(device)
    precision = str(dtype).replace("torch.", "") if dtype else "fp32"
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)} ({precision})"
    if device.type == "mps":
        return f"Apple MPS ({precision})"
    return f"CPU ({torch.get_num_threads()} threads, {precision})"
