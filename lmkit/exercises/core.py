"""Exercises with instant feedback: check a reader's function or value against hidden reference
behaviour on fresh random inputs.

Introduced in chapter 1; every chapter registers its exercises in ``lmkit/exercises/chNN.py``.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import pkgutil
import secrets
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from lmkit.errors import ConfigError, InputError
from lmkit.exercises.feedback import compare, describe


@dataclass(frozen=True)
class Case:
    """One input to try: positional arguments plus a description a reader understands."""

    args: tuple
    label: str


@dataclass
class Exercise:
    """A checkable exercise.

    ``kind="function"``: the reader passes a function; it is called on every case from
    ``make_cases`` and compared with ``reference(*case.args)``.
    ``kind="value"``: the reader passes a value; ``reference()`` computes the expected one. The
    expected value is never printed, so feedback comes from ``diagnose`` (common mistakes) only.
    """

    id: str
    title: str
    kind: Literal["function", "value"]
    reference: Callable[..., Any]
    make_cases: Callable[[torch.Generator], Sequence[Case]] | None = None
    rtol: float = 1e-5
    atol: float = 1e-6
    hints: Sequence[str] = ()
    # (expected, got, args) -> explanation of a recognised mistake, or None. ``args`` are the
    # failing case's inputs (a fresh copy), so a diagnosis can recompute typical wrong answers;
    # value exercises have no inputs and get ().
    diagnose: Callable[[Any, Any, tuple], str | None] | None = None
    tags: Sequence[str] = field(default_factory=tuple)
    # How an answer (and the reference) meets a case: ``call(answer, args)``; None means
    # ``answer(*args)``. "Build a module" exercises get a class: call builds it, loads the
    # case's weights and runs it.
    call: Callable[[Any, tuple], Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("function", "value"):
            raise ConfigError(f"Exercise kind must be 'function' or 'value', got {self.kind!r}.")
        if self.kind == "function" and self.make_cases is None:
            raise ConfigError(f"Function exercise {self.id!r} needs make_cases.")


@dataclass
class CheckResult:
    """What :func:`check` found. Truthy when the answer passed."""

    exercise_id: str
    passed: bool
    cases_run: int
    cases_passed: int
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message


_REGISTRY: dict[str, Exercise] = {}
_chapters_loaded = False


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the registry (chapter modules call this at import)."""
    if exercise.id in _REGISTRY and _REGISTRY[exercise.id] is not exercise:
        raise ConfigError(f"Two exercises share the id {exercise.id!r}.")
    _REGISTRY[exercise.id] = exercise
    return exercise


def _load_chapter_modules() -> None:
    global _chapters_loaded
    if _chapters_loaded:
        return
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):  # this package's folder
        if module.name.startswith("ch"):
            importlib.import_module(f"lmkit.exercises.{module.name}")
    _chapters_loaded = True


def all_exercises() -> list[Exercise]:
    """Every registered exercise, sorted by id."""
    _load_chapter_modules()
    return [_REGISTRY[key] for key in sorted(_REGISTRY)]


def get_exercise(exercise_id: str) -> Exercise:
    """Look an exercise up by id; an unknown id lists the closest ones."""
    _load_chapter_modules()
    if exercise_id not in _REGISTRY:
        close = difflib.get_close_matches(str(exercise_id), list(_REGISTRY), n=3, cutoff=0.5)
        suggestion = f" Did you mean {', '.join(close)}?" if close else ""
        raise InputError(f"There is no exercise {exercise_id!r}.{suggestion}")
    return _REGISTRY[exercise_id]


def _format(exercise: Exercise, passed: bool, body: str) -> str:
    mark = "✅" if passed else "❌"
    return f"{mark} {exercise.id} ({exercise.title}): {body}"


def _failed(exercise: Exercise, case_number: int, body: str) -> CheckResult:
    """The result for an answer that passed every case before ``case_number``."""
    return CheckResult(
        exercise.id, False, case_number, case_number - 1, _format(exercise, False, body)
    )


def _run(exercise: Exercise, answer: Callable, args: tuple) -> Any:
    return exercise.call(answer, args) if exercise.call else answer(*args)


def _check_function(
    exercise: Exercise, answer: Callable, generator: torch.Generator
) -> CheckResult:
    cases = list(exercise.make_cases(generator))
    for number, case in enumerate(cases, start=1):
        expected = _run(exercise, exercise.reference, copy.deepcopy(case.args))
        args = copy.deepcopy(case.args)
        try:
            got = _run(exercise, answer, args)
        except Exception as exc:  # the reader's code may raise anything; report it, don't crash
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            body = (
                f"case {number} of {len(cases)} ({case.label}) raised "
                f"{type(exc).__name__}: {exc}\n  (in {frame.name}, line {frame.lineno})"
            )
            return _failed(exercise, number, body)
        for original, after in zip(case.args, args, strict=True):
            if isinstance(original, torch.Tensor) and not torch.equal(original, after):
                body = (
                    f"case {number} ({case.label}): your function changed its input in place. "
                    "Work on a copy (e.g. x.clone()) or use out-of-place operations."
                )
                return _failed(exercise, number, body)
        problem = compare(expected, got, rtol=exercise.rtol, atol=exercise.atol)
        if problem is not None:
            extra = (
                exercise.diagnose(expected, got, copy.deepcopy(case.args))
                if exercise.diagnose
                else None
            )
            body = f"case {number} of {len(cases)} failed ({case.label}).\n{problem}"
            if extra:
                body += f"\n  likely cause: {extra}"
            if exercise.hints:
                body += f"\n  hint: {exercise.hints[0]}"
            return _failed(exercise, number, body)
    body = f"passed all {len(cases)} cases, including fresh random inputs."
    return CheckResult(exercise.id, True, len(cases), len(cases), _format(exercise, True, body))


def _check_value(exercise: Exercise, answer: Any) -> CheckResult:
    expected = exercise.reference()
    problem = compare(expected, answer, rtol=exercise.rtol, atol=exercise.atol)
    if problem is None:
        return CheckResult(exercise.id, True, 1, 1, _format(exercise, True, "correct."))
    # Never print the expected value: that would hand out the answer.
    explanation = exercise.diagnose(expected, answer, ()) if exercise.diagnose else None
    body = f"not yet: your value is {describe(answer)}."
    if explanation:
        body += f"\n  likely cause: {explanation}"
    elif exercise.hints:
        body += f"\n  hint: {exercise.hints[0]}"
    return CheckResult(exercise.id, False, 1, 0, _format(exercise, False, body))


def check(
    exercise_id: str, answer: Any, *, seed: int | None = None, quiet: bool = False
) -> CheckResult:
    """Check ``answer`` for exercise ``exercise_id``, print feedback, and return the result.

    Each call draws fresh random cases unless ``seed`` is given (tests pass one to be repeatable).
    """
    exercise = get_exercise(exercise_id)
    if exercise.kind == "function":
        if not callable(answer):
            raise InputError(
                f"Exercise {exercise_id!r} expects a function; you passed {type(answer).__name__}. "
                "Pass the function itself, without calling it (my_func, not my_func(x))."
            )
        generator = torch.Generator().manual_seed(secrets.randbits(62) if seed is None else seed)
        result = _check_function(exercise, answer, generator)
    else:
        result = _check_value(exercise, answer)
    if not quiet:
        print(result.message)
    return result
