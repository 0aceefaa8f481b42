"""Box-and-arrow diagrams drawn with plotly shapes: architectures and data flows for the chapters.

A diagram is a list of :class:`Box` (centre, size, label) and a list of :class:`Arrow` between
boxes. Arrows start and end on the boxes' edges, where the straight line between the two centres
leaves one box and enters the other, so a diagram is laid out by placing boxes only. Everything
is inline plotly (shapes and annotations), so the figure renders offline. Introduced in chapter 8.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from lmkit.errors import InputError
from lmkit.viz.core import TEMPLATE


@dataclass(frozen=True)
class Box:
    """A labelled rectangle centred at ``(x, y)`` in data units; ``label`` may contain ``<br>``."""

    key: str
    label: str
    x: float
    y: float
    w: float = 1.6
    h: float = 0.7
    color: str = "#eef2f7"
    note: str = ""


@dataclass(frozen=True)
class Arrow:
    """An arrow from the edge of box ``start`` to the edge of box ``end``."""

    start: str
    end: str
    label: str = ""
    dashed: bool = False
    color: str = "#555"


def edge_point(box: Box, toward_x: float, toward_y: float) -> tuple[float, float]:
    """Where the ray from ``box``'s centre toward ``(toward_x, toward_y)`` leaves the box."""
    dx, dy = toward_x - box.x, toward_y - box.y
    if dx == 0 and dy == 0:
        raise InputError(f"box {box.key!r} and the arrow's other end share a centre.")
    # the ray leaves through whichever side it reaches first
    scale = min(
        (box.w / 2) / abs(dx) if dx else float("inf"),
        (box.h / 2) / abs(dy) if dy else float("inf"),
    )
    return box.x + dx * scale, box.y + dy * scale


def _check(boxes: Sequence[Box], arrows: Sequence[Arrow]) -> dict[str, Box]:
    if not boxes:
        raise InputError("a diagram needs at least one Box.")
    by_key: dict[str, Box] = {}
    for box in boxes:
        if box.key in by_key:
            raise InputError(f"two boxes share the key {box.key!r}; keys must be unique.")
        if box.w <= 0 or box.h <= 0:
            raise InputError(f"box {box.key!r} has size {box.w} × {box.h}; both must be > 0.")
        by_key[box.key] = box
    for arrow in arrows:
        for end in (arrow.start, arrow.end):
            if end not in by_key:
                raise InputError(
                    f"arrow {arrow.start!r} → {arrow.end!r} names the unknown box {end!r}; "
                    f"boxes are {sorted(by_key)}."
                )
        if arrow.start == arrow.end:
            raise InputError(f"arrow {arrow.start!r} → {arrow.end!r} starts and ends on one box.")
    return by_key


def diagram(
    boxes: Sequence[Box],
    arrows: Sequence[Arrow] = (),
    *,
    title: str = "",
    height: int = 360,
    width: int | None = None,
) -> go.Figure:
    """A plotly figure of ``boxes`` joined by ``arrows``, axes hidden, equal units on x and y."""
    by_key = _check(boxes, arrows)
    fig = go.Figure()
    for box in boxes:
        fig.add_shape(
            type="rect", x0=box.x - box.w / 2, x1=box.x + box.w / 2,
            y0=box.y - box.h / 2, y1=box.y + box.h / 2,
            line={"color": "#34495e", "width": 1.2}, fillcolor=box.color, layer="below",
        )  # fmt: skip
        fig.add_annotation(x=box.x, y=box.y, text=box.label, showarrow=False, font={"size": 13})
        if box.note:
            fig.add_annotation(
                x=box.x, y=box.y - box.h / 2, yshift=-10, text=box.note, showarrow=False,
                font={"size": 11, "color": "#777"},
            )  # fmt: skip
    for arrow in arrows:
        a, b = by_key[arrow.start], by_key[arrow.end]
        x0, y0 = edge_point(a, b.x, b.y)
        x1, y1 = edge_point(b, a.x, a.y)
        # annotation arrows cannot dash: a dashed arrow is a dashed line plus a short solid head
        tail = (x0, y0) if not arrow.dashed else (x1 - 0.05 * (x1 - x0), y1 - 0.05 * (y1 - y0))
        fig.add_annotation(
            x=x1, y=y1, ax=tail[0], ay=tail[1], xref="x", yref="y", axref="x", ayref="y", text="",
            showarrow=True, arrowhead=2, arrowsize=1.2, arrowwidth=1.6, arrowcolor=arrow.color,
        )  # fmt: skip
        if arrow.dashed:
            fig.add_shape(
                type="line", x0=x0, y0=y0, x1=x1, y1=y1,
                line={"color": arrow.color, "width": 1.6, "dash": "dash"},
            )  # fmt: skip
        if arrow.label:
            fig.add_annotation(
                x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=arrow.label, showarrow=False,
                yshift=10, font={"size": 11, "color": "#333"}, bgcolor="rgba(255,255,255,0.8)",
            )  # fmt: skip
    left = min(b.x - b.w / 2 for b in boxes) - 0.3
    right = max(b.x + b.w / 2 for b in boxes) + 0.3
    bottom = min(b.y - b.h / 2 for b in boxes) - (0.6 if any(b.note for b in boxes) else 0.3)
    top = max(b.y + b.h / 2 for b in boxes) + 0.3
    fig.update_xaxes(visible=False, range=[left, right])
    fig.update_yaxes(visible=False, range=[bottom, top], scaleanchor="x", scaleratio=1)
    fig.update_layout(
        template=TEMPLATE, title=title or None, height=height, width=width, showlegend=False,
        margin={"l": 10, "r": 10, "t": 50 if title else 10, "b": 10},
    )  # fmt: skip
    return fig


__all__ = ["Arrow", "Box", "diagram", "edge_point"]
