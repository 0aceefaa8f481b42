"""lmkit.nn.linear.Linear: nn.Linear's results, with a oneDNN (or transposed) copy of the weight for
single-row CPU inference."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lmkit.nn.linear as linear_module
from lmkit.nn.linear import Linear


def pair(bias: bool = True, seed: int = 0) -> tuple[Linear, nn.Linear]:
    torch.manual_seed(seed)
    ours = Linear(24, 40, bias=bias)
    reference = nn.Linear(24, 40, bias=bias)
    reference.load_state_dict(ours.state_dict())
    return ours, reference


@pytest.fixture(params=["onednn", "transposed"])
def single_row_path(request, monkeypatch):
    """Run the test through each single-row path, whatever the layer's size."""
    if request.param == "onednn":
        if not torch.backends.mkldnn.is_available():
            pytest.skip("this torch build has no oneDNN")
        monkeypatch.setattr(linear_module, "ONEDNN_MIN_WEIGHTS", 0)
    else:
        monkeypatch.setattr(linear_module, "_ONEDNN", False)
    return request.param


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(24,), (1, 24), (1, 1, 24), (3, 24), (2, 5, 24)])
@pytest.mark.parametrize("mode", ["no_grad", "inference_mode", "grad"])
def test_matches_nn_linear_for_every_shape_and_mode(bias, shape, mode, single_row_path):
    ours, reference = pair(bias)
    x = torch.randn(shape)
    context = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode}.get(
        mode, torch.enable_grad
    )
    with context():
        got, expected = ours(x), reference(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


ONEDNN = torch.backends.mkldnn.is_available()


@pytest.mark.skipif(not ONEDNN, reason="this torch build has no oneDNN")
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("features", [(24, 40), (40, 24)])
def test_single_row_inference_uses_a_onednn_copy(bias, features, monkeypatch):
    monkeypatch.setattr(linear_module, "ONEDNN_MIN_WEIGHTS", 0)  # small layers, to stay fast
    torch.manual_seed(0)
    ours = Linear(*features, bias=bias)
    with torch.no_grad():
        ours(torch.randn(1, features[0]))
    _key, (weight, bias_copy) = ours.__dict__["_inference_weights"]
    assert weight.is_mkldnn and torch.equal(weight.to_dense(), ours.weight)
    assert (bias_copy is None) == (not bias)
    if bias:
        assert torch.equal(bias_copy.to_dense(), ours.bias)


@pytest.mark.parametrize("onednn", [False, True])
def test_small_layers_or_no_onednn_use_a_transposed_copy_when_widening(onednn, monkeypatch):
    # Below ONEDNN_MIN_WEIGHTS (24 x 40 here) oneDNN's fixed cost is not repaid.
    monkeypatch.setattr(linear_module, "_ONEDNN", onednn)
    ours, reference = pair()
    x = torch.randn(1, 24)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-6)
    _key, (transposed,) = ours.__dict__["_inference_weights"]
    assert transposed.shape == (24, 40) and transposed.is_contiguous()
    assert torch.equal(transposed, ours.weight.t())
    torch.manual_seed(0)
    narrowing = Linear(40, 24)  # shrinking layers read fastest as stored: no copy
    with torch.no_grad():
        narrowing(torch.randn(1, 40))
    assert "_inference_weights" not in narrowing.__dict__


def test_the_bias_copy_follows_the_bias(monkeypatch):
    monkeypatch.setattr(linear_module, "ONEDNN_MIN_WEIGHTS", 0)
    ours, reference = pair()
    x = torch.randn(1, 24)
    with torch.no_grad():
        ours(x)
        ours.bias.add_(1.0)  # only the bias changes, in place
        reference.bias.add_(1.0)
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-6)


def test_the_copy_follows_optimizer_steps_load_state_dict_and_copies(single_row_path):
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
