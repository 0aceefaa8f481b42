"""An assertion shared by the chapter exercise tests."""

from __future__ import annotations

from lmkit.exercises import check


def fails_with(exercise_id, answer, *phrases, seed=0):
    """Assert that ``answer`` fails ``exercise_id`` with feedback containing every phrase."""
    result = check(exercise_id, answer, seed=seed, quiet=True)
    assert not result, f"{exercise_id} accepted a wrong answer"
    for phrase in phrases:
        assert phrase in result.message, result.message
    return result
