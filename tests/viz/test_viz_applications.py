"""lmkit.viz.applications: marked spans are exactly text[start:end], heatmaps are target × source,
the FAQ bars follow the threshold, and bad input is refused with InputError."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

import pytest
import torch

from lmkit.errors import InputError
from lmkit.viz.applications import (
    ENTITY_COLOURS,
    answer_span,
    cross_attention_heatmap,
    entity_spans,
    faq_matches,
)

TEXT = "Zhao Lei met Anna at the Green Park library; 张伟在北京银行工作。"


@dataclass
class Span:  # the fields of lmkit.tasks.ner.EntitySpan
    start: int
    end: int
    label: str
    text: str
    score: float


@dataclass
class Answer:  # the fields of lmkit.tasks.extractive_qa.Answer
    text: str
    start: int
    end: int
    score: float


def span(text: str, piece: str, label: str, score: float = 0.9) -> Span:
    start = text.index(piece)
    return Span(start, start + len(piece), label, piece, score)


SPANS = [
    span(TEXT, "Zhao Lei", "PER"),
    span(TEXT, "Anna", "PER", 0.75),
    span(TEXT, "Green Park", "LOC"),
    span(TEXT, "张伟", "PER"),
    span(TEXT, "北京银行", "ORG", 0.5),
]


def figure(fig) -> dict:
    return json.loads(fig.to_json())


def hover_traces(fig: dict) -> list[dict]:
    return [t for t in fig["data"] if t.get("customdata") is not None]


def test_every_entity_is_its_text_slice_in_a_box_of_its_type_colour():
    fig = figure(entity_spans(TEXT, SPANS))
    found = [row for trace in hover_traces(fig) for row in trace["customdata"]]
    assert sorted(row[3] for row in found) == sorted(s.start for s in SPANS)
    for text, label, score, start, end, _ in found:
        assert text == TEXT[start:end]
        original = next(s for s in SPANS if s.start == start)
        assert (label, end, score) == (original.label, original.end, original.score)
    for trace in hover_traces(fig):  # each type's hover trace holds only that type
        assert {row[1] for row in trace["customdata"]} == {trace["name"]}
    boxes = fig["layout"]["shapes"]
    assert len(boxes) == len(SPANS)
    assert sorted(b["fillcolor"] for b in boxes) == sorted(ENTITY_COLOURS[s.label] for s in SPANS)
    shown = [a["text"] for a in fig["layout"]["annotations"]]
    for s in SPANS:
        assert TEXT[s.start : s.end] in shown
    assert shown.count("PER") == 3 and shown.count("ORG") == 1  # the label under each box
    assert fig["layout"]["title"]["text"] == "Entities found (5)"


def test_the_legend_has_one_coloured_entry_per_type_in_order_of_appearance():
    fig = figure(entity_spans(TEXT, SPANS))
    legend = [t for t in fig["data"] if t.get("showlegend") is not False]
    assert [t["name"] for t in legend] == ["PER", "LOC", "ORG"]
    assert [t["marker"]["color"] for t in legend] == [
        ENTITY_COLOURS[n] for n in ("PER", "LOC", "ORG")
    ]
    assert fig["layout"]["showlegend"] is True


def test_every_word_of_the_text_is_shown_once_and_in_order():
    fig = figure(entity_spans(TEXT, SPANS))
    shown = [a["text"] for a in fig["layout"]["annotations"] if a["font"]["size"] == 15]
    assert "".join(shown).replace(" ", "") == "".join(TEXT.split())
    ordered = sorted(
        fig["layout"]["annotations"], key=lambda a: (-round(a["y"], 3), a["x"])
    )  # row by row (rows go down), left to right
    in_reading_order = "".join(a["text"] for a in ordered if a["font"]["size"] == 15)
    assert in_reading_order == "".join(shown)


def test_text_is_escaped_for_plotly_and_tuples_work_as_spans():
    text = "Tom & <b>Mia</b> went home."
    start = text.index("<b>Mia</b>")
    fig = figure(entity_spans(text, [(0, 3, "PER"), (start, start + 10, "PER", 0.6)]))
    shown = [a["text"] for a in fig["layout"]["annotations"]]
    assert html.escape("<b>Mia</b>", quote=False) in shown and "&amp;" in shown
    rows = hover_traces(fig)[0]["customdata"]
    assert [r[0] for r in rows] == ["Tom", "<b>Mia</b>"] and rows[0][2] is None


def test_no_entities_gives_the_plain_text_and_no_legend():
    fig = figure(entity_spans("Nothing here.", []))
    assert not fig["layout"].get("shapes") and fig["layout"]["showlegend"] is False
    assert [a["text"] for a in fig["layout"]["annotations"]] == ["Nothing", "here."]


def test_a_long_run_without_spaces_wraps_onto_several_rows():
    text = "我喜欢吃苹果" * 30
    fig = figure(entity_spans(text, [span(text, "苹果", "ORG")], row_width=20))
    rows = {round(a["y"], 3) for a in fig["layout"]["annotations"]}
    assert len(rows) >= 15  # 360 cells of Chinese in rows of 20
    xs = [a["x"] for a in fig["layout"]["annotations"]]
    assert max(xs) <= 20 + 1


@pytest.mark.parametrize(
    "spans",
    [
        [(0, 100, "PER")],  # past the end
        [(-1, 3, "PER")],
        [(4, 4, "PER")],  # empty
        [(5, 3, "PER")],
        [(0.5, 3, "PER")],
        [(0, 8, "PER"), (5, 9, "LOC")],  # overlapping
        [(13, 17, "PER"), (0, 8, "PER"), (2, 4, "LOC")],  # overlapping, out of order
        [(0, 8)],  # no label
        [object()],
        [Span(0, 8, "PER", "Zhao Lei", float("nan"))],
    ],
)
def test_bad_spans_are_refused(spans):
    with pytest.raises(InputError):
        entity_spans(TEXT, spans)


@pytest.mark.parametrize("text", ["", "   ", None])
def test_an_empty_text_is_refused(text):
    with pytest.raises(InputError):
        entity_spans(text, [])


def test_the_answer_is_its_context_slice_with_its_score_in_the_title():
    context = "Anna went to the market on Monday. She bought three red apples."
    start = context.index("three red apples")
    fig = figure(answer_span(context, Answer("three red apples", start, start + 16, 0.8125)))
    (trace,) = hover_traces(fig)
    assert trace["name"] == "answer"
    ((text, label, score, lo, hi, _),) = trace["customdata"]
    assert label == "answer"
    assert text == context[lo:hi] == "three red apples" and score == 0.8125
    assert "three red apples" in fig["layout"]["title"]["text"]
    assert "0.812" in fig["layout"]["title"]["text"]
    assert len(fig["layout"]["shapes"]) == 1


@pytest.mark.parametrize(
    "answer",
    [
        Answer("apples", 0, 6, 0.5),  # the text is not context[0:6]
        Answer("", 3, 3, 0.5),
        Answer("x", 0, 999, 0.5),
        "three red apples",
    ],
)
def test_an_answer_that_is_not_a_span_of_the_context_is_refused(answer):
    with pytest.raises(InputError):
        answer_span("Anna bought three red apples.", answer)


def test_cross_attention_rows_are_target_tokens_and_columns_source_tokens():
    weights = torch.rand(3, 5).softmax(-1)
    source, target = ["An", "na", " eats", " <b>", "."], ["安", "娜", "吃"]
    fig = figure(cross_attention_heatmap(source, target, weights))
    (heat,) = fig["data"]
    assert heat["type"] == "heatmap"
    z = torch.tensor(heat["z"])
    assert z.shape == (len(target), len(source)) and torch.allclose(z, weights)
    assert list(fig["layout"]["yaxis"]["ticktext"]) == target
    assert list(fig["layout"]["xaxis"]["ticktext"]) == ["An", "na", "␣eats", "␣&lt;b&gt;", "."]
    assert fig["layout"]["xaxis"]["title"]["text"].startswith("source token")
    assert fig["layout"]["yaxis"]["title"]["text"].startswith("output token")
    assert heat["customdata"][2][2] == ["吃", "␣eats"]  # row 2 (吃), column 2 ( eats)


@pytest.mark.parametrize(
    ("source", "target", "weights"),
    [
        (["a", "b"], ["x", "y", "z"], torch.rand(2, 3)),  # transposed
        (["a", "b"], ["x"], torch.rand(2)),
        ([], ["x"], torch.rand(1, 0)),
        (["a"], ["x"], [[float("nan")]]),
    ],
)
def test_cross_attention_of_the_wrong_shape_is_refused(source, target, weights):
    with pytest.raises(InputError):
        cross_attention_heatmap(source, target, weights)


def test_faq_bars_below_the_threshold_are_grey_and_the_line_sits_at_it():
    questions = ["What is a token?", "What is BPE?", "What is a GPU?"]
    fig = figure(faq_matches(questions, [0.81, 0.55, 0.32], threshold=0.6))
    (bars,) = fig["data"]
    assert bars["type"] == "bar" and bars["x"] == [0.81, 0.55, 0.32]
    assert list(bars["customdata"]) == questions
    assert bars["marker"]["color"] == ["#4C78A8", "#BBBBBB", "#BBBBBB"]
    (line,) = fig["layout"]["shapes"]
    assert line["x0"] == line["x1"] == 0.6
    assert "0.60" in fig["layout"]["annotations"][0]["text"]


@pytest.mark.parametrize(
    ("scores", "threshold"),
    [([0.5], 1.5), ([0.5], float("nan")), ([0.5], True), ([float("inf")], 0.5), ([0.5, 0.2], 0.5)],
)
def test_bad_faq_scores_or_threshold_are_refused(scores, threshold):
    with pytest.raises(InputError):
        faq_matches(["What is a token?"], scores, threshold)
