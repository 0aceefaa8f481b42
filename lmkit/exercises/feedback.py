"""Compare a reader's output with the reference and explain the difference in plain words.

The checker shows *what* went wrong on one concrete case (shapes, a sign, a transpose, a
constant factor), never the reference code itself.
"""

from __future__ import annotations

import math
from numbers import Number
from typing import Any

import numpy as np
import torch


def _as_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, Number) and not isinstance(value, bool):
        return torch.tensor(float(value))
    return None


def describe(value: Any, max_items: int = 6) -> str:
    """A short, readable rendering of a value for feedback messages."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().flatten()
        shown = ", ".join(f"{v:.4g}" for v in flat[:max_items].tolist())
        more = ", …" if flat.numel() > max_items else ""
        return f"tensor of shape {tuple(value.shape)}, dtype {str(value.dtype).replace('torch.', '')}: [{shown}{more}]"
    if isinstance(value, np.ndarray):
        return "NumPy " + describe(torch.from_numpy(value), max_items)
    if isinstance(value, float):
        return f"{value:.6g}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _structure_problem(expected: Any, got: Any) -> str | None:
    if got is None and expected is not None:
        return "Your answer returned None. Did you forget a `return` statement?"
    if isinstance(expected, (tuple, list)) and not isinstance(expected, str):
        if not isinstance(got, (tuple, list)):
            return f"Expected a {type(expected).__name__} of {len(expected)} items, got {type(got).__name__}."
        if len(got) != len(expected):
            return f"Expected {len(expected)} items, got {len(got)}."
        return None
    if isinstance(expected, torch.Tensor) and not isinstance(got, torch.Tensor):
        return (
            f"Expected a torch.Tensor, got {type(got).__name__}. "
            "Build the result with torch operations (or wrap it with torch.as_tensor)."
        )
    if isinstance(expected, bool) != isinstance(got, bool):
        return f"Expected {type(expected).__name__}, got {type(got).__name__}."
    return None


def _numeric_hint(expected: torch.Tensor, got: torch.Tensor, rtol: float, atol: float) -> str:
    """Recognise the usual slips: a flipped sign, a transpose, a constant factor, an offset."""

    def close(a, b):
        return a.shape == b.shape and torch.allclose(a, b, rtol=rtol, atol=atol)

    if close(-got, expected):
        return "Every value has the opposite sign: check for a missing or extra minus."
    if got.dim() == 2 and close(got.T, expected):
        return "Your result is the transpose of the expected one."
    nonzero = expected.abs() > 1e-6
    if nonzero.any() and got.shape == expected.shape:
        ratio = got[nonzero] / expected[nonzero]
        if torch.allclose(
            ratio, ratio[0].expand_as(ratio), rtol=1e-3, atol=1e-6
        ) and not math.isclose(ratio[0].item(), 1.0, rel_tol=1e-3):
            return f"Your values are the expected ones times {ratio[0].item():.4g}: a constant factor is off."
        offset = got - expected
        if (
            torch.allclose(offset, offset.flatten()[0].expand_as(offset), atol=1e-5)
            and offset.abs().max() > atol
        ):
            return f"Your values are shifted by a constant {offset.flatten()[0].item():.4g}."
    return ""


def compare(expected: Any, got: Any, *, rtol: float = 1e-5, atol: float = 1e-6) -> str | None:
    """Return ``None`` when ``got`` matches ``expected``, else a message explaining the mismatch."""
    problem = _structure_problem(expected, got)
    if problem:
        return problem
    if isinstance(expected, (tuple, list)) and not isinstance(expected, str):
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            message = compare(e, g, rtol=rtol, atol=atol)
            if message:
                return f"Item {i}: {message}"
        return None
    exp_t, got_t = _as_tensor(expected), _as_tensor(got)
    if exp_t is None or got_t is None:
        return None if expected == got else f"Expected {describe(expected)}, got {describe(got)}."
    if exp_t.shape != got_t.shape:
        hint = " (it looks transposed)" if exp_t.dim() == 2 and got_t.shape == exp_t.T.shape else ""
        return f"Expected shape {tuple(exp_t.shape)}, got {tuple(got_t.shape)}{hint}."
    if exp_t.is_floating_point() != got_t.is_floating_point():
        return (
            f"Expected a {'floating-point' if exp_t.is_floating_point() else 'integer'} result, "
            f"got dtype {got_t.dtype}."
        )
    exp_f, got_f = exp_t.double(), got_t.double()
    if not torch.isfinite(got_f).all() and torch.isfinite(exp_f).all():
        return "Your result contains NaN or infinity where the expected one is finite (overflow? log(0)? 0/0?)."
    if torch.allclose(got_f, exp_f, rtol=rtol, atol=atol, equal_nan=True):
        return None
    diff = (got_f - exp_f).abs()
    worst = np.unravel_index(int(diff.argmax()), tuple(diff.shape)) if diff.dim() else ()
    where = f" at index {tuple(int(i) for i in worst)}" if worst else ""
    lines = [
        f"Values differ: largest difference {diff.max().item():.4g}{where}.",
        f"  expected: {describe(expected)}",
        f"  got:      {describe(got)}",
    ]
    hint = _numeric_hint(exp_f, got_f, rtol, atol)
    if hint:
        lines.append(f"  hint: {hint}")
    return "\n".join(lines)


def matching_slip(got: Any, slips: list[tuple[Any, str]]) -> str | None:
    """The explanation of the first ``(wrong_answer, explanation)`` pair that ``got`` matches.

    Tensors match when shapes agree and values are close (rtol 1e-4, atol 1e-5); numbers match
    when equal up to rounding. ``diagnose`` functions use it to name a typical mistake after
    recomputing it on the failed case. Introduced in chapter 6; every later chapter's checker reuses it.
    """
    for wrong, explanation in slips:
        if isinstance(wrong, torch.Tensor):
            if (
                isinstance(got, torch.Tensor)
                and got.shape == wrong.shape
                and torch.allclose(
                    got.detach().double().cpu(), wrong.double(), rtol=1e-4, atol=1e-5
                )
            ):
                return explanation
            continue
        try:
            if math.isclose(float(got), float(wrong), rel_tol=1e-9):
                return explanation
        except (TypeError, ValueError, RuntimeError):
            continue
    return None
