"""Hand-written activations and derivatives against torch and autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lmkit.basics import activations as act
from lmkit.errors import ConfigError, InputError

REFERENCES = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
}
GRID = torch.cat(
    [
        torch.linspace(-12, 12, 481, dtype=torch.float64),
        torch.tensor([-40.0, 40.0], dtype=torch.float64),
    ]
)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_function_matches_torch(name):
    function, _ = act.ACTIVATIONS[name]
    assert torch.allclose(function(GRID), REFERENCES[name](GRID), atol=1e-12)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_derivative_matches_autograd(name):
    z = GRID.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(REFERENCES[name](z).sum(), z)
    assert torch.allclose(act.derivative(name)(GRID), auto, atol=1e-12)


def test_relu_derivative_at_the_kink_follows_pytorch():
    z = torch.zeros(1, requires_grad=True)
    F.relu(z).backward()
    assert act.relu_derivative(torch.zeros(1)) == z.grad == 0


def test_sigmoid_never_overflows_and_derivative_peaks_at_a_quarter():
    extreme = torch.tensor([-1000.0, 1000.0])
    assert torch.equal(act.sigmoid(extreme), torch.tensor([0.0, 1.0]))
    derivative = act.sigmoid_derivative(GRID)
    assert derivative.max() == pytest.approx(0.25) and abs(GRID[derivative.argmax()]) < 1e-9
    assert (derivative >= 0).all()


def test_gelu_tanh_approximation_stays_close_to_exact_gelu():
    assert (act.gelu_tanh(GRID) - act.gelu(GRID)).abs().max() < 1e-2


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=-30, max_value=30, allow_nan=False))
def test_identities(value):
    z = torch.tensor([value], dtype=torch.float64)
    assert torch.allclose(act.sigmoid(-z), 1 - act.sigmoid(z), atol=1e-12)
    assert torch.allclose(act.tanh(z), 2 * act.sigmoid(2 * z) - 1, atol=1e-12)
    assert torch.allclose(act.relu(z) - act.relu(-z), z)


def test_bad_input_is_explained():
    with pytest.raises(InputError, match="floating-point"):
        act.sigmoid(torch.tensor([1, 2]))
    with pytest.raises(InputError, match=r"torch\.tensor"):
        act.relu([1.0, 2.0])
    with pytest.raises(ConfigError, match="Choose one of"):
        act.derivative("swish")
