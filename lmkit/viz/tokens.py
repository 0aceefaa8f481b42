"""Figures for tokenization: tokens as coloured boxes, compression curves, token counts.

Introduced in chapter 2; the app's Tokenizer page draws the same figures.
"""

from __future__ import annotations

import html
import math
import unicodedata
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch

from lmkit.errors import InputError
from lmkit.validators import check_int, is_int
from lmkit.viz.core import book_layout

# Soft, clearly different colours; neighbours always differ because colour follows position.
PALETTE = (
    "#C6DBEF",
    "#FDD0A2",
    "#C7E9C0",
    "#DADAEB",
    "#FCBBA1",
    "#D9F0A3",
    "#F2D7EE",
    "#FFF2AE",
)
_WHITESPACE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}


def visible(token: object) -> str:
    """A token as a label in which spaces, newlines and tabs can be seen; ``""`` shows as ∅."""
    text = str(token)
    if text == "":
        return "∅"
    return "".join(_WHITESPACE.get(char, char) for char in text)


def plotly_text(token: object) -> str:
    """:func:`visible`, with ``<``, ``>`` and ``&`` escaped: plotly reads labels as HTML, so a
    token such as ``<s>`` would otherwise turn into a strike-through tag and break the figure."""
    return html.escape(visible(token), quote=False)


def display_width(text: str) -> int:
    """Width in terminal cells: wide East Asian characters and emoji count 2, combining marks 0."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or char == "\u200d":
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def wrap_boxes(
    widths: Sequence[float], row_width: float, *, gap: float = 0.4, row_height: float = 1.6
) -> tuple[list[tuple[float, float]], int]:
    """Lay boxes of ``widths`` out left to right, wrapping after ``row_width`` units.

    Returns each box's (left x, top y) (rows go downwards from y = 0) and the number of rows.
    Shared by every figure that draws text as a row of boxes (tokens, saliency).
    """
    places, x, row = [], 0.0, 0
    for width in widths:
        if x > 0 and x + width > row_width:
            x, row = 0.0, row + 1
        places.append((x, -row * row_height))
        x += width + gap
    return places, row + 1


def finish_box_figure(
    fig: go.Figure,
    *,
    title: str,
    shapes: list[dict],
    annotations: list[dict],
    rows: int,
    row_width: float,
    row_height: float,
    base_height: int = 110,
) -> go.Figure:
    """Hide the axes, frame the rows of boxes and size the figure to them."""
    book_layout(
        fig,
        xaxis={"visible": False, "range": [-0.5, row_width + 0.5]},
        yaxis={"visible": False, "range": [-rows * row_height - 0.2, 0.4]},
        title=title,
        shapes=shapes,
        annotations=annotations,
        height=base_height + 55 * rows,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def token_boxes(
    pieces: Sequence[str],
    ids: Sequence[int],
    *,
    title: str = "Tokens",
    row_width: int = 48,
) -> go.Figure:
    """Each token as a coloured box with its text on top and its id underneath.

    ``pieces[i]`` is what token ``i`` shows (e.g. ``tokenizer.tokenize(text)``) and ``ids[i]``
    its id (``tokenizer.encode(text)``). Boxes wrap onto a new row after about ``row_width``
    character cells. Whitespace is drawn as ␣ ↵ ⇥. Hovering a box shows its position, id and text.
    Introduced in chapter 2.
    """
    pieces, ids = list(pieces), list(ids)
    if len(pieces) != len(ids):
        raise InputError(
            f"pieces and ids must have the same length, got {len(pieces)} and {len(ids)}. "
            "Use tokenizer.tokenize(text) and tokenizer.encode(text) on the same text."
        )
    row_width = check_int("row_width", row_width, minimum=4, error=InputError)
    for token_id in ids:
        if not is_int(token_id):
            raise InputError(f"ids must be integers, got {token_id!r}.")
    labels = [visible(piece) for piece in pieces]
    shapes, annotations = [], []
    centers_x, centers_y = [], []
    row_height = 1.6
    widths = [
        max(display_width(label), len(str(token_id)), 1) + 1.0
        for label, token_id in zip(labels, ids, strict=True)
    ]
    places, rows = wrap_boxes(widths, row_width, row_height=row_height)
    for position, (width, (x, y_top)) in enumerate(zip(widths, places, strict=True)):
        label, token_id = labels[position], ids[position]
        shapes.append(
            {
                "type": "rect",
                "x0": x,
                "x1": x + width,
                "y0": y_top - 1.2,
                "y1": y_top,
                "fillcolor": PALETTE[position % len(PALETTE)],
                "line": {"color": "#555555", "width": 1},
                "layer": "below",
            }
        )
        annotations.append(
            {
                "x": x + width / 2,
                "y": y_top - 0.4,
                "text": plotly_text(label),
                "showarrow": False,
                "font": {"size": 15},
            }
        )
        annotations.append(
            {
                "x": x + width / 2,
                "y": y_top - 0.95,
                "text": str(token_id),
                "showarrow": False,
                "font": {"size": 10, "color": "#444444"},
            }
        )
        centers_x.append(x + width / 2)
        centers_y.append(y_top - 0.6)
    fig = go.Figure(
        go.Scatter(
            x=centers_x,
            y=centers_y,
            mode="markers",
            marker={"opacity": 0, "size": 18},
            customdata=[
                [i, token_id, plotly_text(piece)]
                for i, (token_id, piece) in enumerate(zip(ids, pieces, strict=False))
            ],
            hovertemplate="position %{customdata[0]}<br>id %{customdata[1]}<br>%{customdata[2]}<extra></extra>",
            showlegend=False,
        )
    )
    return finish_box_figure(
        fig,
        title=f"{title} ({len(pieces)} tokens)",
        shapes=shapes,
        annotations=annotations,
        rows=rows,
        row_width=row_width,
        row_height=row_height,
    )


def compression_curve(
    num_merges: Sequence[int],
    series: Mapping[str, Sequence[float]],
    *,
    base_vocab: int = 256,
    title: str = "BPE: bytes per token as merges are learned",
) -> go.Figure:
    """Bytes per token (the compression ratio) against the number of merges, one line per text.

    ``series["English"][i]`` is the ratio after ``num_merges[i]`` merges. The hover text also
    gives the vocabulary size, ``base_vocab + merges``. Introduced in chapter 2.
    """
    xs = list(num_merges)
    if not xs:
        raise InputError("num_merges is empty: give at least one merge count.")
    if any(not is_int(m) or m < 0 for m in xs):
        raise InputError(f"num_merges must be non-negative integers, got {xs!r}.")
    if not series:
        raise InputError("series is empty: give at least one named list of ratios.")
    fig = go.Figure()
    for name, values in series.items():
        ys = torch.as_tensor(values, dtype=torch.float64).tolist()
        if not isinstance(ys, list) or len(ys) != len(xs):
            raise InputError(
                f"series[{name!r}] must have one value per entry of num_merges ({len(xs)})."
            )
        if any(not math.isfinite(y) or y <= 0 for y in ys):
            raise InputError(f"series[{name!r}] must hold positive, finite ratios.")
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=name,
                mode="lines+markers",
                customdata=[base_vocab + m for m in xs],
                hovertemplate=f"{name}<br>%{{x}} merges (vocab %{{customdata}})"
                "<br>%{y:.3f} bytes/token<extra></extra>",
            )
        )
    fig.update_xaxes(title=f"number of merges (vocabulary size = {base_vocab} + merges)")
    fig.update_yaxes(title="bytes per token", rangemode="tozero")
    book_layout(fig, title=title)
    return fig


def token_count_bar(
    counts: Mapping[str, Mapping[str, int]],
    *,
    title: str = "How many tokens each tokenizer needs",
) -> go.Figure:
    """Grouped bars: ``counts[text_label][tokenizer_name]`` tokens for each text and tokenizer.

    Every text must be measured by the same tokenizers. Introduced in chapter 2.
    """
    if not counts:
        raise InputError("counts is empty: give {text label: {tokenizer name: count}}.")
    names: list[str] | None = None
    fig = go.Figure()
    for label, per_tokenizer in counts.items():
        if not isinstance(per_tokenizer, Mapping) or not per_tokenizer:
            raise InputError(f"counts[{label!r}] must be a non-empty {{tokenizer: count}} dict.")
        if names is None:
            names = list(per_tokenizer)
        elif set(per_tokenizer) != set(names):
            raise InputError(
                f"counts[{label!r}] measures {sorted(per_tokenizer)} but the first text measures "
                f"{sorted(names)}; use the same tokenizers for every text."
            )
        values = [per_tokenizer[name] for name in names]
        if any(not is_int(v) or v < 0 for v in values):
            raise InputError(f"counts[{label!r}] must hold non-negative integer token counts.")
        fig.add_trace(go.Bar(x=names, y=values, name=label, text=values, textposition="outside"))
    fig.update_xaxes(title="tokenizer")
    fig.update_yaxes(title="tokens", rangemode="tozero")
    book_layout(fig, title=title, barmode="group")
    return fig
