"""Figures for count-based language models: next-token bars, bigram tables, smoothing curves.

Introduced in chapter 1. The functions take plain data (labels, probabilities, matrices) rather
than a model, so the app can draw the same figures from any source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch

from lmkit.errors import InputError
from lmkit.validators import check_int
from lmkit.viz.core import TEMPLATE, labelled_heatmap
from lmkit.viz.tokens import plotly_text as _show


def _as_vector(values: torch.Tensor | Sequence[float], name: str) -> list[float]:
    vector = torch.as_tensor(values, dtype=torch.float64).detach().cpu()
    if vector.dim() != 1:
        raise InputError(f"{name} must be 1-D, got shape {tuple(vector.shape)}.")
    return vector.tolist()


def next_token_bar(
    labels: Sequence[object],
    probs: torch.Tensor | Sequence[float],
    *,
    top: int | None = 15,
    title: str = "Next-token distribution",
) -> go.Figure:
    """A bar per candidate token, most likely first; ``top`` keeps only the most likely ones.

    ``labels[i]`` is the token whose probability is ``probs[i]``. The bars' hover text shows
    the exact probability. Introduced in chapter 1.
    """
    values = _as_vector(probs, "probs")
    labels = list(labels)
    if len(labels) != len(values):
        raise InputError(
            f"labels and probs must have the same length, got {len(labels)} and {len(values)}."
        )
    if not values:
        raise InputError("probs is empty: there is nothing to plot.")
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise InputError("probs must be finite and non-negative (they are probabilities).")
    if top is not None:
        top = check_int("top", top, minimum=1, hint=" Use None for every token.", error=InputError)
    # Stable sort: equal probabilities keep the vocabulary order, so the figure is repeatable.
    order = sorted(range(len(values)), key=lambda i: -values[i])
    if top is not None:
        order = order[:top]
    shown = [_show(labels[i]) for i in order]
    fig = go.Figure(
        go.Bar(
            x=list(range(len(order))),
            y=[values[i] for i in order],
            customdata=shown,
            hovertemplate="%{customdata}: %{y:.4f}<extra></extra>",
            marker_color="#4C78A8",
        )
    )
    fig.update_xaxes(
        tickmode="array", tickvals=list(range(len(order))), ticktext=shown, title="next token"
    )
    fig.update_yaxes(title="probability", rangemode="tozero")
    fig.update_layout(title=title, template=TEMPLATE, bargap=0.15)
    return fig


def transition_heatmap(
    matrix: torch.Tensor | Sequence[Sequence[float]],
    row_labels: Sequence[object],
    col_labels: Sequence[object],
    *,
    title: str = "Bigram probabilities P(next | previous)",
) -> go.Figure:
    """A table of conditional probabilities: row = previous token, column = next token.

    Pass :meth:`lmkit.basics.ngram.BigramModel.transition_matrix` and its row/column tokens.
    Introduced in chapter 1.
    """
    values = torch.as_tensor(matrix, dtype=torch.float64).detach().cpu()
    if values.dim() != 2:
        raise InputError(f"matrix must be 2-D (previous, next), got shape {tuple(values.shape)}.")
    rows, cols = [_show(t) for t in row_labels], [_show(t) for t in col_labels]
    if tuple(values.shape) != (len(rows), len(cols)):
        raise InputError(
            f"matrix has shape {tuple(values.shape)} but there are {len(rows)} row labels and "
            f"{len(cols)} column labels; they must match."
        )
    return labelled_heatmap(
        values,
        rows,
        cols,
        x_title="next token",
        y_title="previous token",
        hovertemplate="P(%{customdata[1]} | %{customdata[0]}) = %{z:.4f}<extra></extra>",
        colorbar_title="P",
        title=title,
    )


def perplexity_curve(
    ks: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "Perplexity vs add-k smoothing",
) -> go.Figure:
    """One line per named series (e.g. "train", "validation") of perplexity against ``k``.

    Infinite perplexities (an unsmoothed model meeting an unseen n-gram) are left as gaps,
    since a plot cannot show infinity; the x axis is logarithmic when every ``k`` is positive.
    Introduced in chapter 1.
    """
    xs = _as_vector(ks, "ks")
    if not xs:
        raise InputError("ks is empty: give at least one smoothing value.")
    if not series:
        raise InputError("series is empty: give at least one named list of perplexities.")
    fig = go.Figure()
    for name, values in series.items():
        ys = _as_vector(values, f"series[{name!r}]")
        if len(ys) != len(xs):
            raise InputError(
                f"series[{name!r}] has {len(ys)} values but there are {len(xs)} values of k."
            )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[y if math.isfinite(y) else None for y in ys],
                name=name,
                mode="lines+markers",
            )
        )
    log_x = all(x > 0 for x in xs)
    fig.update_xaxes(title="k (added to every count)", type="log" if log_x else "linear")
    fig.update_yaxes(title="perplexity")
    fig.update_layout(title=title, template=TEMPLATE, hovermode="x unified")
    return fig
