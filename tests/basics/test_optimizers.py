"""From-scratch optimizers step for step against torch.optim, plus the helpers around them."""

from __future__ import annotations

import math

import pytest
import torch

from lmkit.basics import optimizers as opt
from lmkit.errors import ConfigError, InputError
from lmkit.training.schedule import warmup_cosine


def _problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(16, 2, generator=gen, dtype=torch.float64)
    w = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    b = torch.randn(2, generator=gen, dtype=torch.float64)
    return x, y, w, b


def _loss(params, x, y):
    w, b = params
    return ((torch.tanh(x @ w + b) - y) ** 2).mean()


CASES = [
    (opt.SGD, torch.optim.SGD, {"lr": 0.3}),
    (opt.SGDMomentum, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    (opt.SGDMomentum, torch.optim.SGD, {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1}),
    (opt.Adam, torch.optim.Adam, {"lr": 0.05}),
    (
        opt.Adam,
        torch.optim.Adam,
        {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
    ),
    (opt.AdamW, torch.optim.AdamW, {"lr": 0.05, "weight_decay": 0.1}),
    (opt.AdamW, torch.optim.AdamW, {"lr": 0.02, "betas": (0.5, 0.9), "weight_decay": 0.5}),
]


@pytest.mark.parametrize(("ours", "reference", "kwargs"), CASES)
def test_every_step_matches_torch_optim(ours, reference, kwargs):
    x, y, w, b = _problem()
    mine = [w.clone().requires_grad_(), b.clone().requires_grad_()]
    theirs = [w.clone().requires_grad_(), b.clone().requires_grad_()]
    my_opt, their_opt = ours(mine, **kwargs), reference(theirs, **kwargs)
    losses = []
    for _ in range(25):
        for params, optimizer in ((mine, my_opt), (theirs, their_opt)):
            optimizer.zero_grad()
            loss = _loss(params, x, y)
            loss.backward()
            optimizer.step()
        losses.append(loss.item())
        for a, b_ in zip(mine, theirs, strict=True):
            assert torch.allclose(a, b_, rtol=1e-10, atol=1e-12)
    assert losses[-1] < losses[0]
    assert my_opt.t == 25


def test_parameters_without_gradients_are_left_alone():
    used = torch.ones(3, requires_grad=True)
    unused = torch.ones(3, requires_grad=True)
    optimizer = opt.Adam([used, unused], lr=0.1)
    (used**2).sum().backward()
    optimizer.step()
    assert torch.equal(unused, torch.ones(3)) and not torch.equal(used, torch.ones(3))


def test_first_adam_step_has_size_lr_thanks_to_bias_correction():
    # With m = v = 0 and t = 1: m̂ = g and v̂ = g², so the step is lr · g/|g| for any gradient scale.
    for scale in (1e-2, 1.0, 1e3):
        p = torch.zeros(4, dtype=torch.float64, requires_grad=True)
        g = torch.tensor([1.0, -2.0, 3.0, -4.0], dtype=torch.float64) * scale
        optimizer = opt.Adam([p], lr=0.01)
        (p * g).sum().backward()
        optimizer.step()
        assert torch.allclose(p.detach(), -0.01 * torch.sign(g), rtol=1e-5)


def test_adamw_decay_is_decoupled_from_the_gradient():
    # With a zero gradient Adam's L2 decay still moves through m̂/√v̂ (a full lr-sized step),
    # while AdamW only shrinks the weight by the factor (1 − lr·λ).
    p_adam = torch.full((1,), 2.0, dtype=torch.float64, requires_grad=True)
    p_adamw = torch.full((1,), 2.0, dtype=torch.float64, requires_grad=True)
    adam, adamw = (
        opt.Adam([p_adam], lr=0.1, weight_decay=0.5),
        opt.AdamW([p_adamw], lr=0.1, weight_decay=0.5),
    )
    for p, optimizer in ((p_adam, adam), (p_adamw, adamw)):
        p.grad = torch.zeros_like(p)
        optimizer.step()
    assert p_adamw.item() == pytest.approx(2.0 * (1 - 0.1 * 0.5))
    assert p_adam.item() == pytest.approx(2.0 - 0.1, rel=1e-6)


def test_minibatches_cover_every_example_once():
    batches = opt.minibatches(10, 4, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    with pytest.raises(ConfigError, match="batch_size"):
        opt.minibatches(10, 0)


def test_step_decay_and_comparison_with_warmup_cosine():
    lrs = [opt.step_decay(s, lr=1.0, step_size=10, gamma=0.5) for s in range(30)]
    assert lrs[:10] == [1.0] * 10 and lrs[10:20] == [0.5] * 10 and lrs[29] == 0.25
    cosine = [
        warmup_cosine(s, max_lr=1.0, min_lr=0.1, warmup_steps=5, decay_steps=29) for s in range(30)
    ]
    assert max(cosine) == pytest.approx(1.0) and cosine[-1] == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="step_size"):
        opt.step_decay(3, lr=1.0, step_size=0)
    with pytest.raises(ConfigError, match="step"):
        opt.step_decay(-1, lr=1.0, step_size=2)


def test_surfaces_have_their_minimum_where_claimed():
    for fn, minimum in ((opt.rosenbrock, (1.0, 1.0)), (opt.elongated_quadratic, (0.0, 0.0))):
        point = torch.tensor(minimum, dtype=torch.float64, requires_grad=True)
        value = fn(point)
        value.backward()
        assert value.item() == 0 and torch.allclose(point.grad, torch.zeros(2, dtype=torch.float64))
        assert fn(torch.tensor([[0.3, -0.7]])).item() > 0
    with pytest.raises(InputError, match="last dimension of 2"):
        opt.rosenbrock(torch.ones(3))


def test_optimize_2d_descends_and_momentum_helps_in_a_narrow_valley():
    # Same learning rate for both: momentum accumulates speed along the shallow x direction.
    start = (-4.0, 1.0)
    sgd = opt.optimize_2d(opt.elongated_quadratic, start, optimizer="sgd", lr=0.05, steps=40)
    heavy = opt.optimize_2d(
        opt.elongated_quadratic, start, optimizer="momentum", lr=0.05, momentum=0.8, steps=40
    )
    assert sgd.shape == heavy.shape == (41, 2)
    assert torch.equal(sgd[0], torch.tensor(start, dtype=torch.float64))
    final = {
        name: opt.elongated_quadratic(path[-1]).item()
        for name, path in (("sgd", sgd), ("heavy", heavy))
    }
    assert final["sgd"] < opt.elongated_quadratic(torch.tensor(start)).item()
    assert final["heavy"] < 0.1 * final["sgd"]
    # Plain gradient descent on this bowl is stable only for lr < 2/stretch = 0.2.
    diverged = opt.optimize_2d(opt.elongated_quadratic, start, optimizer="sgd", lr=0.25, steps=200)
    assert torch.isfinite(diverged).all() and diverged[-1].abs().max() > 1e3


def test_optimizer_errors_are_explained():
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(InputError, match="no parameters"):
        opt.SGD([], lr=0.1)
    with pytest.raises(InputError, match="requires_grad"):
        opt.SGD([torch.zeros(2)], lr=0.1)
    with pytest.raises(ConfigError, match="lr"):
        opt.SGD([p], lr=0)
    with pytest.raises(ConfigError, match="lr"):
        opt.Adam([p], lr=math.nan)
    with pytest.raises(ConfigError, match="momentum"):
        opt.SGDMomentum([p], lr=0.1, momentum=1.0)
    with pytest.raises(ConfigError, match="betas"):
        opt.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ConfigError, match="betas"):
        opt.Adam([p], betas=0.9)
    with pytest.raises(ConfigError, match="optimizer"):
        opt.optimize_2d(opt.rosenbrock, (0.0, 0.0), optimizer="lbfgs")
    with pytest.raises(InputError, match="two numbers"):
        opt.optimize_2d(opt.rosenbrock, (0.0, 0.0, 1.0))
    with pytest.raises(ConfigError, match="steps"):
        opt.optimize_2d(opt.rosenbrock, (0.0, 0.0), steps=0)
