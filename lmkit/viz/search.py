"""Figures for semantic search: result scores, and a query placed on a 2-D map of documents.

Introduced in chapter 3 (sentence embeddings); the app's Embeddings page draws both from
:class:`lmkit.tasks.semantic_search.SemanticIndex`.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch

from lmkit.errors import InputError
from lmkit.viz.core import TEMPLATE

__all__ = ["search_map", "search_scores_bar"]


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def search_scores_bar(
    texts: Sequence[str], scores: Sequence[float], *, title: str = "Cosine similarity to the query"
) -> go.Figure:
    """Horizontal bars, best result on top: ``scores[i]`` is the cosine score of ``texts[i]``."""
    texts, values = [str(t) for t in texts], [float(s) for s in scores]
    if len(texts) != len(values) or not texts:
        raise InputError(
            f"Give one score per text (at least one); got {len(texts)} texts and {len(values)} scores."
        )
    fig = go.Figure(
        go.Bar(
            x=values,
            y=list(range(len(texts))),
            orientation="h",
            text=[f"{v:.3f}" for v in values],
            textposition="auto",
            customdata=texts,
            hovertemplate="%{customdata}<br>cosine %{x:.3f}<extra></extra>",
            marker={"color": "#4C78A8"},
        )
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=list(range(len(texts))),
        ticktext=[_short(t) for t in texts],
        autorange="reversed",
    )
    fig.update_xaxes(title="cosine similarity", range=[min(0.0, *values), 1.0])
    fig.update_layout(
        title=title, template=TEMPLATE, height=120 + 36 * len(texts), margin={"l": 10}
    )
    return fig


def search_map(
    points: torch.Tensor | Sequence[Sequence[float]],
    labels: Sequence[str],
    groups: Sequence[str],
    query_point: torch.Tensor | Sequence[float],
    query_label: str,
    *,
    highlight: Sequence[int] = (),
    title: str = "The FAQ in 2-D (PCA) with your query",
    axis_titles: tuple[str, str] = ("component 1", "component 2"),
) -> go.Figure:
    """Documents as dots coloured by group, the query as a star, dotted lines to ``highlight``.

    ``points`` is ``(N, 2)`` (e.g. :attr:`SemanticIndex.points`); ``query_point`` ``(2,)``
    from :meth:`SemanticIndex.project`; ``highlight`` the indices of the top results. The
    query trace is the last one and is named ``"your query"``.
    """
    xy = torch.as_tensor(points, dtype=torch.float64).detach().cpu()
    q = torch.as_tensor(query_point, dtype=torch.float64).detach().cpu().flatten()
    labels, groups = [str(x) for x in labels], [str(g) for g in groups]
    if xy.dim() != 2 or xy.shape[1] != 2 or q.shape != (2,):
        raise InputError(
            f"points must be (N, 2) and query_point (2,), got {tuple(xy.shape)} and {tuple(q.shape)}."
        )
    if not len(labels) == len(groups) == xy.shape[0]:
        raise InputError(f"{xy.shape[0]} points need as many labels and groups.")
    if any(not 0 <= i < xy.shape[0] for i in highlight):
        raise InputError(f"highlight indices must be in 0..{xy.shape[0] - 1}.")
    fig = go.Figure()
    for i in highlight:  # drawn first so the dots sit on top of the lines
        fig.add_trace(
            go.Scatter(
                x=[float(q[0]), float(xy[i, 0])],
                y=[float(q[1]), float(xy[i, 1])],
                mode="lines",
                line={"dash": "dot", "color": "#999999", "width": 1},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    for group in dict.fromkeys(groups):
        rows = [i for i, g in enumerate(groups) if g == group]
        fig.add_trace(
            go.Scatter(
                x=xy[rows, 0].tolist(),
                y=xy[rows, 1].tolist(),
                mode="markers",
                name=group,
                customdata=[labels[i] for i in rows],
                hovertemplate="%{customdata}<extra>" + group + "</extra>",
                marker={"size": [14 if i in highlight else 9 for i in rows], "opacity": 0.85},
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[float(q[0])],
            y=[float(q[1])],
            mode="markers+text",
            name="your query",
            text=[_short(query_label, 40)],
            textposition="top center",
            customdata=[query_label],
            hovertemplate="your query: %{customdata}<extra></extra>",
            marker={"symbol": "star", "size": 20, "color": "#d62728"},
        )
    )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis_title=axis_titles[0],
        yaxis_title=axis_titles[1],
        height=520,
    )
    return fig
