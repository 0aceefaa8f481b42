"""Figures for chapter 3: word vectors in 2-D and similarity matrices.

Introduced in chapter 3 (also used by the app's embedding demo).
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch

from lmkit.errors import InputError
from lmkit.viz.core import TEMPLATE

__all__ = ["embedding_scatter", "label_positions", "similarity_heatmap"]

# Where a point's label may go, best first; plotly's names for the places around a marker.
LABEL_PLACES = (
    "top center", "bottom center", "middle right", "middle left",
    "top right", "top left", "bottom right", "bottom left",
)  # fmt: skip
# A typical notebook/app plot area and plotly's default 12 px label font, in pixels: enough to
# tell which labels would collide. The figure itself keeps plotly's automatic size.
_PLOT_W, _PLOT_H, _CHAR_W, _TEXT_H, _MARKER_R = 640.0, 340.0, 7.0, 14.0, 5.0
# How far past the outermost points a label may reach before the plot's edge cuts it off
# (plotly's autorange leaves room above and below the points, less to the sides).
_EDGE_PAD_X, _EDGE_PAD_Y = 12.0, 22.0


def _label_box(x: float, y: float, place: str, width: float) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) of a label of ``width`` px at ``place`` around pixel (x, y)."""
    vertical, horizontal = place.split()
    gap = _MARKER_R + 1.0
    if horizontal == "center":
        left = x - width / 2
    elif horizontal == "right":
        left = x + (gap if vertical == "middle" else 1.0)
    else:
        left = x - width - (gap if vertical == "middle" else 1.0)
    if vertical == "top":
        bottom = y + gap
    elif vertical == "bottom":
        bottom = y - gap - _TEXT_H
    else:
        bottom = y - _TEXT_H / 2
    return left, bottom, left + width, bottom + _TEXT_H


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def label_positions(points: torch.Tensor, labels: Sequence[str]) -> list[str]:
    """A plotly ``textposition`` for each point, chosen so that labels overlap as little as possible.

    Points with the most close neighbours choose first; each takes the place (above, below,
    right, left, then the diagonals) whose label covers the least of the other labels and
    markers and stays inside the plot, preferring "top center" when nothing collides; then every
    label reconsiders its place against all the others, a few rounds. Only where the labels are
    drawn changes, never the points. Deterministic.
    """
    xy = torch.as_tensor(points, dtype=torch.float64).detach().cpu()
    n = xy.shape[0]
    if n == 0:
        return []
    low, high = xy.min(dim=0).values, xy.max(dim=0).values
    span = torch.where(high > low, high - low, torch.ones_like(high))
    pixels = (xy - low) / span * torch.tensor([_PLOT_W, _PLOT_H], dtype=torch.float64)
    px = pixels.tolist()
    widths = [max(1, len(label)) * _CHAR_W for label in labels]
    markers = [(x - _MARKER_R, y - _MARKER_R, x + _MARKER_R, y + _MARKER_R) for x, y in px]
    crowd = (torch.cdist(pixels, pixels) < 3 * _TEXT_H).sum(dim=1).tolist()
    order = sorted(range(n), key=lambda i: (-crowd[i], i))
    # Labels beyond the points' extent by more than plotly's autorange padding get cut off.
    inside = (-_EDGE_PAD_X, -_EDGE_PAD_Y, _PLOT_W + _EDGE_PAD_X, _PLOT_H + _EDGE_PAD_Y)
    boxes: dict[int, tuple[float, float, float, float]] = {}

    def cost(i: int, rank: int, box: tuple[float, float, float, float]) -> float:
        total = sum(_overlap(box, other) for j, other in boxes.items() if j != i)
        total += 2 * sum(_overlap(box, m) for j, m in enumerate(markers) if j != i)
        total += 1 * ((box[2] - box[0]) * (box[3] - box[1]) - _overlap(box, inside))
        return total + 0.5 * rank  # a tie-breaker: the usual places first

    chosen = ["top center"] * n
    for _round in range(4):  # the first round places the labels, the others improve them
        moved = False
        for i in order:
            options = [
                (cost(i, rank, _label_box(*px[i], place, widths[i])), rank, place)
                for rank, place in enumerate(LABEL_PLACES)
            ]
            best = min(options)[2]
            moved |= i in boxes and best != chosen[i]
            chosen[i] = best
            boxes[i] = _label_box(*px[i], best, widths[i])
        if _round and not moved:
            break
    return chosen


def embedding_scatter(
    points: torch.Tensor | Sequence[Sequence[float]],
    labels: Sequence[str],
    groups: Sequence[str] | None = None,
    *,
    title: str = "Word vectors in 2-D",
    axis_titles: tuple[str, str] = ("component 1", "component 2"),
) -> go.Figure:
    """A labelled scatter of 2-D points (e.g. a PCA projection), one coloured trace per group.

    ``points`` is (N, 2), ``labels`` names each point, ``groups`` (optional) gives each point's
    category; the legend lists the groups in order of first appearance.
    """
    xy = torch.as_tensor(points, dtype=torch.float64).detach().cpu()
    if xy.dim() != 2 or xy.shape[1] != 2:
        raise InputError(
            f"points must be (N, 2), got shape {tuple(xy.shape)}; project to 2-D first "
            "(lmkit.basics.word_vectors.pca(vectors, k=2))."
        )
    labels = [str(label) for label in labels]
    groups = ["words"] * len(labels) if groups is None else [str(g) for g in groups]
    if not len(labels) == len(groups) == xy.shape[0]:
        raise InputError(
            f"{xy.shape[0]} points need as many labels and groups; got {len(labels)} labels "
            f"and {len(groups)} groups."
        )
    positions = label_positions(xy, labels)
    fig = go.Figure()
    for group in dict.fromkeys(groups):  # first-appearance order, no duplicates
        rows = [i for i, g in enumerate(groups) if g == group]
        fig.add_trace(
            go.Scatter(
                x=xy[rows, 0].tolist(),
                y=xy[rows, 1].tolist(),
                mode="markers+text",
                text=[labels[i] for i in rows],
                textposition=[positions[i] for i in rows],
                name=group,
                hovertemplate="%{text}<br>(%{x:.2f}, %{y:.2f})<extra>" + group + "</extra>",
            )
        )
    fig.update_layout(
        title=title, template=TEMPLATE, xaxis_title=axis_titles[0], yaxis_title=axis_titles[1]
    )
    return fig


def similarity_heatmap(
    matrix: torch.Tensor | Sequence[Sequence[float]],
    row_labels: Sequence[str],
    col_labels: Sequence[str] | None = None,
    *,
    title: str = "Cosine similarity",
    zmin: float = -1.0,
    zmax: float = 1.0,
) -> go.Figure:
    """A similarity matrix with every cell's value written in it.

    Rows and columns are positions labelled with the texts, so two identical labels keep their
    own rows. Long labels are shortened on the axes; hovering shows them in full.
    """
    values = torch.as_tensor(matrix, dtype=torch.float64).detach().cpu()
    row_labels = [str(label) for label in row_labels]
    col_labels = row_labels if col_labels is None else [str(label) for label in col_labels]
    if values.dim() != 2 or values.shape != (len(row_labels), len(col_labels)):
        raise InputError(
            f"matrix has shape {tuple(values.shape)} but there are {len(row_labels)} row and "
            f"{len(col_labels)} column labels; they must match."
        )

    def short(text: str) -> str:
        return text if len(text) <= 28 else text[:27] + "…"

    fig = go.Figure(
        go.Heatmap(
            z=values.tolist(),
            x=list(range(len(col_labels))),
            y=list(range(len(row_labels))),
            zmin=zmin,
            zmax=zmax,
            colorscale="RdBu",
            reversescale=True,
            texttemplate="%{z:.2f}",
            customdata=[[[r, c] for c in col_labels] for r in row_labels],
            hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>%{z:.3f}<extra></extra>",
            colorbar={"title": "cosine"},
        )
    )
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(len(col_labels))),
        ticktext=[short(c) for c in col_labels],
        tickangle=-35,
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=list(range(len(row_labels))),
        ticktext=[short(r) for r in row_labels],
        autorange="reversed",
    )
    fig.update_layout(title=title, template=TEMPLATE)
    return fig
