"""Learning-rate schedules against independent formulas and their defining properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmkit.errors import ConfigError
from lmkit.training.schedule import constant, warmup_cosine


def reference_lr(step: int, max_lr: float, min_lr: float, warmup: int, decay: int) -> float:
    """Written differently on purpose: warmup from a linspace, decay as cos² (= (1 + cos) / 2)."""
    if step < warmup:
        return float(np.linspace(0.0, max_lr, warmup + 2)[step + 1])
    t = min(1.0, (step - warmup) / max(1, decay - warmup))
    return min_lr + (max_lr - min_lr) * math.cos(math.pi * t / 2) ** 2


@pytest.mark.parametrize(("warmup", "decay"), [(0, 10), (3, 10), (10, 10), (5, 50)])
def test_warmup_cosine_matches_independent_formula(warmup: int, decay: int) -> None:
    for step in range(decay + 5):
        got = warmup_cosine(step, max_lr=1e-3, min_lr=1e-4, warmup_steps=warmup, decay_steps=decay)
        assert got == pytest.approx(reference_lr(step, 1e-3, 1e-4, warmup, decay), rel=1e-12)


def test_warmup_cosine_landmarks() -> None:
    kw = {"max_lr": 6e-4, "min_lr": 6e-5, "warmup_steps": 10, "decay_steps": 100}
    warm = [warmup_cosine(s, **kw) for s in range(10)]
    assert all(0 < a < b for a, b in itertools.pairwise(warm))  # strictly rising, > 0
    assert warmup_cosine(10, **kw) == pytest.approx(6e-4)  # peak where the warmup ends
    assert warmup_cosine(55, **kw) == pytest.approx((6e-4 + 6e-5) / 2)  # halfway: the mean
    assert warmup_cosine(100, **kw) == pytest.approx(6e-5)
    assert warmup_cosine(10_000, **kw) == 6e-5  # flat afterwards


@given(
    max_lr=st.floats(1e-6, 1.0),
    ratio=st.floats(0.0, 1.0),
    warmup=st.integers(0, 50),
    extra=st.integers(0, 200),
)
def test_warmup_cosine_stays_in_range_and_decays(
    max_lr: float, ratio: float, warmup: int, extra: int
) -> None:
    min_lr, decay = max_lr * ratio, warmup + extra
    lrs = [
        warmup_cosine(s, max_lr=max_lr, min_lr=min_lr, warmup_steps=warmup, decay_steps=decay)
        for s in range(decay + 3)
    ]
    assert all(0 < lr <= max_lr * (1 + 1e-12) for lr in lrs[:warmup])
    after = lrs[warmup:]
    assert all(min_lr * (1 - 1e-12) <= lr <= max_lr * (1 + 1e-12) for lr in after)
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(after))


def test_constant_schedule() -> None:
    assert [constant(s, lr=0.1) for s in range(3)] == [0.1, 0.1, 0.1]
    assert constant(0, lr=0.1, warmup_steps=4) == pytest.approx(0.1 / 5)
    assert constant(4, lr=0.1, warmup_steps=4) == 0.1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"step": -1}, "step must be an integer >= 0"),
        ({"step": 1.5}, "step must be an integer"),
        ({"step": True}, "step must be an integer"),
        ({"max_lr": 0.0}, "max_lr must be a number > 0, got 0.0"),
        ({"max_lr": float("nan")}, "max_lr must be a number > 0, got nan"),
        ({"min_lr": -1e-5}, "min_lr must be a number >= 0"),
        ({"min_lr": 1.0}, "must not exceed max_lr"),
        ({"warmup_steps": -2}, "warmup_steps must be an integer >= 0"),
        ({"warmup_steps": 20, "decay_steps": 10}, "decay_steps .* must be >= warmup_steps"),
    ],
)
def test_warmup_cosine_rejects_bad_settings(kwargs: dict, match: str) -> None:
    base = {"step": 0, "max_lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 2, "decay_steps": 10}
    with pytest.raises(ConfigError, match=match):
        warmup_cosine(**{**base, **kwargs})


def test_constant_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="lr must be a number > 0"):
        constant(0, lr=-0.1)
    with pytest.raises(ConfigError, match="warmup_steps must be an integer >= 0"):
        constant(0, lr=0.1, warmup_steps=-1)
