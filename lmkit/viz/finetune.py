"""Figures for chapter 12: full fine-tuning against LoRA, and what a LoRA rank costs.

Introduced in chapter 12. :func:`finetune_comparison` takes measured runs (each a mapping with
``name``, ``trainable``, ``optimizer_bytes``, ``seconds`` and ``val_loss``) and draws, side by
side, the trainable parameters (log scale) and the validation loss of each run.
:func:`lora_rank_cost` draws how the adapter parameter count grows with the rank ``r`` against
the flat line of full fine-tuning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lmkit.errors import InputError
from lmkit.viz.core import TEMPLATE

__all__ = ["finetune_comparison", "lora_rank_cost"]

_NEEDED = ("name", "trainable", "optimizer_bytes", "seconds", "val_loss")


def finetune_comparison(
    runs: Sequence[Mapping[str, object]],
    *,
    title: str = "Full fine-tuning vs LoRA: cost and quality",
) -> go.Figure:
    """Two bar panels, trainable parameters (log y) and validation loss, one bar per run.

    The hover of each bar adds the optimizer-state bytes and the training seconds.
    Introduced in chapter 12.
    """
    if not runs:
        raise InputError("runs is empty: pass at least one measured run.")
    for run in runs:
        missing = [k for k in _NEEDED if k not in run]
        if missing:
            raise InputError(f"each run needs {list(_NEEDED)}; one run lacks {missing}.")
    names = [str(r["name"]) for r in runs]
    hover = [
        f"{r['name']}<br>trainable {int(r['trainable']):,}<br>optimizer state "
        f"{int(r['optimizer_bytes']) / 1024:,.1f} KiB<br>{float(r['seconds']):.1f} s"
        for r in runs
    ]
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("trainable parameters", "validation loss (response tokens)")
    )
    fig.add_trace(
        go.Bar(
            x=names,
            y=[r["trainable"] for r in runs],
            hovertext=hover,
            name="trainable",
            marker_color="#4c78a8",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=names,
            y=[r["val_loss"] for r in runs],
            hovertext=hover,
            name="val loss",
            marker_color="#f58518",
        ),
        row=1,
        col=2,
    )
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(template=TEMPLATE, title=title, showlegend=False, height=380)
    return fig


def lora_rank_cost(
    ranks: Sequence[int],
    adapter_params: Sequence[int],
    full_params: int,
    *,
    title: str = "LoRA adapter size against rank",
) -> go.Figure:
    """Adapter parameters per rank (a line) and the full model's trainable count (dashed)."""
    if not ranks or len(ranks) != len(adapter_params):
        raise InputError("ranks and adapter_params must be non-empty and of equal length.")
    if full_params <= 0:
        raise InputError(f"full_params must be positive, got {full_params}.")
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=list(ranks), y=list(adapter_params), mode="lines+markers", name="LoRA adapters"
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[min(ranks), max(ranks)],
            y=[full_params] * 2,
            mode="lines",
            name="full fine-tuning",
            line={"dash": "dash"},
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        xaxis_title="rank r",
        yaxis_title="trainable parameters",
        yaxis_type="log",
        height=360,
    )
    return fig
