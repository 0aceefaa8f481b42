"""Chapter 3 figures: the JSON carries exactly the data we passed in."""

from __future__ import annotations

import json

import pytest
import torch

from lmkit.errors import InputError
from lmkit.viz.embeddings import (
    LABEL_PLACES,
    embedding_scatter,
    label_positions,
    similarity_heatmap,
)


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


def test_scatter_places_each_label_and_keeps_the_data():
    # Three words almost on top of each other, one far away (chapter 3's clusters in small).
    points = torch.tensor([[0.0, 0.0], [0.01, 0.0], [0.0, 0.01], [5.0, 5.0]], dtype=torch.float64)
    labels = ["monday", "tuesday", "friday", "cat"]
    groups = ["day", "day", "day", "animal"]
    fig = _json(embedding_scatter(points, labels, groups))
    traces = {t["name"]: t for t in fig["data"]}
    assert traces["day"]["x"] == [0.0, 0.01, 0.0] and traces["day"]["y"] == [0.0, 0.0, 0.01]
    assert traces["day"]["text"] == ["monday", "tuesday", "friday"]
    day_places = traces["day"]["textposition"]
    assert len(day_places) == 3 and set(day_places) <= set(LABEL_PLACES)
    assert len(set(day_places)) == 3, f"crowded labels share a place: {day_places}"
    assert traces["animal"]["textposition"] == ["top center"]  # nothing near it


def test_label_positions_are_deterministic_and_spread_a_cluster():
    generator = torch.Generator().manual_seed(0)
    cluster = torch.randn(7, 2, generator=generator) * 0.01
    far = torch.tensor([[10.0, 10.0], [10.0, -10.0]])
    points = torch.cat([cluster, far])
    days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    labels = [*days, "a", "b"]
    first = label_positions(points, labels)
    assert first == label_positions(points, labels)
    assert len(set(first[:7])) >= 5, first  # the seven crowded labels fan out
    assert first[7:] == ["top center", "top center"]
    assert label_positions(torch.zeros(0, 2), []) == []
    assert label_positions(torch.zeros(1, 2), ["x"]) == ["top center"]


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
