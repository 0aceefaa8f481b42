"""lmkit.nn.linear.Linear: nn.Linear's results, with a transposed copy for single-row CPU inference."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lmkit.nn.linear import Linear


def pair(bias: bool = True, seed: int = 0) -> tuple[Linear, nn.Linear]:
    torch.manual_seed(seed)
    ours = Linear(24, 40, bias=bias)
    reference = nn.Linear(24, 40, bias=bias)
    reference.load_state_dict(ours.state_dict())
    return ours, reference


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(24,), (1, 24), (1, 1, 24), (3, 24), (2, 5, 24)])
@pytest.mark.parametrize("mode", ["no_grad", "inference_mode", "grad"])
def test_matches_nn_linear_for_every_shape_and_mode(bias, shape, mode):
    ours, reference = pair(bias)
    x = torch.randn(shape)
    context = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode}.get(
        mode, torch.enable_grad
    )
    with context():
        got, expected = ours(x), reference(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_single_row_inference_uses_the_transposed_copy():
    ours, _ = pair()
    with torch.no_grad():
        ours(torch.randn(1, 24))
    _key, transposed = ours.__dict__["_transposed"]
    assert transposed.shape == (24, 40) and transposed.is_contiguous()
    assert torch.equal(transposed, ours.weight.t())


def test_layers_that_shrink_their_input_keep_the_ordinary_path():
    torch.manual_seed(0)
    narrowing = Linear(40, 24)
    with torch.no_grad():
        narrowing(torch.randn(1, 40))
    assert "_transposed" not in narrowing.__dict__


def test_the_copy_follows_optimizer_steps_load_state_dict_and_copies():
    ours, reference = pair()
    x = torch.randn(1, 24)
    for model in (ours, reference):  # one identical SGD step on both
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        model(torch.randn(4, 24, generator=torch.Generator().manual_seed(1))).pow(
            2
        ).sum().backward()
        optimizer.step()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x))
        ours.load_state_dict(pair(seed=5)[1].state_dict())
        torch.testing.assert_close(ours(x), F.linear(x, ours.weight, ours.bias))
        twin = copy.deepcopy(ours)
        twin.weight.mul_(2.0)  # in place on the copy only
        torch.testing.assert_close(twin(x), F.linear(x, twin.weight, twin.bias))
        torch.testing.assert_close(ours(x), F.linear(x, ours.weight, ours.bias))


def test_state_dict_and_gradients_are_those_of_nn_linear():
    ours, reference = pair()
    with torch.no_grad():
        ours(torch.randn(1, 24))
    assert ours.state_dict().keys() == reference.state_dict().keys()
    x = torch.randn(1, 24)
    ours(x).sum().backward()
    reference(x).sum().backward()
    torch.testing.assert_close(ours.weight.grad, reference.weight.grad)
