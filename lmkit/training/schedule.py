"""Learning-rate schedules: linear warmup, then a cosine decay to a floor.

Introduced in chapter 8, where we train our first GPT. A schedule is a plain function of the
step number, so the learning rate at any step can be recomputed after resuming from a
checkpoint instead of being stored.
"""

from __future__ import annotations

import math

from lmkit.errors import ConfigError
from lmkit.validators import check_int, check_number

__all__ = ["constant", "warmup_cosine"]


def _warmup(step: int, max_lr: float, warmup_steps: int) -> float:
    # The line runs from 0 (at step -1) to max_lr (at step warmup_steps), so the very first
    # step already moves the weights a little instead of being wasted on lr = 0.
    return max_lr * (step + 1) / (warmup_steps + 1)


def warmup_cosine(
    step: int, *, max_lr: float, min_lr: float, warmup_steps: int, decay_steps: int
) -> float:
    """Learning rate at ``step`` (0-based): linear warmup, cosine decay, then flat at ``min_lr``.

    - ``step < warmup_steps``: rises linearly from near 0 towards ``max_lr``.
    - ``warmup_steps <= step <= decay_steps``: half a cosine from ``max_lr`` down to ``min_lr``.
    - ``step > decay_steps``: stays at ``min_lr``.

    ``decay_steps`` counts from step 0 (it includes the warmup), usually the run's ``max_steps``.
    Introduced in chapter 8.
    """
    step = check_int("step", step)
    max_lr = check_number("max_lr", max_lr, 0, above=True)
    min_lr = check_number("min_lr", min_lr, 0)
    warmup_steps = check_int("warmup_steps", warmup_steps)
    decay_steps = check_int("decay_steps", decay_steps)
    if min_lr > max_lr:
        raise ConfigError(
            f"min_lr ({min_lr}) must not exceed max_lr ({max_lr}). The schedule decays from "
            "max_lr down to min_lr; swap them or lower min_lr."
        )
    if decay_steps < warmup_steps:
        raise ConfigError(
            f"decay_steps ({decay_steps}) must be >= warmup_steps ({warmup_steps}): the decay "
            "starts where the warmup ends. Use more steps or a shorter warmup."
        )
    if step < warmup_steps:
        return _warmup(step, max_lr, warmup_steps)
    if step > decay_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, decay_steps - warmup_steps)  # 0 → 1
    weight = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 → 0
    return min_lr + weight * (max_lr - min_lr)


def constant(step: int, *, lr: float, warmup_steps: int = 0) -> float:
    """A constant learning rate ``lr``, optionally after the same linear warmup.

    Useful as a baseline against :func:`warmup_cosine`. Introduced in chapter 8.
    """
    step = check_int("step", step)
    lr = check_number("lr", lr, 0, above=True)
    warmup_steps = check_int("warmup_steps", warmup_steps)
    if step < warmup_steps:
        return _warmup(step, lr, warmup_steps)
    return lr
