"""lmkit.viz.sequence: the figures carry exactly the numbers they were given."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import pytest
import torch

from lmkit.errors import InputError
from lmkit.viz.sequence import confusion_matrix_figure, gradient_decay, state_heatmap


def test_gradient_decay_draws_one_line_per_series_on_a_log_axis():
    norms = {"RNN ρ=0.5": torch.tensor([2.0, 1.0, 0.5, 0.0]), "LSTM": [2.0, 1.5, 1.2, 1.0]}
    fig = gradient_decay(norms)
    assert isinstance(fig, go.Figure)
    data = json.loads(fig.to_json())
    assert [t["name"] for t in data["data"]] == list(norms)
    assert data["data"][0]["x"] == [0, 1, 2, 3]
    assert data["data"][0]["y"] == [2.0, 1.0, 0.5, None]  # an exact 0 has no log
    assert data["data"][1]["y"] == [2.0, 1.5, 1.2, 1.0]
    assert data["layout"]["yaxis"]["type"] == "log"
    linear = json.loads(gradient_decay(norms, log_y=False).to_json())
    assert linear["data"][0]["y"][-1] == 0.0 and "type" not in linear["layout"]["yaxis"]


def test_state_heatmap_puts_units_down_and_time_across():
    values = torch.arange(6, dtype=torch.float32).view(3, 2) / 10  # (T=3, H=2)
    fig = state_heatmap(values, ["a", " ", "\n"], title="cell state")
    heat = json.loads(fig.to_json())["data"][0]
    torch.testing.assert_close(
        torch.tensor(heat["z"]), torch.tensor([[0.0, 0.2, 0.4], [0.1, 0.3, 0.5]])
    )
    assert heat["x"] == [0, 1, 2] and heat["y"] == [0, 1]
    assert fig.layout.xaxis.ticktext == ("a", "␣", "⏎")  # spaces and newlines stay visible
    assert fig.layout.title.text == "cell state"
    assert (heat["zmin"], heat["zmax"]) == (-1.0, 1.0)


def test_confusion_matrix_figure_colours_by_row_share_and_prints_counts():
    matrix = torch.tensor([[8, 2], [1, 0]])
    fig = confusion_matrix_figure(matrix, ["negative", "positive"])
    heat = json.loads(fig.to_json())["data"][0]
    torch.testing.assert_close(torch.tensor(heat["z"]), torch.tensor([[0.8, 0.2], [1.0, 0.0]]))
    assert heat["customdata"] == [[8, 2], [1, 0]]
    assert heat["text"][0][0].startswith("8<br>(80%)")
    assert heat["x"] == heat["y"] == ["negative", "positive"]
    assert "72.7%" in fig.layout.title.text  # (8 + 0) / 11
    empty_row = json.loads(confusion_matrix_figure([[3, 0], [0, 0]], ["a", "b"]).to_json())
    assert empty_row["data"][0]["z"][1] == [0.0, 0.0]


def test_bad_figure_inputs_are_rejected():
    with pytest.raises(InputError, match="non-empty mapping"):
        gradient_decay({})
    with pytest.raises(InputError, match="NaN or infinity"):
        gradient_decay({"a": [1.0, float("inf")]})
    with pytest.raises(InputError, match="negative"):
        gradient_decay({"a": [1.0, -1.0]})
    with pytest.raises(InputError, match=r"\(len\(tokens\), units\)"):
        state_heatmap(torch.zeros(3, 2), ["a", "b"])
    with pytest.raises(InputError, match="square"):
        confusion_matrix_figure(torch.zeros(2, 3, dtype=torch.long), ["a", "b"])
    with pytest.raises(InputError, match="integer counts"):
        confusion_matrix_figure(torch.rand(2, 2), ["a", "b"])
