"""The exercise checker: correct answers pass, each kind of mistake gets specific feedback."""

from __future__ import annotations

import pytest
import torch

from lmkit.errors import ConfigError, InputError
from lmkit.exercises import Case, Exercise, all_exercises, check, core, get_exercise


def _softmax_cases(gen: torch.Generator):
    cases = [Case((torch.tensor([[1000.0, 1000.0, 0.0]]),), "large logits (overflow test)")]
    for _ in range(4):
        rows, cols = torch.randint(1, 5, (2,), generator=gen).tolist()
        cases.append(Case((torch.randn(rows, cols, generator=gen) * 3,), f"random {rows}x{cols}"))
    return cases


SOFTMAX = Exercise(
    id="test.softmax",
    title="row-wise softmax",
    kind="function",
    reference=lambda x: torch.softmax(x, dim=-1),
    make_cases=_softmax_cases,
    hints=("Subtract the row maximum before exponentiating.",),
)
PERPLEXITY = Exercise(
    id="test.uniform_perplexity",
    title="perplexity of a uniform model over 65 characters",
    kind="value",
    reference=lambda: 65.0,
    diagnose=lambda expected, got, args: (
        "did you use log base 2?" if abs(got - 6.022) < 0.01 else None
    ),
    hints=("Perplexity is exp of the mean negative log-likelihood.",),
)


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    monkeypatch.setitem(core._REGISTRY, SOFTMAX.id, SOFTMAX)
    monkeypatch.setitem(core._REGISTRY, PERPLEXITY.id, PERPLEXITY)


def stable_softmax(x):
    z = x - x.max(dim=-1, keepdim=True).values
    return z.exp() / z.exp().sum(dim=-1, keepdim=True)


def test_correct_function_passes_on_fresh_cases(capsys):
    result = check("test.softmax", stable_softmax)
    assert result and result.cases_run == result.cases_passed == 5
    assert "✅" in capsys.readouterr().out


def test_overflowing_softmax_is_caught_with_nan_feedback():
    naive = lambda x: x.exp() / x.exp().sum(dim=-1, keepdim=True)  # noqa: E731
    result = check("test.softmax", naive, seed=0, quiet=True)
    assert not result
    assert "NaN or infinity" in result.message and "large logits" in result.message
    assert "Subtract the row maximum" in result.message


def test_wrong_axis_reports_values_expected_and_got():
    wrong_axis = lambda x: torch.softmax(x, dim=0)  # noqa: E731
    result = check("test.softmax", wrong_axis, seed=1, quiet=True)
    assert not result
    assert "expected:" in result.message and "got:" in result.message


def test_missing_return_and_wrong_type_and_exceptions():
    assert "forget a `return`" in check("test.softmax", lambda x: None, seed=0, quiet=True).message
    as_list = check("test.softmax", lambda x: stable_softmax(x).tolist(), seed=0, quiet=True)
    assert "Expected a torch.Tensor" in as_list.message

    def broken(x):
        raise ValueError("boom")

    raised = check("test.softmax", broken, seed=0, quiet=True)
    assert "raised ValueError: boom" in raised.message and "broken" in raised.message


def test_shape_sign_and_factor_mistakes_get_named():
    shape = check("test.softmax", lambda x: stable_softmax(x)[..., :1], seed=3, quiet=True)
    assert "Expected shape" in shape.message
    sign = check("test.softmax", lambda x: -stable_softmax(x), seed=3, quiet=True)
    assert "opposite sign" in sign.message
    factor = check("test.softmax", lambda x: 2 * stable_softmax(x), seed=3, quiet=True)
    assert "times 2" in factor.message


def test_in_place_modification_is_reported():
    def in_place(x):
        x -= x.max(dim=-1, keepdim=True).values
        return stable_softmax(x)

    result = check("test.softmax", in_place, seed=0, quiet=True)
    assert not result and "in place" in result.message


def test_value_exercise_never_reveals_the_answer():
    good = check("test.uniform_perplexity", 65.0, quiet=True)
    assert good.passed
    bad = check("test.uniform_perplexity", 6.022, quiet=True)
    assert not bad.passed and "log base 2" in bad.message
    assert "65" not in bad.message.replace("65 characters", "")
    other = check("test.uniform_perplexity", 12.0, quiet=True)
    assert "exp of the mean" in other.message


def test_seeded_checks_repeat_and_unseeded_draw_fresh_cases():
    seen = []

    def spy(x):
        seen.append(x.clone())
        return stable_softmax(x)

    check("test.softmax", spy, seed=5, quiet=True)
    check("test.softmax", spy, seed=5, quiet=True)
    check("test.softmax", spy, quiet=True)
    n = len(seen) // 3
    assert all(torch.equal(a, b) for a, b in zip(seen[:n], seen[n : 2 * n], strict=True))
    assert not all(
        a.shape == b.shape and torch.equal(a, b)
        for a, b in zip(seen[1:n], seen[2 * n + 1 :], strict=True)
    )


def test_bad_calls_are_explained():
    with pytest.raises(InputError, match="expects a function"):
        check("test.softmax", stable_softmax(torch.ones(2)))
    with pytest.raises(InputError, match=r"Did you mean test\.softmax"):
        get_exercise("test.sofmax")
    with pytest.raises(ConfigError):
        Exercise(id="x", title="x", kind="essay", reference=lambda: 0)
    with pytest.raises(ConfigError, match="make_cases"):
        Exercise(id="x", title="x", kind="function", reference=lambda: 0)


def test_every_registered_chapter_exercise_accepts_its_own_reference():
    for exercise in all_exercises():
        if exercise.kind == "function":
            assert check(exercise.id, exercise.reference, seed=0, quiet=True), exercise.id
        else:
            assert check(exercise.id, exercise.reference(), quiet=True), exercise.id


def test_diagnose_receives_the_inputs_of_the_failing_case_not_of_a_later_call(monkeypatch):
    seen = []

    def diagnose(expected, got, args):
        seen.append(args)
        (x,) = args
        return "you returned the input itself" if torch.equal(got, x) else None

    exercise = Exercise(
        id="test.double",
        title="double a tensor",
        kind="function",
        reference=lambda x: 2 * x,
        make_cases=lambda gen: [
            Case((torch.full((2,), float(i)),), f"value {i}") for i in (1, 2, 3)
        ],
        diagnose=diagnose,
    )
    monkeypatch.setitem(core._REGISTRY, exercise.id, exercise)
    identity = lambda x: x.clone()  # noqa: E731
    result = check("test.double", identity, seed=0, quiet=True)
    assert not result and "you returned the input itself" in result.message
    assert len(seen) == 1 and torch.equal(seen[0][0], torch.full((2,), 1.0))
    assert "value 1" in result.message
