"""Figures for chapter 3: word vectors in 2-D and similarity matrices.

Introduced in chapter 3 (also used by the app's embedding demo).
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch

from lmkit.errors import InputError
from lmkit.viz.core import TEMPLATE

__all__ = ["embedding_scatter", "similarity_heatmap"]


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
    fig = go.Figure()
    for group in dict.fromkeys(groups):  # first-appearance order, no duplicates
        rows = [i for i, g in enumerate(groups) if g == group]
        fig.add_trace(
            go.Scatter(
                x=xy[rows, 0].tolist(),
                y=xy[rows, 1].tolist(),
                mode="markers+text",
                text=[labels[i] for i in rows],
                textposition="top center",
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
