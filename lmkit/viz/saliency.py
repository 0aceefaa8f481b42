"""Figures for classifiers: token saliency as coloured boxes, and the class probabilities.

Introduced in chapter 11; the app's Classify page draws the same figures. Colours follow one
diverging scale: blue = the token pushed towards the target label, red = away from it, white =
no effect. The scale is symmetric around 0 and set by the largest absolute score, so the
strongest token is always fully coloured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
import torch

from lmkit.errors import InputError
from lmkit.tasks.saliency import Saliency
from lmkit.validators import check_int
from lmkit.viz.core import book_layout
from lmkit.viz.tokens import display_width, finish_box_figure, plotly_text, visible, wrap_boxes

__all__ = ["DIVERGING_SCALE", "class_probabilities", "saliency_color", "token_saliency"]

NEGATIVE_RGB = (202, 0, 32)  # red: against the target label
POSITIVE_RGB = (5, 113, 176)  # blue: for the target label
DIVERGING_SCALE = [[0.0, "rgb(202,0,32)"], [0.5, "rgb(255,255,255)"], [1.0, "rgb(5,113,176)"]]


def saliency_color(score: float, scale: float) -> str:
    """The colour of ``score`` on the diverging scale ``[-scale, scale]`` (white at 0)."""
    if not math.isfinite(score) or not math.isfinite(scale) or scale < 0:
        raise InputError(f"score and scale must be finite (scale >= 0), got {score}, {scale}.")
    strength = 0.0 if scale == 0 else min(abs(score) / scale, 1.0)
    end = POSITIVE_RGB if score > 0 else NEGATIVE_RGB
    r, g, b = (round(255 + (c - 255) * strength) for c in end)
    return f"rgb({r},{g},{b})"


def token_saliency(
    saliency: Saliency, *, title: str | None = None, row_width: int = 60
) -> go.Figure:
    """The text's tokens as boxes coloured by their saliency score; hover shows the score.

    Special tokens (``[CLS]``, ``[SEP]``) get a dashed grey border. A colour bar gives the
    scale. Introduced in chapter 11.
    """
    if not isinstance(saliency, Saliency):
        raise InputError(f"token_saliency needs a Saliency, got {type(saliency).__name__}.")
    scores, tokens = list(saliency.scores), list(saliency.tokens)
    if len(scores) != len(tokens) or not tokens:
        raise InputError("The saliency must have one score per token, and at least one token.")
    if not all(math.isfinite(s) for s in scores):
        raise InputError("Saliency scores must be finite numbers.")
    row_width = check_int("row_width", row_width, minimum=8, error=InputError)
    scale = max(abs(s) for s in scores)
    shapes, annotations, xs, ys = [], [], [], []
    row_height = 1.5
    labels = [visible(token) for token in tokens]
    widths = [max(display_width(label), 1) + 1.0 for label in labels]
    places, rows = wrap_boxes(widths, row_width, row_height=row_height)
    for label, width, (x, top), score, special in zip(
        labels, widths, places, scores, saliency.special, strict=True
    ):
        shapes.append(
            {
                "type": "rect",
                "x0": x,
                "x1": x + width,
                "y0": top - 1.1,
                "y1": top,
                "fillcolor": saliency_color(score, scale),
                "line": {
                    "color": "#999999" if special else "#555555",
                    "width": 1,
                    "dash": "dot" if special else "solid",
                },
                "layer": "below",
            }
        )
        annotations.append(
            {"x": x + width / 2, "y": top - 0.55, "text": plotly_text(label),
             "showarrow": False, "font": {"size": 15}}
        )  # fmt: skip
        xs.append(x + width / 2)
        ys.append(top - 0.55)
    method = saliency.method.replace("_", " ")
    fig = go.Figure(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            marker={
                "size": 18,
                "opacity": 0,
                "color": scores,
                "colorscale": DIVERGING_SCALE,
                "cmin": -scale if scale else -1,
                "cmax": scale if scale else 1,
                "showscale": True,
                "colorbar": {"title": {"text": "score"}},
            },
            customdata=[
                [i, plotly_text(t), "special token" if sp else "token", s]
                for i, (t, sp, s) in enumerate(zip(tokens, saliency.special, scores, strict=True))
            ],
            hovertemplate=(
                "%{customdata[1]} (%{customdata[2]} %{customdata[0]})"
                "<br>score %{customdata[3]:.4f}<extra></extra>"
            ),
            showlegend=False,
        )
    )
    p = saliency.probabilities.get(saliency.target_label, float("nan"))
    return finish_box_figure(
        fig,
        title=title or f"Why '{saliency.target_label}' (p = {p:.3f}): {method}",
        shapes=shapes,
        annotations=annotations,
        rows=rows,
        row_width=row_width,
        row_height=row_height,
        base_height=120,
    )


def class_probabilities(
    labels: Sequence[str],
    probs: Sequence[float] | torch.Tensor,
    *,
    title: str = "Class probabilities",
) -> go.Figure:
    """Horizontal bars, one per label, on a 0..1 axis; the most probable label is highlighted.

    Introduced in chapter 11.
    """
    names = [str(label) for label in labels]
    values = torch.as_tensor(probs, dtype=torch.float64).detach().cpu().reshape(-1).tolist()
    if not names or len(names) != len(values):
        raise InputError(
            f"Need one probability per label, got {len(names)} labels and {len(values)} values."
        )
    if any(not math.isfinite(v) or not 0 <= v <= 1 for v in values):
        raise InputError(f"Probabilities must be numbers in [0, 1], got {values}.")
    best = max(range(len(values)), key=values.__getitem__)
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            marker={"color": ["#0571B0" if i == best else "#BBBBBB" for i in range(len(values))]},
            text=[f"{v:.3f}" for v in values],
            textposition="auto",
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    book_layout(
        fig,
        title=title,
        height=120 + 40 * len(names),
        xaxis={"title": "probability", "range": [0, 1]},
        yaxis={"title": "label", "autorange": "reversed"},
    )
    return fig
