"""Figures for n-gram models: check the plotted numbers, not only that a figure exists."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lmkit.basics.ngram import BigramModel
from lmkit.errors import InputError
from lmkit.viz.ngram import next_token_bar, perplexity_curve, transition_heatmap


def _json(fig):
    return json.loads(fig.to_json())


def test_next_token_bar_sorts_by_probability_and_keeps_top():
    labels = ["a", " ", "c", "d"]
    probs = torch.tensor([0.1, 0.5, 0.15, 0.25])
    fig = _json(next_token_bar(labels, probs, top=3))
    bar = fig["data"][0]
    assert bar["y"] == pytest.approx([0.5, 0.25, 0.15])
    assert fig["layout"]["xaxis"]["ticktext"] == ["␣", "d", "c"]  # the space is made visible
    assert bar["customdata"] == ["␣", "d", "c"]
    everything = _json(next_token_bar(labels, probs, top=None))
    assert sum(everything["data"][0]["y"]) == pytest.approx(1.0)


def test_next_token_bar_from_a_model_shows_its_distribution():
    model = BigramModel(k=0.0).fit(["ab", "ac", "ab"])
    fig = _json(next_token_bar(model.outcomes, model.next_token_probs("a")))
    assert fig["data"][0]["y"][:2] == pytest.approx([2 / 3, 1 / 3])
    assert fig["layout"]["xaxis"]["ticktext"][:2] == ["b", "c"]


def test_next_token_bar_rejects_bad_input():
    with pytest.raises(InputError, match="same length"):
        next_token_bar(["a"], [0.5, 0.5])
    with pytest.raises(InputError, match="non-negative"):
        next_token_bar(["a", "b"], [-0.1, 1.1])
    with pytest.raises(InputError, match="empty"):
        next_token_bar([], [])
    with pytest.raises(InputError, match="top"):
        next_token_bar(["a"], [1.0], top=0)
    with pytest.raises(InputError, match="1-D"):
        next_token_bar(["a"], [[1.0]])


def test_transition_heatmap_values_and_labels():
    model = BigramModel(k=0.5).fit(["我喜欢", "我喜"])
    matrix = model.transition_matrix()
    rows = ["<s>", *model.vocab]
    cols = [*model.vocab, "</s>"]
    fig = _json(transition_heatmap(matrix, rows, cols))
    heat = fig["data"][0]
    assert torch.allclose(torch.tensor(heat["z"], dtype=torch.float64), matrix)
    # "<s>" would be read as an HTML strike-through tag by plotly: labels are escaped.
    assert fig["layout"]["yaxis"]["ticktext"] == ["&lt;s&gt;", *model.vocab]
    assert fig["layout"]["xaxis"]["ticktext"] == [*model.vocab, "&lt;/s&gt;"]
    assert heat["customdata"][1][2] == ["我", "欢"]
    assert heat["customdata"][0][0] == ["&lt;s&gt;", "我"]


def test_transition_heatmap_rejects_mismatched_labels():
    with pytest.raises(InputError, match="must match"):
        transition_heatmap(torch.eye(2), ["a"], ["a", "b"])
    with pytest.raises(InputError, match="2-D"):
        transition_heatmap(torch.ones(2), ["a", "b"], ["a"])


def test_perplexity_curve_draws_each_series_and_leaves_infinity_as_a_gap():
    ks = [0.01, 0.1, 1.0]
    fig = _json(
        perplexity_curve(ks, {"train": [2.0, 2.5, 4.0], "validation": [math.inf, 6.0, 7.5]})
    )
    traces = {t["name"]: t for t in fig["data"]}
    assert traces["train"]["x"] == ks and traces["train"]["y"] == [2.0, 2.5, 4.0]
    assert traces["validation"]["y"] == [None, 6.0, 7.5]
    assert fig["layout"]["xaxis"]["type"] == "log"
    linear = _json(perplexity_curve([0, 1], {"train": [1.0, 2.0]}))
    assert linear["layout"]["xaxis"]["type"] == "linear"


def test_perplexity_curve_rejects_bad_input():
    with pytest.raises(InputError, match="3 values of k"):
        perplexity_curve([1, 2, 3], {"train": [1.0]})
    with pytest.raises(InputError, match="series is empty"):
        perplexity_curve([1], {})
    with pytest.raises(InputError, match="ks is empty"):
        perplexity_curve([], {"train": []})
