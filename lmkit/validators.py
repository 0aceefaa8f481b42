"""Checks for the numbers users pass in, with one wording for every error they raise.

``True`` is an ``int`` in Python, so every check refuses bools explicitly: ``max_new_tokens=True``
is a slip, not a request for one token. Each check returns the value, so callers can write
``n = check_int("n", n, minimum=1)``.
"""

from __future__ import annotations

import math

import numpy as np

from lmkit.errors import ConfigError, LmkitError

__all__ = ["check_int", "check_number", "is_int", "is_number"]


def is_int(value: object) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: object) -> bool:
    """A finite real number (int or float, Python or NumPy), not a bool."""
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(value)
    )


def _allowed(minimum: float, maximum: float) -> str:
    if maximum == math.inf:
        return f">= {minimum}"
    return f"in {minimum}..{maximum}"


def check_int(
    name: str,
    value: object,
    minimum: int = 0,
    maximum: float = math.inf,
    hint: str = "",
    error: type[LmkitError] = ConfigError,
) -> int:
    """``value`` as an ``int`` if it is an integer in ``minimum..maximum``; ``error`` otherwise.

    ``hint`` is appended to the message (start it with a space), e.g. ``" Try 4 or 5."``.
    """
    if not is_int(value) or not minimum <= value <= maximum:
        raise error(
            f"{name} must be an integer {_allowed(minimum, maximum)}, got {value!r}.{hint}"
        )
    return int(value)


def check_number(
    name: str,
    value: object,
    minimum: float = -math.inf,
    maximum: float = math.inf,
    hint: str = "",
    error: type[LmkitError] = ConfigError,
    *,
    above: bool = False,
) -> float:
    """``value`` as a ``float`` if it is a finite number in ``minimum..maximum``.

    ``above=True`` refuses ``minimum`` itself ("a number > 0"), for learning rates and the like.
    """
    low_ok = is_number(value) and (value > minimum if above else value >= minimum)
    if not low_ok or not value <= maximum:
        if (minimum, maximum) == (-math.inf, math.inf):
            bounds = "a finite number"
        elif above and maximum == math.inf:
            bounds = f"a number > {minimum}"
        elif above:
            bounds = f"a number > {minimum} and <= {maximum}"
        else:
            bounds = f"a number {_allowed(minimum, maximum)}"
        raise error(f"{name} must be {bounds}, got {value!r}.{hint}")
    return float(value)
