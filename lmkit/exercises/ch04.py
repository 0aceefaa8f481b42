"""Chapter 4 exercises: build the backward pass. A linear layer's gradients, the whole backward
pass of a two-layer network with softmax cross-entropy, a finite-difference gradient checker,
and one Adam step.

Introduced in chapter 4. ``diagnose`` rebuilds the usual slips on the failed case (σ′ counted
twice as in the seed articles, or left out; the sum instead of the mean over the batch; the
softmax forgotten; a forward instead of a central difference; a step not undone; the bias
correction missing) and names the one the answer matches.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lmkit.exercises.core import Case, Exercise, register
from lmkit.exercises.feedback import matching_slip

ADAM_LR, ADAM_BETAS, ADAM_EPS = 0.01, (0.9, 0.999), 1e-8


def _float(value) -> torch.Tensor | None:
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


def _tuple_slip(got: Any, slips: list[tuple[tuple, str]]) -> str | None:
    """The explanation of the first wrong tuple of tensors that ``got`` equals item by item."""
    if not isinstance(got, (tuple, list)):
        return None
    for wrong, explanation in slips:
        if len(got) == len(wrong) and all(
            matching_slip(g, [(w, "same")]) for g, w in zip(got, wrong, strict=True)
        ):
            return explanation
    return None


# ---------------------------------------------------------------- 1. linear layer backward
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


# ---------------------------------------------------------------- 2. a two-layer MLP, by hand
def _mlp_by_autograd(x, y, w1, b1, w2, b2):
    leaves = [p.detach().clone().requires_grad_(True) for p in (w1, b1, w2, b2)]
    a1 = torch.sigmoid(x @ leaves[0].T + leaves[1])
    F.cross_entropy(a1 @ leaves[2].T + leaves[3], y).backward()
    return tuple(p.grad for p in leaves)


def _mlp_by_hand(x, y, w1, b1, w2, b2, *, times_sigma=1, mean=True, softmax=True):
    """The δ rules with switches that reproduce the usual slips."""
    z1 = x @ w1.T + b1
    a1 = torch.sigmoid(z1)
    z2 = a1 @ w2.T + b2
    p = torch.softmax(z2, dim=1) if softmax else z2
    delta2 = (p - F.one_hot(y, z2.shape[1]).to(z2.dtype)) / (len(y) if mean else 1)
    delta1 = (delta2 @ w2) * (a1 * (1 - a1)) ** times_sigma
    return delta1.T @ x, delta1.sum(0), delta2.T @ a1, delta2.sum(0)


def _mlp_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, (b, n_in, hidden, classes) in (
        ("B=1, 3 inputs, 4 hidden, 2 classes", (1, 3, 4, 2)),
        ("B=5, 4 inputs, 6 hidden, 3 classes", (5, 4, 6, 3)),
        ("B=8, 6 inputs, 5 hidden, 7 classes", (8, 6, 5, 7)),
    ):
        d = torch.float64
        cases.append(
            Case(
                (
                    torch.randn(b, n_in, generator=gen, dtype=d),
                    torch.randint(0, classes, (b,), generator=gen),
                    torch.randn(hidden, n_in, generator=gen, dtype=d),
                    torch.randn(hidden, generator=gen, dtype=d) * 0.5,
                    torch.randn(classes, hidden, generator=gen, dtype=d),
                    torch.randn(classes, generator=gen, dtype=d) * 0.5,
                ),
                label,
            )
        )
    return cases


def _mlp_diagnose(expected, got, args: tuple) -> str | None:
    slips = [
        (
            dict(times_sigma=2),
            "σ′(Z1) was applied twice (the seed articles' δ rule): δ1 = (δ2 W2) ⊙ σ′(Z1), once.",
        ),
        (
            dict(times_sigma=0),
            "σ′(Z1) is missing: the loss reaches Z1 through A1 = σ(Z1), so δ1 = (δ2 W2) ⊙ σ′(Z1).",
        ),
        (
            dict(mean=False),
            "every gradient is B times too large: the loss is the *mean* over the batch, so "
            "δ2 = (P − Y) / B.",
        ),
        (
            dict(softmax=False),
            "δ2 used the logits Z2 instead of the probabilities: δ2 = (softmax(Z2) − Y) / B.",
        ),
    ]
    return _tuple_slip(got, [(_mlp_by_hand(*args, **switch), text) for switch, text in slips])


register(
    Exercise(
        id="ch04.mlp_backward",
        title="the backward pass of a two-layer sigmoid network with softmax cross-entropy",
        kind="function",
        reference=_mlp_by_autograd,
        make_cases=_mlp_cases,
        rtol=1e-7,
        atol=1e-9,
        hints=(
            "forward: Z1 = X W1ᵀ + b1, A1 = σ(Z1), Z2 = A1 W2ᵀ + b2. Backward: δ2 = (softmax(Z2) − Y)/B, "
            "∂W2 = δ2ᵀ A1, ∂b2 = Σ δ2, δ1 = (δ2 W2) ⊙ σ′(Z1), ∂W1 = δ1ᵀ X, ∂b1 = Σ δ1.",
        ),
        diagnose=_mlp_diagnose,
        tags=("backprop",),
    )
)


# ---------------------------------------------------------------- 3. a gradient checker
def _central_difference(f, x: torch.Tensor, h: float, *, forward: bool = False, divide=2.0):
    grad = torch.zeros_like(x)
    flat_x, flat_grad = x.view(-1), grad.view(-1)
    for i in range(flat_x.numel()):
        old = flat_x[i].item()
        flat_x[i] = old + h
        up = float(f(x))
        flat_x[i] = old if forward else old - h
        down = float(f(x))
        flat_x[i] = old
        flat_grad[i] = (up - down) / (h if forward else divide * h)
    return grad


def _numerical_gradient(f, x: torch.Tensor, h: float) -> torch.Tensor:
    return _central_difference(f, x.clone(), h)


def _quartic(t: torch.Tensor) -> torch.Tensor:
    return (t**4).sum() - 3 * (t**2).sum()


def _logsumexp(t: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(t.flatten() * 2, dim=0)


def _tiny_net_loss(t: torch.Tensor) -> torch.Tensor:
    # the rows of t are two samples fed through a fixed sigmoid layer into softmax cross-entropy
    hidden = torch.sigmoid(t @ torch.linspace(-1, 1, t.shape[1] * 3, dtype=t.dtype).view(-1, 3))
    return F.cross_entropy(hidden * 4, torch.zeros(t.shape[0], dtype=torch.long))


def _gradient_cases(gen: torch.Generator) -> list[Case]:
    d = torch.float64
    return [
        Case((_quartic, torch.randn(4, generator=gen, dtype=d), 1e-5), "f(x) = Σx⁴ − 3Σx², 4 entries"),
        Case((_logsumexp, torch.randn(2, 3, generator=gen, dtype=d), 1e-5), "f = logsumexp(2x), 2x3 matrix"),
        Case((_tiny_net_loss, torch.randn(2, 4, generator=gen, dtype=d), 1e-5), "the loss of a tiny sigmoid network"),
    ]  # fmt: skip


def _gradient_diagnose(expected, got, args: tuple) -> str | None:
    f, x, h = args
    not_undone = x.clone()
    grad = torch.zeros_like(x)
    for i in range(x.numel()):  # nudged up and down but never put back
        not_undone.view(-1)[i] += h
        up = float(f(not_undone))
        not_undone.view(-1)[i] -= 2 * h
        grad.view(-1)[i] = (up - float(f(not_undone))) / (2 * h)
    # finite differences differ from each other by O(h) only: match far tighter than matching_slip
    for wrong, explanation in [
            (grad, "after nudging an entry, put it back to its old value before moving to the next."),
            (
                _central_difference(f, x.clone(), h, forward=True),
                "that is the forward difference (f(x+h) − f(x))/h, whose error shrinks only like h; "
                "the central difference (f(x+h) − f(x−h))/2h is far more accurate.",
            ),
            (_central_difference(f, x.clone(), h, divide=1.0), "divide by 2h: x+h and x−h are 2h apart."),
    ]:  # fmt: skip
        value = _float(got)
        if (
            value is not None
            and value.shape == wrong.shape
            and torch.allclose(value, wrong, rtol=1e-9, atol=1e-10)
        ):
            return explanation
    return None


register(
    Exercise(
        id="ch04.numerical_gradient",
        title="a gradient checker: central differences for every entry of x",
        kind="function",
        reference=_numerical_gradient,
        make_cases=_gradient_cases,
        rtol=1e-7,
        atol=1e-8,
        hints=(
            "for every index i: set x[i] = old + h, evaluate f; set x[i] = old − h, evaluate f; "
            "restore x[i] = old; the gradient entry is (f₊ − f₋) / (2h). Work on x.clone().",
        ),
        diagnose=_gradient_diagnose,
        tags=("backprop",),
    )
)


# ---------------------------------------------------------------- 4. one Adam step
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
