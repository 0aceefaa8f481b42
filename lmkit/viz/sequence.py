"""Figures for sequence models: gradient decay over time, hidden-state heatmaps, confusion matrices.

Introduced in chapter 5. Pure functions returning ``plotly.graph_objects.Figure``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch

from lmkit.errors import InputError
from lmkit.viz.core import TEMPLATE

__all__ = ["confusion_matrix_figure", "gradient_decay", "state_heatmap"]


def _vector(name: str, values: object) -> list[float]:
    tensor = torch.as_tensor(values, dtype=torch.float64).detach().cpu()
    if tensor.dim() != 1 or tensor.numel() == 0:
        raise InputError(
            f"{name} must be a non-empty 1-D sequence of numbers, got shape {tuple(tensor.shape)}."
        )
    if not torch.isfinite(tensor).all():
        raise InputError(
            f"{name} contains NaN or infinity; the gradient overflowed. Use a shorter sequence."
        )
    return tensor.tolist()


def gradient_decay(
    series: Mapping[str, Sequence[float] | torch.Tensor],
    *,
    title: str = "How far back does the gradient reach?",
    log_y: bool = True,
) -> go.Figure:
    """One line per named series of ``‖∂h_T/∂h_{T-k}‖`` against the distance k = 0, 1, 2, …

    ``series`` maps a legend name to the norms, e.g. the output of
    :func:`lmkit.basics.rnn_gradients.gradient_vs_distance`. A log y-axis turns exponential
    decay or growth into a straight line. Values of 0 (an underflow to exactly zero) are not
    drawn on a log axis. Introduced in chapter 5.
    """
    if not isinstance(series, Mapping) or not series:
        raise InputError("series must be a non-empty mapping {name: norms}.")
    fig = go.Figure()
    for name, values in series.items():
        norms = _vector(f"series {name!r}", values)
        if any(v < 0 for v in norms):
            raise InputError(f"series {name!r} has negative values; norms are never negative.")
        y = [v if (v > 0 or not log_y) else None for v in norms]
        fig.add_trace(go.Scatter(x=list(range(len(norms))), y=y, mode="lines", name=str(name)))
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis_title="distance k = T − t (steps back in time)",
        yaxis_title="‖∂h_T / ∂h_t‖ (Frobenius)",
        hovermode="x unified",
    )
    if log_y:
        fig.update_yaxes(type="log", exponentformat="power")
    return fig


def state_heatmap(
    values: torch.Tensor | Sequence[Sequence[float]],
    tokens: Sequence[str],
    *,
    title: str = "Hidden state over time",
    zmin: float | None = -1.0,
    zmax: float | None = 1.0,
    unit_label: str = "unit",
) -> go.Figure:
    """A (time × unit) matrix as a heatmap: one column per token, one row per hidden unit.

    ``values`` has shape (T, H), one row per token, e.g. the h, c or gate values a recurrent
    layer produced while reading ``tokens``. Columns are positions labelled with the tokens, so
    repeated characters keep their own column. Introduced in chapter 5.
    """
    matrix = torch.as_tensor(values, dtype=torch.float32).detach().cpu()
    tokens = list(tokens)
    if matrix.dim() != 2 or matrix.shape[0] != len(tokens) or not tokens:
        raise InputError(
            f"values must have shape (len(tokens), units) = ({len(tokens)}, H), got {tuple(matrix.shape)}."
        )
    shown = [t.replace("\n", "⏎").replace(" ", "␣") for t in tokens]
    columns = list(range(len(tokens)))
    fig = go.Figure(
        go.Heatmap(
            z=matrix.T.tolist(),  # (H, T): units down, time across
            x=columns,
            y=list(range(matrix.shape[1])),
            zmin=zmin,
            zmax=zmax,
            colorscale="RdBu",
            reversescale=True,
            customdata=[shown] * matrix.shape[1],
            hovertemplate=f"token %{{customdata}}<br>{unit_label} %{{y}}<br>value %{{z:.3f}}<extra></extra>",
        )
    )
    fig.update_xaxes(tickmode="array", tickvals=columns, ticktext=shown, title="input (time →)")
    fig.update_yaxes(title=unit_label, autorange="reversed")
    fig.update_layout(title=title, template=TEMPLATE, height=max(300, 14 * matrix.shape[1] + 120))
    return fig


def confusion_matrix_figure(
    matrix: torch.Tensor | Sequence[Sequence[int]],
    label_names: Sequence[str],
    *,
    title: str = "Confusion matrix",
) -> go.Figure:
    """Counts with true classes as rows and predicted classes as columns.

    Each cell shows the count and its share of the row (the recall of that class on the
    diagonal); the colour is the row share, so a small class is as readable as a large one.
    Introduced in chapter 5.
    """
    counts = torch.as_tensor(matrix).detach().cpu()
    names = list(label_names)
    if counts.dim() != 2 or counts.shape != (len(names), len(names)):
        raise InputError(
            f"matrix must be square with one row per label ({len(names)}), got shape {tuple(counts.shape)}."
        )
    if counts.is_floating_point() or (counts < 0).any():
        raise InputError(
            "matrix must hold non-negative integer counts (from lmkit.basics.classify.confusion_matrix)."
        )
    rows = counts.sum(dim=1, keepdim=True).double()
    share = torch.where(rows > 0, counts / rows.clamp(min=1), torch.zeros_like(rows))
    text = [
        [f"{int(counts[i, j])}<br>({100 * float(share[i, j]):.0f}%)" for j in range(len(names))]
        for i in range(len(names))
    ]
    fig = go.Figure(
        go.Heatmap(
            z=share.tolist(),
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            customdata=counts.tolist(),
            zmin=0.0,
            zmax=1.0,
            colorscale="Blues",
            colorbar={"title": "share of row"},
            hovertemplate="true %{y}<br>predicted %{x}<br>count %{customdata}<extra></extra>",
        )
    )
    total = int(counts.sum())
    correct = int(counts.diagonal().sum())
    accuracy = correct / total if total else math.nan
    fig.update_xaxes(title="predicted class", side="top")
    fig.update_yaxes(title="true class", autorange="reversed")
    fig.update_layout(title=f"{title} (accuracy {accuracy:.1%} on {total})", template=TEMPLATE)
    return fig
