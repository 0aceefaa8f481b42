"""Figures used across the book: training curves and attention maps."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import plotly.io as pio
import torch
from plotly.subplots import make_subplots

from lmkit.errors import InputError

# One template for the whole book so figures look alike in notebooks and the app.
TEMPLATE = "plotly_white"


def book_layout(fig: go.Figure, **layout: object) -> go.Figure:
    """``fig.update_layout(template=TEMPLATE, **layout)``, at a tenth of the cost.

    Named, plotly deep-copies the registered template and validates every entry of it again:
    ~20 ms a figure, most of the app's drawing time (issue 17). The registered template is valid
    already, so its JSON (a fresh copy) is handed over unvalidated, as plotly does for its own
    default template; the figure's JSON is the same. Introduced in chapter 6.
    """
    fig.layout._validate = False  # plotly's _initialize_layout_template does the same
    try:
        fig.layout.template = pio.templates[TEMPLATE].to_plotly_json()
    finally:
        fig.layout._validate = True
    return fig.update_layout(**layout)


def loss_curve(
    history: Sequence[Mapping[str, float]], *, title: str = "Training loss"
) -> go.Figure:
    """Training loss per logged step, validation loss where it was measured, and the learning rate.

    ``history`` is :attr:`lmkit.training.trainer.Trainer.history`: a list of records with ``step`` and
    ``loss`` and, on some records, ``val_loss`` and ``lr``. Introduced in chapter 8.
    """
    if not history:
        raise InputError("history is empty: train for at least one logged step before plotting.")
    for record in history:
        if "step" not in record or "loss" not in record:
            raise InputError(
                f"each history record needs 'step' and 'loss'; got keys {sorted(record)}."
            )
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    steps = [r["step"] for r in history]
    fig.add_trace(
        go.Scatter(x=steps, y=[r["loss"] for r in history], name="train loss", mode="lines"),
        secondary_y=False,
    )
    evaluated = [r for r in history if r.get("val_loss") is not None]
    if evaluated:
        fig.add_trace(
            go.Scatter(
                x=[r["step"] for r in evaluated],
                y=[r["val_loss"] for r in evaluated],
                name="validation loss",
                mode="lines+markers",
            ),
            secondary_y=False,
        )
    with_lr = [r for r in history if r.get("lr") is not None]
    if with_lr:
        fig.add_trace(
            go.Scatter(
                x=[r["step"] for r in with_lr],
                y=[r["lr"] for r in with_lr],
                name="learning rate",
                mode="lines",
                line={"dash": "dot", "width": 1},
            ),
            secondary_y=True,
        )
        fig.update_yaxes(title_text="learning rate", secondary_y=True, showgrid=False)
    fig.update_yaxes(title_text="cross-entropy (nats/token)", secondary_y=False)
    book_layout(fig, title=title, xaxis_title="step", hovermode="x unified")
    return fig


def _as_matrix(weights: torch.Tensor | Sequence[Sequence[float]]) -> torch.Tensor:
    matrix = torch.as_tensor(weights, dtype=torch.float32).detach().cpu()
    if matrix.dim() != 2:
        raise InputError(
            f"attention weights must be a 2-D (queries, keys) matrix, got shape {tuple(matrix.shape)}; "
            "pick one layer and head first, e.g. attentions[layer][0, head]."
        )
    return matrix


def labelled_heatmap(
    matrix: torch.Tensor,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    x_title: str,
    y_title: str,
    hovertemplate: str,
    title: str,
    zmin: float = 0.0,
    zmax: float | None = None,
    colorbar_title: str = "",
) -> go.Figure:
    """A heatmap whose axes are positions labelled with tokens, first row at the top.

    Positions rather than categorical labels keep a repeated token ("the" twice) on its own
    row/column; plotly would merge equal categories. ``customdata[i][j]`` is
    ``[row_label, col_label]`` for the hover text.
    """
    rows, cols = list(row_labels), list(col_labels)
    fig = go.Figure(
        go.Heatmap(
            z=matrix.tolist(),
            x=list(range(len(cols))),
            y=list(range(len(rows))),
            customdata=[[[r, c] for c in cols] for r in rows],
            hovertemplate=hovertemplate,
            colorscale="Blues",
            zmin=zmin,
            zmax=zmax,
            colorbar={"title": colorbar_title},
        )
    )
    # The key axis is on top, so nothing is drawn below the map: plotly's default 80 px bottom
    # margin would only leave a blank band under it (chapter 6's attention explorer).
    book_layout(
        fig,
        title=title,
        margin={"b": 20},
        xaxis={"tickmode": "array", "tickvals": list(range(len(cols))), "ticktext": cols,
               "title": x_title, "side": "top"},
        yaxis={"tickmode": "array", "tickvals": list(range(len(rows))), "ticktext": rows,
               "title": y_title, "autorange": "reversed"},
    )  # fmt: skip
    return fig


def attention_heatmap(
    weights: torch.Tensor | Sequence[Sequence[float]],
    query_tokens: Sequence[str],
    key_tokens: Sequence[str] | None = None,
    *,
    title: str = "Attention weights",
) -> go.Figure:
    """One head's attention map: row i shows how query token i spreads its attention over keys.

    Axes are positions labelled with the tokens, so a repeated token ("the" twice) keeps its own
    row instead of being merged, as plotly would do with categorical labels. Introduced in chapter 6.
    """
    matrix = _as_matrix(weights)
    key_tokens = list(query_tokens if key_tokens is None else key_tokens)
    query_tokens = list(query_tokens)
    if matrix.shape != (len(query_tokens), len(key_tokens)):
        raise InputError(
            f"weights have shape {tuple(matrix.shape)} but there are {len(query_tokens)} query "
            f"and {len(key_tokens)} key tokens; they must match."
        )
    return labelled_heatmap(
        matrix,
        query_tokens,
        key_tokens,
        x_title="key (attended to)",
        y_title="query (attending)",
        hovertemplate="query %{customdata[0]}<br>key %{customdata[1]}<br>weight %{z:.3f}<extra></extra>",
        zmax=1.0,
        colorbar_title="weight",
        title=title,
    )


def attention_grid(
    layer_weights: torch.Tensor, tokens: Sequence[str], *, title: str = "All heads"
) -> go.Figure:
    """Every head of one layer side by side; ``layer_weights`` is (heads, queries, keys).

    Pass ``attentions[layer][0]`` from ``GPT(..., return_attention=True)``. Introduced in chapter 6.
    """
    weights = torch.as_tensor(layer_weights, dtype=torch.float32).detach().cpu()
    if weights.dim() != 3 or weights.shape[1:] != (len(tokens), len(tokens)):
        raise InputError(
            f"expected (heads, {len(tokens)}, {len(tokens)}) weights for {len(tokens)} tokens, "
            f"got shape {tuple(weights.shape)}."
        )
    n_heads = weights.shape[0]
    cols = min(4, n_heads)
    rows = math.ceil(n_heads / cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"head {h}" for h in range(n_heads)],
        horizontal_spacing=0.03,
        vertical_spacing=0.08,
    )
    positions = list(range(len(tokens)))
    for head in range(n_heads):
        fig.add_trace(
            go.Heatmap(
                z=weights[head].tolist(),
                x=positions,
                y=positions,
                coloraxis="coloraxis",
                customdata=[[[q, k] for k in tokens] for q in tokens],
                hovertemplate=(
                    f"head {head}<br>query %{{customdata[0]}}<br>key %{{customdata[1]}}"
                    "<br>weight %{z:.3f}<extra></extra>"
                ),
            ),
            row=head // cols + 1,
            col=head % cols + 1,
        )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    book_layout(
        fig,
        title=title,
        coloraxis={"colorscale": "Blues", "cmin": 0, "cmax": 1},
        height=260 * rows + 80,
    )
    return fig
