"""Box-and-arrow diagrams: arrows meet box edges, bad layouts get clear errors, offline JSON."""

from __future__ import annotations

import json

import pytest

from lmkit.errors import InputError
from lmkit.viz.diagram import Arrow, Box, diagram, edge_point


def _on_edge(box: Box, x: float, y: float) -> bool:
    inside = abs(x - box.x) <= box.w / 2 + 1e-9 and abs(y - box.y) <= box.h / 2 + 1e-9
    on_side = abs(abs(x - box.x) - box.w / 2) < 1e-9 or abs(abs(y - box.y) - box.h / 2) < 1e-9
    return inside and on_side


@pytest.mark.parametrize("target", [(5, 0), (-3, 0), (0, 4), (0, -2), (3, 1), (-2, -3), (1, 5)])
def test_edge_point_lies_on_the_box_edge_and_toward_the_target(target):
    box = Box("a", "A", x=0.0, y=0.0, w=2.0, h=1.0)
    x, y = edge_point(box, *target)
    assert _on_edge(box, x, y)
    # on the ray from the centre to the target: same direction, parallel
    assert x * target[0] >= 0 and y * target[1] >= 0
    assert x * target[1] == pytest.approx(y * target[0])


def test_horizontal_arrow_runs_from_right_edge_to_left_edge():
    boxes = [Box("a", "A", x=0, y=0, w=2, h=1), Box("b", "B", x=5, y=0, w=1, h=1)]
    fig = diagram(boxes, [Arrow("a", "b", label="ids")])
    heads = [a for a in fig.layout.annotations if a.showarrow]
    assert len(heads) == 1
    assert (heads[0].ax, heads[0].ay, heads[0].x, heads[0].y) == (1, 0, 4.5, 0)
    assert [a.text for a in fig.layout.annotations if not a.showarrow] == ["A", "B", "ids"]
    assert [s.type for s in fig.layout.shapes] == ["rect", "rect"]


def test_dashed_arrow_is_a_dashed_line_ending_in_a_head():
    boxes = [Box("a", "A", x=0, y=0), Box("b", "B", x=0, y=3)]
    fig = diagram(boxes, [Arrow("a", "b", dashed=True)])
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(lines) == 1 and lines[0].line.dash == "dash"
    assert (lines[0].y0, lines[0].y1) == pytest.approx((0.35, 2.65))
    head = next(a for a in fig.layout.annotations if a.showarrow)
    assert head.y == pytest.approx(2.65) and 0.35 < head.ay < 2.65


def test_notes_and_ranges_fit_every_box():
    boxes = [Box("a", "A", x=0, y=0, note="(B, T)"), Box("b", "B", x=4, y=2, w=2, h=1)]
    fig = diagram(boxes, [Arrow("a", "b")], title="flow")
    assert "(B, T)" in [a.text for a in fig.layout.annotations]
    x0, x1 = fig.layout.xaxis.range
    y0, y1 = fig.layout.yaxis.range
    assert x0 < -0.8 and x1 > 5 and y0 < -0.35 and y1 > 2.5
    assert fig.layout.title.text == "flow" and not fig.layout.xaxis.visible
    json.loads(fig.to_json())  # plain JSON, nothing fetched


@pytest.mark.parametrize(
    ("boxes", "arrows", "phrase"),
    [
        ([], [], "at least one Box"),
        ([Box("a", "A", 0, 0), Box("a", "B", 2, 0)], [], "share the key"),
        ([Box("a", "A", 0, 0)], [Arrow("a", "zz")], "unknown box 'zz'"),
        ([Box("a", "A", 0, 0)], [Arrow("a", "a")], "starts and ends on one box"),
        ([Box("a", "A", 0, 0, w=0)], [], "must be > 0"),
        ([Box("a", "A", 0, 0), Box("b", "B", 0, 0)], [Arrow("a", "b")], "share a centre"),
    ],
)
def test_bad_layouts_get_clear_errors(boxes, arrows, phrase):
    with pytest.raises(InputError, match=phrase):
        diagram(boxes, arrows)
