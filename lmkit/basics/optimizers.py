"""Optimizers written out by hand: SGD, SGD with momentum, Adam and AdamW.

Introduced in chapter 4. Each class follows the update rule on paper, one line per symbol, and
chapter 4 (and the tests) check that every step equals ``torch.optim``'s to float precision.
With ``g`` the gradient, ``η`` the learning rate and ``t`` the step number (from 1):

- SGD: ``θ ← θ − η g`` (the minus sign walks *down* the loss);
- momentum: ``b ← μ b + g``, ``θ ← θ − η b`` (``b = g`` on the first step, as in PyTorch);
- Adam: ``m ← β₁ m + (1 − β₁) g``, ``v ← β₂ v + (1 − β₂) g²``, ``m̂ = m / (1 − β₁ᵗ)``,
  ``v̂ = v / (1 − β₂ᵗ)``, ``θ ← θ − η m̂ / (√v̂ + ε)``;
- AdamW: first shrink ``θ ← θ − η λ θ`` (decoupled weight decay), then the Adam step.

"Stochastic" means each step uses the gradient of a *mini-batch*, not of the whole training set:
:func:`minibatches` shuffles the example indices into batches. The module also holds the 2-D
test surfaces and :func:`optimize_2d` used to draw optimizer trajectories, and a step-decay
learning-rate schedule to compare with :func:`lmkit.training.schedule.warmup_cosine`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int, check_number

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "SGDMomentum",
    "ScratchOptimizer",
    "elongated_quadratic",
    "minibatches",
    "optimize_2d",
    "rosenbrock",
    "step_decay",
]


class ScratchOptimizer:
    """Shared plumbing: a list of parameters, ``zero_grad``, ``step`` and per-parameter state."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise InputError("the optimizer got no parameters; pass model.parameters().")
        for p in self.params:
            if not isinstance(p, torch.Tensor) or not p.requires_grad:
                raise InputError(
                    "every parameter must be a tensor with requires_grad=True "
                    "(nn.Parameter or torch.zeros(..., requires_grad=True))."
                )
        self.lr = check_number("lr", lr, minimum=0, above=True)
        self.t = 0  # steps taken so far
        self.state: list[dict[str, torch.Tensor]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Forget the gradients (``backward`` adds to ``.grad``, it does not overwrite it)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient."""
        self.t += 1
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is not None:
                self._update(p, p.grad, state)

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError


class SGD(ScratchOptimizer):
    """Plain (mini-batch) gradient descent ``θ ← θ − η g``."""

    def _update(self, p, g, state):
        p -= self.lr * g


class SGDMomentum(ScratchOptimizer):
    """Gradient descent with momentum, matching ``torch.optim.SGD(momentum=μ, weight_decay=λ)``.

    ``weight_decay`` here is the classic L2 penalty: ``λθ`` is added to the gradient.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = check_number("momentum", momentum, minimum=0)
        if self.momentum >= 1:
            raise ConfigError(f"momentum must be < 1 (0.9 is typical), got {momentum!r}.")
        self.weight_decay = check_number("weight_decay", weight_decay, minimum=0)

    def _update(self, p, g, state):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if "velocity" not in state:
            state["velocity"] = g.clone()  # first step: b = g, no decay of an empty buffer
        else:
            state["velocity"].mul_(self.momentum).add_(g)
        p -= self.lr * state["velocity"]


class Adam(ScratchOptimizer):
    """Adam (Kingma & Ba, 2015) with bias correction, matching ``torch.optim.Adam``.

    ``weight_decay`` is the L2 penalty added to the gradient, as in ``torch.optim.Adam``; for
    decoupled decay use :class:`AdamW`.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ConfigError(f"betas must be a pair (beta1, beta2), got {betas!r}.")
        self.beta1, self.beta2 = (check_number("beta", b, minimum=0) for b in betas)
        if not (self.beta1 < 1 and self.beta2 < 1):
            raise ConfigError(f"betas must be in [0, 1), got {betas!r}; (0.9, 0.999) is typical.")
        self.eps = check_number("eps", eps, minimum=0, above=True)
        self.weight_decay = check_number("weight_decay", weight_decay, minimum=0)

    def _moments(self, g, state):
        if "m" not in state:
            state["m"], state["v"] = torch.zeros_like(g), torch.zeros_like(g)
        m, v = state["m"], state["v"]
        m.mul_(self.beta1).add_((1 - self.beta1) * g)  # running mean of g
        v.mul_(self.beta2).add_((1 - self.beta2) * g * g)  # running mean of g²
        # m and v start at 0, so early averages are too small; dividing by 1 − βᵗ undoes that.
        m_hat = m / (1 - self.beta1**self.t)
        v_hat = v / (1 - self.beta2**self.t)
        return m_hat, v_hat

    def _update(self, p, g, state):
        if self.weight_decay:
            g = g + self.weight_decay * p
        m_hat, v_hat = self._moments(g, state)
        p -= self.lr * m_hat / (v_hat.sqrt() + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), matching ``torch.optim.AdamW``.

    The decay shrinks the weights directly, ``θ ← θ(1 − ηλ)``, instead of passing through the
    gradient, so Adam's per-parameter scaling does not weaken it for parameters with large gradients.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)

    def _update(self, p, g, state):
        p.mul_(1 - self.lr * self.weight_decay)
        m_hat, v_hat = self._moments(g, state)
        p -= self.lr * m_hat / (v_hat.sqrt() + self.eps)


def minibatches(
    n_examples: int, batch_size: int, generator: torch.Generator | None = None
) -> list[torch.Tensor]:
    """Shuffle ``range(n_examples)`` and cut it into batches of ``batch_size`` (the last may be smaller).

    One pass over the list is one epoch; each batch gives one SGD step.
    """
    n_examples = check_int("n_examples", n_examples, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    order = torch.randperm(n_examples, generator=generator)
    return list(torch.split(order, batch_size))


def step_decay(step: int, *, lr: float, step_size: int, gamma: float = 0.1) -> float:
    """``lr · gammaᶠˡᵒᵒʳ⁽ˢᵗᵉᵖ ᐟ ˢᵗᵉᵖ_ˢⁱᶻᵉ⁾``: drop the rate by ``gamma`` every ``step_size`` steps."""
    step = check_int("step", step)
    step_size = check_int("step_size", step_size, minimum=1)
    lr = check_number("lr", lr, minimum=0, above=True)
    gamma = check_number("gamma", gamma, minimum=0, above=True)
    return lr * gamma ** (step // step_size)


# ---------------------------------------------------------------- 2-D surfaces for pictures
def _xy(point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    point = torch.as_tensor(point)
    if point.shape[-1:] != (2,):
        raise InputError(
            f"points must have a last dimension of 2 (x, y), got {tuple(point.shape)}."
        )
    return point[..., 0], point[..., 1]


def rosenbrock(point: torch.Tensor, a: float = 1.0, b: float = 100.0) -> torch.Tensor:
    """``(a − x)² + b (y − x²)²``: a curved, narrow valley with its minimum at (a, a²)."""
    x, y = _xy(point)
    return (a - x) ** 2 + b * (y - x**2) ** 2


def elongated_quadratic(point: torch.Tensor, stretch: float = 10.0) -> torch.Tensor:
    """``½ (x² + stretch · y²)``: a bowl much steeper along y than along x; minimum at (0, 0)."""
    x, y = _xy(point)
    return 0.5 * (x**2 + stretch * y**2)


_OPTIMIZERS = {"sgd": SGD, "momentum": SGDMomentum, "adam": Adam}


def optimize_2d(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    start: tuple[float, float],
    *,
    optimizer: str = "sgd",
    lr: float = 0.01,
    steps: int = 100,
    momentum: float = 0.9,
) -> torch.Tensor:
    """Run one of our optimizers ("sgd", "momentum", "adam") on a 2-D loss from ``start``.

    Returns the trajectory, shape (steps + 1, 2), starting point included. A run that
    diverges stops early, with the last finite point repeated, so plots stay readable.
    """
    if optimizer not in _OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {sorted(_OPTIMIZERS)}, got {optimizer!r}.")
    steps = check_int("steps", steps, minimum=1)
    point = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    if point.shape != (2,):
        raise InputError(f"start must be two numbers (x, y), got {start!r}.")
    kwargs = {"momentum": momentum} if optimizer == "momentum" else {}
    opt = _OPTIMIZERS[optimizer]([point], lr=lr, **kwargs)
    path = [point.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(point).backward()
        opt.step()
        if not torch.isfinite(point).all() or point.detach().abs().max() > 1e6:
            path += [path[-1]] * (steps + 1 - len(path))
            break
        path.append(point.detach().clone())
    return torch.stack(path)
