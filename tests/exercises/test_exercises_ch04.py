"""Chapter 4 exercises: correct answers pass; typical mistakes get the feedback designed for them."""

from __future__ import annotations

import torch
from exercise_asserts import fails_with

from lmkit.basics.optimizers import Adam
from lmkit.exercises import check


def test_sigmoid_derivative():
    def good(z):
        s = 1 / (1 + torch.exp(-z))
        return s * (1 - s)

    assert check("ch04.sigmoid_derivative", good, seed=1, quiet=True)
    fails_with("ch04.sigmoid_derivative", lambda z: z * (1 - z), "σ(z) belongs")
    fails_with("ch04.sigmoid_derivative", torch.sigmoid, "Values differ")


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


def test_hidden_delta_catches_the_double_counted_derivative():
    def good(w_next, delta_next, z):
        s = torch.sigmoid(z)
        return (delta_next @ w_next) * s * (1 - s)

    assert check("ch04.hidden_delta", good, seed=3, quiet=True)

    def seed_formula(w_next, delta_next, z):  # δ = ∂L/∂z · σ′(z): σ′ applied twice
        s = torch.sigmoid(z)
        return good(w_next, delta_next, z) * s * (1 - s)

    fails_with("ch04.hidden_delta", seed_formula, "applied twice")
    fails_with("ch04.hidden_delta", lambda w, d, z: d @ w, "Values differ")


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
