"""Exercises with instant feedback (see :mod:`lmkit.exercises.core`).

Usage in a chapter::

    from lmkit.exercises import check
    check("ch04.mlp_backward", my_mlp_backward)
"""

from lmkit.exercises.core import (
    Case,
    CheckResult,
    Exercise,
    all_exercises,
    check,
    get_exercise,
    register,
)

__all__ = ["Case", "CheckResult", "Exercise", "all_exercises", "check", "get_exercise", "register"]
