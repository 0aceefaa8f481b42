"""Chapter 4 exercises: correct answers pass; typical mistakes get the feedback designed for them."""

from __future__ import annotations

import torch
from exercise_asserts import fails_with

from lmkit.basics.optimizers import Adam
from lmkit.exercises import check


def test_linear_backward_agrees_with_autograd_and_catches_transposes():
    def autograd_answer(x, w, grad_out):
        x, w = x.clone().requires_grad_(), w.clone().requires_grad_()
        b = torch.zeros(w.shape[0], requires_grad=True)
        (x @ w.T + b).backward(grad_out)
        return x.grad, w.grad, b.grad

    assert check("ch04.linear_backward", autograd_answer, seed=2, quiet=True)
    transposed = lambda x, w, g: (g @ w, x.T @ g, g.sum(0))  # noqa: E731
    fails_with("ch04.linear_backward", transposed, "Item 1", "transposed")
    mean_bias = lambda x, w, g: (g @ w, g.T @ x, g.mean(0))  # noqa: E731
    fails_with("ch04.linear_backward", mean_bias, "Item 2", seed=5)
    fails_with("ch04.linear_backward", lambda x, w, g: g @ w, "Expected a tuple")


def _mlp_backward(x, y, w1, b1, w2, b2, *, sigma_times=1, batch_mean=True, softmax=True):
    """The δ rules written independently of the exercise module, with the usual slips as switches."""
    a1 = 1 / (1 + torch.exp(-(x @ w1.T + b1)))
    logits = a1 @ w2.T + b2
    scores = torch.exp(logits) / torch.exp(logits).sum(1, keepdim=True) if softmax else logits
    delta2 = scores.clone()
    delta2[torch.arange(len(y)), y] -= 1
    delta2 = delta2 / len(y) if batch_mean else delta2
    delta1 = (delta2 @ w2) * (a1 * (1 - a1)) ** sigma_times
    return delta1.T @ x, delta1.sum(0), delta2.T @ a1, delta2.sum(0)


def test_mlp_backward_by_hand_passes_and_the_usual_slips_are_named():
    assert check("ch04.mlp_backward", _mlp_backward, seed=1, quiet=True)
    assert check("ch04.mlp_backward", _mlp_backward, quiet=True)  # fresh cases too
    fails_with(
        "ch04.mlp_backward", lambda *a: _mlp_backward(*a, sigma_times=2), "applied twice", seed=2
    )
    fails_with(
        "ch04.mlp_backward", lambda *a: _mlp_backward(*a, sigma_times=0), "σ′(Z1) is missing"
    )
    fails_with("ch04.mlp_backward", lambda *a: _mlp_backward(*a, batch_mean=False), "B times")
    fails_with("ch04.mlp_backward", lambda *a: _mlp_backward(*a, softmax=False), "logits Z2")
    fails_with("ch04.mlp_backward", lambda *a: _mlp_backward(*a)[:2], "Expected 4 items")


def _gradient(f, x, h, *, forward=False, divide=2.0, restore=True):
    x = x.clone()
    grad = torch.empty_like(x)
    for index in range(x.numel()):
        old = x.view(-1)[index].item()
        x.view(-1)[index] = old + h
        up = float(f(x))
        x.view(-1)[index] = old if forward else old - h
        grad.view(-1)[index] = (up - float(f(x))) / (h if forward else divide * h)
        if restore:
            x.view(-1)[index] = old
    return grad


def test_numerical_gradient_matches_autograd_and_names_slips():
    assert check("ch04.numerical_gradient", _gradient, seed=3, quiet=True)
    # the checker's cases really are differentiable functions whose gradient autograd knows
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    f = lambda t: torch.logsumexp(t.flatten() * 2, dim=0)  # noqa: E731
    (exact,) = torch.autograd.grad(f(x), x)
    assert torch.allclose(_gradient(f, x.detach(), 1e-5), exact, atol=1e-8)
    fails_with(
        "ch04.numerical_gradient", lambda *a: _gradient(*a, forward=True), "forward difference"
    )
    fails_with("ch04.numerical_gradient", lambda *a: _gradient(*a, divide=1.0), "divide by 2h")
    fails_with("ch04.numerical_gradient", lambda *a: _gradient(*a, restore=False), "put it back")

    def in_place(f, x, h):
        for index in range(x.numel()):
            x.view(-1)[index] += h  # never undone, and on the caller's tensor
        return torch.zeros_like(x)

    fails_with("ch04.numerical_gradient", in_place, "in place")


def test_adam_step_matches_our_adam_and_catches_missing_bias_correction():
    def via_optimizer(param, grad, m, v, t):
        p = param.clone().requires_grad_()
        optimizer = Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
        optimizer.t = t - 1
        optimizer.state[0] = {"m": m.clone(), "v": v.clone()}
        p.grad = grad.clone()
        optimizer.step()
        return p.detach(), optimizer.state[0]["m"], optimizer.state[0]["v"]

    assert check("ch04.adam_step", via_optimizer, seed=4, quiet=True)

    def no_bias_correction(param, grad, m, v, t):
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        return param - 0.01 * m / (v.sqrt() + 1e-8), m, v

    fails_with("ch04.adam_step", no_bias_correction, "bias-correction")

    def in_place(param, grad, m, v, t):
        m.mul_(0.9).add_(0.1 * grad)
        v.mul_(0.999).add_(0.001 * grad**2)
        update = 0.01 * (m / (1 - 0.9**t)) / ((v / (1 - 0.999**t)).sqrt() + 1e-8)
        return param - update, m, v

    fails_with("ch04.adam_step", in_place, "in place")

    def ascends(param, grad, m, v, t):
        new, m, v = via_optimizer(param, grad, m, v, t)
        return 2 * param - new, m, v  # θ + step: the seeds' missing minus sign

    fails_with("ch04.adam_step", ascends, "opposite sign")


def test_stubs_fail_with_feedback_instead_of_raising():
    for exercise in ("ch04.mlp_backward", "ch04.numerical_gradient", "ch04.linear_backward"):
        result = check(exercise, lambda *args: None, seed=0, quiet=True)
        assert not result and "forget a `return`" in result.message
