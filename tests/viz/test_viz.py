from __future__ import annotations

import json

import pytest
import torch

from lmkit.errors import InputError
from lmkit.viz import attention_grid, attention_heatmap, loss_curve


def _traces(fig):
    return {trace["name"]: trace for trace in json.loads(fig.to_json())["data"] if "name" in trace}


def test_loss_curve_plots_train_val_and_lr_from_history():
    history = [
        {"step": 0, "loss": 4.0, "lr": 0.0},
        {"step": 10, "loss": 3.0, "lr": 1e-3, "val_loss": 3.2},
        {"step": 20, "loss": 2.5, "lr": 5e-4},
        {"step": 30, "loss": 2.0, "lr": 1e-4, "val_loss": 2.4},
    ]
    traces = _traces(loss_curve(history))
    assert traces["train loss"]["x"] == [0, 10, 20, 30]
    assert traces["train loss"]["y"] == [4.0, 3.0, 2.5, 2.0]
    assert traces["validation loss"]["x"] == [10, 30]
    assert traces["validation loss"]["y"] == [3.2, 2.4]
    assert traces["learning rate"]["yaxis"] == "y2"


def test_loss_curve_without_validation_has_only_train_trace():
    traces = _traces(loss_curve([{"step": 1, "loss": 1.0}]))
    assert set(traces) == {"train loss"}


@pytest.mark.parametrize("history", [[], [{"loss": 1.0}]])
def test_loss_curve_rejects_bad_history(history):
    with pytest.raises(InputError):
        loss_curve(history)


def test_heatmap_keeps_repeated_tokens_apart_and_values_exact():
    weights = torch.softmax(torch.randn(3, 3), dim=-1)
    tokens = ["the", "cat", "the"]
    fig = json.loads(attention_heatmap(weights, tokens).to_json())
    heat = fig["data"][0]
    assert torch.allclose(torch.tensor(heat["z"]), weights)
    assert fig["layout"]["yaxis"]["ticktext"] == tokens
    assert fig["layout"]["yaxis"]["tickvals"] == [0, 1, 2]  # positions, so both "the" rows stay
    assert heat["customdata"][2][1] == ["the", "cat"]
    # keys are labelled on top, so no blank band is left under the map
    assert fig["layout"]["xaxis"]["side"] == "top" and fig["layout"]["margin"]["b"] <= 30


def test_heatmap_shape_mismatch_and_wrong_rank_are_explained():
    with pytest.raises(InputError, match="must match"):
        attention_heatmap(torch.rand(2, 3), ["a", "b"])
    with pytest.raises(InputError, match="2-D"):
        attention_heatmap(torch.rand(1, 2, 2), ["a", "b"])


def test_grid_has_one_heatmap_per_head():
    weights = torch.softmax(torch.randn(6, 4, 4), dim=-1)
    fig = json.loads(attention_grid(weights, list("abcd")).to_json())
    heats = [t for t in fig["data"] if t["type"] == "heatmap"]
    assert len(heats) == 6
    for head, trace in enumerate(heats):
        assert torch.allclose(torch.tensor(trace["z"]), weights[head])
    with pytest.raises(InputError):
        attention_grid(weights, list("abc"))
