"""lmkit.viz.saliency: the figure JSON carries the right values, colours and labels."""

from __future__ import annotations

import json
import re

import pytest
import torch

from lmkit.errors import InputError
from lmkit.tasks.saliency import Saliency
from lmkit.viz import class_probabilities, token_saliency
from lmkit.viz.saliency import saliency_color

SCORES = (0.0, 0.8, -0.4, 0.1, -0.8, 0.0)
TOKENS = ("[CLS]", "not", "<b>", "bad", "at", "[SEP]")


def make_saliency(scores=SCORES, tokens=TOKENS) -> Saliency:
    return Saliency(
        tokens=tokens,
        scores=scores,
        target_label="positive",
        probabilities={"negative": 0.25, "positive": 0.75},
        special=tuple(t in ("[CLS]", "[SEP]") for t in tokens),
        token_ids=tuple(range(len(tokens))),
        method="integrated_gradients",
        target_score=-0.29,
    )


def rgb(color: str) -> tuple[int, int, int]:
    r, g, b = map(int, re.fullmatch(r"rgb\((\d+),(\d+),(\d+)\)", color).groups())
    return r, g, b


def test_token_boxes_follow_the_sign_and_size_of_the_scores():
    fig = json.loads(token_saliency(make_saliency()).to_json())
    shapes = fig["layout"]["shapes"]
    assert len(shapes) == len(TOKENS)
    colors = [rgb(s["fillcolor"]) for s in shapes]
    for (r, g, b), score in zip(colors, SCORES, strict=True):
        if score > 0:
            assert b > r, "positive scores are blue"
        elif score < 0:
            assert r > b, "negative scores are red"
        else:
            assert (r, g, b) == (255, 255, 255)
    # The strongest tokens (|0.8|) are fully coloured; 0.1 is paler than 0.8.
    assert colors[1] == (5, 113, 176) and colors[4] == (202, 0, 32)
    assert sum(colors[3]) > sum(colors[1])
    # Special tokens are drawn dashed, ordinary ones solid.
    assert [s["line"]["dash"] for s in shapes] == ["dot", "solid", "solid", "solid", "solid", "dot"]


def test_hover_shows_scores_and_labels_are_escaped():
    fig = json.loads(token_saliency(make_saliency()).to_json())
    trace = fig["data"][0]
    assert [row[3] for row in trace["customdata"]] == list(SCORES)
    assert "customdata[3]" in trace["hovertemplate"]
    assert trace["marker"]["cmin"] == -0.8 and trace["marker"]["cmax"] == 0.8
    assert trace["customdata"][0][2] == "special token"
    texts = [a["text"] for a in fig["layout"]["annotations"]]
    assert texts[2] == "&lt;b&gt;"  # an HTML-looking token stays text
    assert "positive" in fig["layout"]["title"]["text"]


def test_all_zero_scores_render_white():
    fig = json.loads(token_saliency(make_saliency(scores=(0.0,) * 6)).to_json())
    assert {s["fillcolor"] for s in fig["layout"]["shapes"]} == {"rgb(255,255,255)"}


def test_saliency_color_end_points():
    assert saliency_color(1.0, 1.0) == "rgb(5,113,176)"
    assert saliency_color(-2.0, 1.0) == "rgb(202,0,32)"  # clipped to the scale
    assert saliency_color(0.5, 1.0) == "rgb(130,184,216)"


def test_bad_saliency_inputs():
    with pytest.raises(InputError):
        token_saliency("not a saliency")
    with pytest.raises(InputError, match="finite"):
        token_saliency(make_saliency(scores=(0.0, float("nan"), 0, 0, 0, 0)))
    with pytest.raises(InputError):
        saliency_color(float("inf"), 1.0)


def test_class_probabilities_bars():
    fig = json.loads(
        class_probabilities(["negative", "positive"], torch.tensor([0.2, 0.8])).to_json()
    )
    bar = fig["data"][0]
    assert bar["type"] == "bar" and bar["orientation"] == "h"
    assert bar["y"] == ["negative", "positive"]
    assert bar["x"] == pytest.approx([0.2, 0.8])
    assert bar["marker"]["color"][1] != bar["marker"]["color"][0]  # the winner stands out
    assert fig["layout"]["xaxis"]["title"]["text"] == "probability"
    assert fig["layout"]["xaxis"]["range"] == [0, 1]
    assert fig["layout"]["yaxis"]["title"]["text"] == "label"


@pytest.mark.parametrize(
    ("labels", "probs"),
    [(["a", "b"], [0.5]), ([], []), (["a", "b"], [0.5, 1.5]), (["a", "b"], [float("nan"), 0.5])],
)
def test_class_probabilities_rejects_bad_values(labels, probs):
    with pytest.raises(InputError):
        class_probabilities(labels, probs)
