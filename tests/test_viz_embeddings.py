"""Chapter 3 figures: the JSON carries exactly the data we passed in."""

from __future__ import annotations

import json

import pytest
import torch

from lmkit.errors import InputError
from lmkit.viz.embeddings import embedding_scatter, similarity_heatmap


def _json(fig):
    return json.loads(fig.to_json())


def test_scatter_has_one_trace_per_group_with_exact_points_and_labels():
    points = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]])
    labels = ["cat", "monday", "dog", "tuesday"]
    groups = ["animal", "day", "animal", "day"]
    fig = _json(embedding_scatter(points, labels, groups, title="t"))
    traces = {t["name"]: t for t in fig["data"]}
    assert list(traces) == ["animal", "day"]
    assert traces["animal"]["x"] == [0.0, 4.0] and traces["animal"]["y"] == [1.0, 5.0]
    assert traces["animal"]["text"] == ["cat", "dog"]
    assert traces["day"]["text"] == ["monday", "tuesday"] and traces["day"]["x"] == [2.0, 6.0]
    assert fig["layout"]["title"]["text"] == "t"


def test_scatter_without_groups_is_one_trace():
    fig = _json(embedding_scatter([[1, 2], [3, 4]], ["a", "b"]))
    assert len(fig["data"]) == 1 and fig["data"][0]["text"] == ["a", "b"]


def test_scatter_rejects_bad_shapes():
    with pytest.raises(InputError, match=r"\(N, 2\)"):
        embedding_scatter(torch.zeros(3, 5), ["a", "b", "c"])
    with pytest.raises(InputError, match="as many labels"):
        embedding_scatter(torch.zeros(3, 2), ["a", "b"])


def test_heatmap_values_labels_and_fixed_colour_range():
    sim = torch.tensor([[1.0, 0.2, -0.5], [0.2, 1.0, 0.1], [-0.5, 0.1, 1.0]])
    labels = ["same text", "same text", "a very long sentence that will certainly be shortened"]
    fig = _json(similarity_heatmap(sim, labels))
    heat = fig["data"][0]
    assert torch.allclose(torch.tensor(heat["z"]), sim)
    assert heat["zmin"] == -1 and heat["zmax"] == 1
    assert fig["layout"]["yaxis"]["tickvals"] == [0, 1, 2]  # repeated labels keep their rows
    assert fig["layout"]["yaxis"]["ticktext"][2].endswith("…")
    assert heat["customdata"][2][0] == [labels[2], labels[0]]  # full text on hover


def test_heatmap_rejects_mismatched_labels():
    with pytest.raises(InputError, match="must match"):
        similarity_heatmap(torch.eye(3), ["a", "b"])
