"""Activation functions and their derivatives, written out by hand.

Introduced in chapter 4. A neuron computes ``a = act(z)`` with ``z = wᵀx + b``; backpropagation
needs ``act′(z)``. Each derivative below is the closed form you would derive on paper; chapter 4
and the tests check every one against autograd.

- sigmoid ``σ(z) = 1 / (1 + e^{−z})``, ``σ′(z) = σ(z)(1 − σ(z))`` (at most 1/4, at z = 0);
- tanh, ``tanh′(z) = 1 − tanh²(z)``;
- ReLU ``max(0, z)``, derivative 1 for z > 0 and 0 otherwise (we pick 0 at z = 0, like PyTorch);
- GELU ``z·Φ(z)`` with Φ the standard normal CDF, ``GELU′(z) = Φ(z) + z·φ(z)``;
- the tanh approximation of GELU used by GPT-2:
  ``½ z (1 + tanh(√(2/π)(z + 0.044715 z³)))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lmkit.errors import ConfigError, InputError

__all__ = [
    "ACTIVATIONS",
    "derivative",
    "gelu",
    "gelu_derivative",
    "gelu_tanh",
    "gelu_tanh_derivative",
    "relu",
    "relu_derivative",
    "sigmoid",
    "sigmoid_derivative",
    "tanh",
    "tanh_derivative",
]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


def _float_tensor(z: torch.Tensor) -> torch.Tensor:
    if not isinstance(z, torch.Tensor):
        raise InputError(
            f"expected a torch.Tensor, got {type(z).__name__}; wrap numbers with torch.tensor(...)."
        )
    if not z.is_floating_point():
        raise InputError(
            f"activations need a floating-point tensor, got dtype {z.dtype}; use z.float()."
        )
    return z


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """``1 / (1 + e^{−z})``, computed without overflow for large negative ``z``."""
    z = _float_tensor(z)
    # e^{-z} overflows for z << 0; there, use the equivalent e^{z} / (1 + e^{z}).
    positive = z >= 0
    exp_neg_abs = torch.exp(-z.abs())
    return torch.where(positive, 1 / (1 + exp_neg_abs), exp_neg_abs / (1 + exp_neg_abs))


def sigmoid_derivative(z: torch.Tensor) -> torch.Tensor:
    """``σ′(z) = σ(z)(1 − σ(z))``: note it takes ``z``, not ``σ(z)``."""
    s = sigmoid(z)
    return s * (1 - s)


def tanh(z: torch.Tensor) -> torch.Tensor:
    """``(e^z − e^{−z}) / (e^z + e^{−z}) = 2σ(2z) − 1``."""
    return 2 * sigmoid(2 * _float_tensor(z)) - 1


def tanh_derivative(z: torch.Tensor) -> torch.Tensor:
    """``1 − tanh²(z)``."""
    return 1 - tanh(z) ** 2


def relu(z: torch.Tensor) -> torch.Tensor:
    """``max(0, z)``."""
    z = _float_tensor(z)
    return torch.where(z > 0, z, torch.zeros_like(z))


def relu_derivative(z: torch.Tensor) -> torch.Tensor:
    """1 where ``z > 0``, else 0 (the kink at 0 gets 0, as in PyTorch's autograd)."""
    z = _float_tensor(z)
    return (z > 0).to(z.dtype)


def _normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(z / math.sqrt(2.0)))


def _normal_pdf(z: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)


def gelu(z: torch.Tensor) -> torch.Tensor:
    """Exact GELU ``z·Φ(z)``: the input scaled by the probability that a normal sample is below it."""
    z = _float_tensor(z)
    return z * _normal_cdf(z)


def gelu_derivative(z: torch.Tensor) -> torch.Tensor:
    """``Φ(z) + z·φ(z)`` (product rule; ``φ`` is the normal density)."""
    z = _float_tensor(z)
    return _normal_cdf(z) + z * _normal_pdf(z)


def gelu_tanh(z: torch.Tensor) -> torch.Tensor:
    """GPT-2's approximation ``½ z (1 + tanh(√(2/π)(z + 0.044715 z³)))``."""
    z = _float_tensor(z)
    inner = _SQRT_2_OVER_PI * (z + _GELU_CUBIC * z**3)
    return 0.5 * z * (1 + tanh(inner))


def gelu_tanh_derivative(z: torch.Tensor) -> torch.Tensor:
    """``½(1 + t) + ½ z (1 − t²) √(2/π)(1 + 3·0.044715 z²)`` with ``t = tanh(√(2/π)(z + 0.044715 z³))``."""
    z = _float_tensor(z)
    t = tanh(_SQRT_2_OVER_PI * (z + _GELU_CUBIC * z**3))
    inner_slope = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * z**2)
    return 0.5 * (1 + t) + 0.5 * z * (1 - t**2) * inner_slope


Activation = Callable[[torch.Tensor], torch.Tensor]

ACTIVATIONS: dict[str, tuple[Activation, Activation]] = {
    "sigmoid": (sigmoid, sigmoid_derivative),
    "tanh": (tanh, tanh_derivative),
    "relu": (relu, relu_derivative),
    "gelu": (gelu, gelu_derivative),
    "gelu_tanh": (gelu_tanh, gelu_tanh_derivative),
}
"""Name → (function, derivative), for plots and for picking an activation by name."""


def derivative(name: str) -> Activation:
    """The hand-written derivative of the activation called ``name`` (see :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ConfigError(
            f"Unknown activation {name!r}. Choose one of: {', '.join(sorted(ACTIVATIONS))}."
        )
    return ACTIVATIONS[name][1]
