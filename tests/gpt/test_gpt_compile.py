"""``torch.compile`` of the GPT: one graph for a training forward, and the compiled model's
loss and gradients equal the eager model's (the CPU speed-up of issue 21 must not change the
maths)."""

from __future__ import annotations

import copy

import pytest
import torch
from model_factories import token_ids, training_gpt


def test_a_training_forward_is_one_graph():
    model = training_gpt()
    idx, targets = token_ids(2, 8, seed=1), token_ids(2, 8, seed=2)
    # The range checks of idx and targets read a value back; under compile they must not
    # split the forward in two (each break is a graph and a device sync per step).
    explanation = torch._dynamo.explain(model)(idx, targets)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_compiled_loss_and_gradients_equal_eager_ones():
    eager = training_gpt()
    compiled_model = copy.deepcopy(eager)
    compiled = torch.compile(compiled_model)
    for batch in range(3):  # new data each time: the compiled graph is reused, not rebuilt
        idx, targets = token_ids(2, 8, seed=10 + batch), token_ids(2, 8, seed=20 + batch)
        losses = []
        for forward in (eager, compiled):
            loss = forward(idx, targets).loss
            loss.backward()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=1e-5)
        grads = dict(compiled_model.named_parameters())
        for name, param in eager.named_parameters():
            torch.testing.assert_close(grads[name].grad, param.grad, rtol=1e-4, atol=1e-6)
        eager.zero_grad()
        compiled_model.zero_grad()


def test_compiled_model_still_stops_at_an_out_of_range_target():
    compiled = torch.compile(training_gpt())
    idx, targets = token_ids(2, 8), token_ids(2, 8, seed=2)
    targets[0, 0] = 10**6
    with pytest.raises(RuntimeError, match="out of bounds"):
        compiled(idx, targets).loss.item()
