"""Chapter 4 exercises: the sigmoid's derivative, a linear layer's backward pass, the hidden-layer
delta rule, and one Adam step."""

from __future__ import annotations

import torch

from lmkit.exercises.core import Case, Exercise, register

ADAM_LR, ADAM_BETAS, ADAM_EPS = 0.01, (0.9, 0.999), 1e-8


def _float(value) -> torch.Tensor | None:
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


# ---------------------------------------------------------------- σ′(z)
def _sigmoid_derivative(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return s * (1 - s)


def _sigmoid_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(3, 4, generator=gen) * 3,), "a random 3x4 matrix"),
        Case((torch.tensor([0.0]),), "z = 0"),
        Case((torch.tensor([-30.0, -5.0, 5.0, 30.0]),), "large |z| (saturated)"),
    ]


def _sigmoid_diagnose(expected, got, args: tuple) -> str | None:
    value = _float(got)
    if value is None or value.shape != expected.shape:
        return None
    if (value > 0.25 + 1e-6).any() or (value < -1e-9).any():
        return (
            "σ′(z) always lies in (0, 1/4]. Values outside that range usually mean z was used where "
            "σ(z) belongs: σ′(z) = σ(z)(1 − σ(z)), not z(1 − z)."
        )
    return None


register(
    Exercise(
        id="ch04.sigmoid_derivative",
        title="derivative of the sigmoid",
        kind="function",
        reference=_sigmoid_derivative,
        make_cases=_sigmoid_cases,
        hints=("compute s = σ(z) first (torch.sigmoid), then return s * (1 - s).",),
        diagnose=_sigmoid_diagnose,
    )
)


# ---------------------------------------------------------------- linear layer backward
def _linear_backward(x: torch.Tensor, w: torch.Tensor, grad_out: torch.Tensor):
    # y = x Wᵀ + b with x (B, I), W (O, I), y and grad_out (B, O)
    return grad_out @ w, grad_out.T @ x, grad_out.sum(dim=0)


def _linear_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, (b, i, o) in (
        ("B=1, I=3, O=2", (1, 3, 2)),
        ("B=4, I=5, O=3", (4, 5, 3)),
        ("B=6, I=2, O=4", (6, 2, 4)),
    ):
        cases.append(
            Case(
                (
                    torch.randn(b, i, generator=gen),
                    torch.randn(o, i, generator=gen),
                    torch.randn(b, o, generator=gen),
                ),
                label,
            )
        )
    return cases


register(
    Exercise(
        id="ch04.linear_backward",
        title="backward pass of a linear layer y = x Wᵀ + b",
        kind="function",
        reference=_linear_backward,
        make_cases=_linear_cases,
        hints=(
            "return (∂L/∂x, ∂L/∂W, ∂L/∂b) = (grad_out @ W, grad_out.T @ x, grad_out summed over "
            "the batch); each gradient has the shape of the thing it is the gradient of.",
        ),
    )
)


# ---------------------------------------------------------------- hidden-layer delta (errata 4)
def _hidden_delta(w_next: torch.Tensor, delta_next: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return (delta_next @ w_next) * s * (1 - s)


def _delta_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, (b, h, o) in (("B=1, H=3, O=2", (1, 3, 2)), ("B=5, H=4, O=3", (5, 4, 3))):
        cases.append(
            Case(
                (
                    torch.randn(o, h, generator=gen),
                    torch.randn(b, o, generator=gen),
                    torch.randn(b, h, generator=gen),
                ),
                label,
            )
        )
    return cases


def _delta_diagnose(expected, got, args: tuple) -> str | None:
    value = _float(got)
    if value is None or value.shape != expected.shape:
        return None
    expected = expected.double()
    big = expected.abs() > 1e-6
    if big.any():
        ratio = value[big] / expected[big]
        if (ratio > 0).all() and (ratio <= 0.25 + 1e-6).all() and ratio.max() < 0.99:
            return (
                "each value is the right one times a number in (0, 1/4]: σ′(z) was applied twice. "
                "δ = ∂L/∂z already contains σ′(z) once (the double-counting in the seed articles)."
            )
    return None


register(
    Exercise(
        id="ch04.hidden_delta",
        title="δ of a sigmoid hidden layer from the δ of the layer above",
        kind="function",
        reference=_hidden_delta,
        make_cases=_delta_cases,
        hints=("δ = (δ_next @ W_next) ⊙ σ′(z), with σ′(z) = σ(z)(1 − σ(z)); multiply by σ′ once.",),
        diagnose=_delta_diagnose,
    )
)


# ---------------------------------------------------------------- one Adam step
def _adam_step(param, grad, m, v, t):
    beta1, beta2 = ADAM_BETAS
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return param - ADAM_LR * m_hat / (v_hat.sqrt() + ADAM_EPS), m, v


def _adam_cases(gen: torch.Generator) -> list[Case]:
    d = int(torch.randint(2, 6, (1,), generator=gen))
    zeros = torch.zeros(d)
    return [
        Case(
            (zeros, torch.randn(d, generator=gen), zeros, zeros, 1), "first step (t=1) from θ = 0"
        ),
        Case(
            (
                torch.randn(d, generator=gen),
                torch.randn(d, generator=gen),
                torch.randn(d, generator=gen) * 0.1,
                torch.rand(d, generator=gen) * 0.01,
                5,
            ),
            "step t=5 with earlier moments",
        ),
        Case(
            (
                torch.randn(d, generator=gen),
                torch.randn(d, generator=gen) * 1e-3,
                torch.randn(d, generator=gen) * 1e-3,
                torch.rand(d, generator=gen) * 1e-6,
                100,
            ),
            "step t=100, tiny gradients",
        ),
    ]


def _adam_diagnose(expected, got, args: tuple) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return None
    new_param = _float(got[0])
    if new_param is None or new_param.shape != expected[0].shape:
        return None
    # The first case starts at θ = 0, so the new θ is minus the update itself.
    ratio = new_param / expected[0].double()
    if not torch.isfinite(ratio).all() or not torch.allclose(
        ratio, ratio[0].expand_as(ratio), rtol=1e-3
    ):
        return None
    beta1, beta2 = ADAM_BETAS
    for t in range(1, 101):
        if abs(float(ratio[0]) - (1 - beta1**t) / (1 - beta2**t) ** 0.5) < 1e-3 * float(ratio[0]):
            return (
                "the step has the wrong size by exactly the bias-correction factor: divide m by "
                "(1 − β₁ᵗ) and v by (1 − β₂ᵗ) before using them."
            )
    return None


register(
    Exercise(
        id="ch04.adam_step",
        title="one Adam step (lr=0.01, betas=(0.9, 0.999), eps=1e-8)",
        kind="function",
        reference=_adam_step,
        make_cases=_adam_cases,
        hints=(
            "m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²; m̂ = m/(1−β₁ᵗ); v̂ = v/(1−β₂ᵗ); "
            "θ = θ − lr·m̂/(√v̂ + eps). Return (new θ, new m, new v) as new tensors.",
        ),
        diagnose=_adam_diagnose,
    )
)
