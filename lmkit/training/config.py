"""Every knob of a training run, in one validated dataclass: :class:`TrainConfig`.

Introduced in chapter 8. The config is plain data (it is saved in every checkpoint's
``state.json``), and the learning rate of any step is a pure function of it (:meth:`lr_at`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from typing import Any

from lmkit.errors import ConfigError
from lmkit.training.schedule import constant, warmup_cosine

__all__ = ["AMP_MODES", "GRAD_NORM_ORDERS", "SCHEDULES", "TrainConfig"]

AMP_MODES = ("auto", "bf16", "off")
SCHEDULES = ("cosine", "constant")
GRAD_NORM_ORDERS = ("param_groups", "model")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int(value: object, _: object = None) -> bool:
    return _is_int(value) and value >= 1


def _optional_positive_int(value: object, _: object = None) -> bool:
    return value is None or _positive_int(value)


def _optional_bool(value: object, _: object = None) -> bool:
    return value is None or isinstance(value, bool)


# field -> (test of the value given the whole config, what the message says it must be)
_RULES: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "max_steps": (_positive_int, "an integer >= 1"),
    "batch_size": (_optional_positive_int, "None or an integer >= 1"),
    "grad_accum_steps": (_positive_int, "an integer >= 1"),
    "lr": (lambda v, c: _is_number(v) and v > 0, "a number > 0"),
    "min_lr": (
        lambda v, c: v is None or (_is_number(v) and 0 <= v <= c.lr),
        "None (= lr / 10) or a number in [0, lr]",
    ),
    "warmup_steps": (
        lambda v, c: v is None or (_is_int(v) and 0 <= v <= c.max_steps),
        "None or an integer in [0, max_steps]",
    ),
    "schedule": (lambda v, c: v in SCHEDULES, f"one of {SCHEDULES}"),
    "weight_decay": (lambda v, c: _is_number(v) and v >= 0, "a number >= 0"),
    "betas": (
        lambda v, c: (
            isinstance(v, tuple) and len(v) == 2 and all(_is_number(b) and 0 <= b < 1 for b in v)
        ),
        "two numbers in [0, 1), e.g. (0.9, 0.95)",
    ),
    "eps": (lambda v, c: _is_number(v) and v > 0, "a number > 0"),
    "fused": (_optional_bool, "None (= on CUDA), True or False"),
    "grad_clip": (
        lambda v, c: v is None or (_is_number(v) and v >= 0),
        "None/0 (off) or a number > 0",
    ),
    "grad_norm_order": (lambda v, c: v in GRAD_NORM_ORDERS, f"one of {GRAD_NORM_ORDERS}"),
    "eval_interval": (_positive_int, "an integer >= 1"),
    "eval_steps": (_positive_int, "an integer >= 1"),
    "log_interval": (_positive_int, "an integer >= 1"),
    "compile": (lambda v, c: isinstance(v, bool), "True or False"),
    "amp": (lambda v, c: v in AMP_MODES, f"one of {AMP_MODES} ('auto' = bf16 on capable GPUs)"),
    "device": (lambda v, c: isinstance(v, str), "a string such as 'auto', 'cpu' or 'cuda'"),
    "seed": (
        lambda v, c: v is None or (_is_int(v) and 0 <= v < 2**62),
        "a non-negative integer, or None (keep the generators as the caller seeded them)",
    ),
    "checkpoint_dir": (lambda v, c: v is None or isinstance(v, str), "None or a path"),
    "checkpoint_interval": (_optional_positive_int, "None or an integer >= 1"),
    "progress_bar": (lambda v, c: isinstance(v, bool), "True or False"),
}


@dataclasses.dataclass
class TrainConfig:
    """Every knob of a training run. Validated on creation. Introduced in chapter 8.

    ``batch_size`` is the global number of sequences per micro-step (summed over processes);
    ``None`` takes it from the training data. ``min_lr=None`` means ``lr / 10``;
    ``warmup_steps=None`` means 5% of ``max_steps``. ``grad_clip`` of ``None`` or ``0``
    disables clipping. ``amp="auto"`` uses bf16 autocast on GPUs that support it, fp32
    elsewhere. ``fused=None`` uses AdamW's fused kernel on CUDA only. Without
    ``checkpoint_interval``, a run with ``checkpoint_dir`` saves at the end.

    ``seed`` reseeds Python, NumPy and torch when the Trainer is built (plus the rank, so
    dropout differs between processes); ``None`` leaves them as the caller seeded them, for a
    run whose model initialisation and dropout draw from one continuing stream.

    ``grad_norm_order`` is the order in which the per-parameter gradient norms are summed into
    the global norm: the optimizer's param groups (decayed matrices first) or
    ``model.parameters()``. A sum of floats depends on its order in the last bit, so a model
    trained with one order is only re-made bit for bit with the same one.
    """

    max_steps: int = 1000
    batch_size: int | None = None
    grad_accum_steps: int = 1
    lr: float = 6e-4
    min_lr: float | None = None
    warmup_steps: int | None = None
    schedule: str = "cosine"
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    fused: bool | None = None
    grad_clip: float | None = 1.0
    grad_norm_order: str = "param_groups"
    eval_interval: int = 100
    eval_steps: int = 20
    log_interval: int = 1
    compile: bool = False
    amp: str = "auto"
    device: str = "auto"
    seed: int | None = 0
    checkpoint_dir: str | None = None
    checkpoint_interval: int | None = None
    progress_bar: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.betas, list):
            self.betas = tuple(self.betas)
        if isinstance(self.checkpoint_dir, os.PathLike):
            self.checkpoint_dir = os.fspath(self.checkpoint_dir)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first setting that is out of range."""
        for name, (ok, requirement) in _RULES.items():
            value = getattr(self, name)
            if not ok(value, self):
                raise ConfigError(f"{name} must be {requirement}, got {value!r}.")
        if self.checkpoint_interval is not None and self.checkpoint_dir is None:
            raise ConfigError(
                "checkpoint_interval is set but checkpoint_dir is None; say where to save."
            )

    @property
    def resolved_min_lr(self) -> float:
        """``min_lr``, or ``lr / 10`` when it is ``None``."""
        return self.lr / 10 if self.min_lr is None else float(self.min_lr)

    @property
    def resolved_warmup_steps(self) -> int:
        """``warmup_steps``, or 5% of ``max_steps`` when it is ``None``."""
        return self.max_steps // 20 if self.warmup_steps is None else self.warmup_steps

    def lr_at(self, step: int) -> float:
        """The learning rate of (0-based) optimizer step ``step``."""
        if self.schedule == "constant":
            return constant(step, lr=self.lr, warmup_steps=self.resolved_warmup_steps)
        return warmup_cosine(
            step,
            max_lr=self.lr,
            min_lr=self.resolved_min_lr,
            warmup_steps=self.resolved_warmup_steps,
            decay_steps=self.max_steps,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``betas`` as a list)."""
        data = dataclasses.asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"Unknown TrainConfig field(s): {unknown}. Known: {sorted(known)}.")
        return cls(**data)
