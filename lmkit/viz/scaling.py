"""Figures for chapter 8: a small scaling sweep, validation loss against training compute.

Introduced in chapter 8. A sweep is a list of runs, each a mapping with the model's parameter
count ``n_params``, the tokens it trained on ``n_tokens`` and its final ``val_loss``; the figure
puts compute ``C ≈ 6·N·D`` on a log x-axis and draws one line per model size, so it shows at a
glance whether, at equal compute, a bigger model or more tokens did better.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from lmkit.errors import InputError
from lmkit.viz.core import TEMPLATE

__all__ = ["scaling_sweep"]

_NEEDED = ("n_params", "n_tokens", "val_loss")


def scaling_sweep(
    runs: Sequence[Mapping[str, float]],
    *,
    title: str = "Validation loss against training compute (6·N·D)",
) -> go.Figure:
    """One line per model size (``n_params``) through its runs, x = ``6·n_params·n_tokens``.

    Each point's hover shows N, D, the tokens-per-parameter ratio D/N (Chinchilla's
    compute-optimal rule of thumb is about 20) and the loss. Introduced in chapter 8.
    """
    if not runs:
        raise InputError("runs is empty: pass at least one {n_params, n_tokens, val_loss}.")
    for run in runs:
        missing = [key for key in _NEEDED if key not in run]
        if missing:
            raise InputError(f"each run needs {list(_NEEDED)}; one run lacks {missing}.")
        if run["n_params"] <= 0 or run["n_tokens"] <= 0:
            raise InputError(f"n_params and n_tokens must be positive, got {dict(run)}.")
    fig = go.Figure()
    for size in sorted({run["n_params"] for run in runs}):
        mine = sorted((r for r in runs if r["n_params"] == size), key=lambda r: r["n_tokens"])
        fig.add_trace(
            go.Scatter(
                x=[6 * r["n_params"] * r["n_tokens"] for r in mine],
                y=[r["val_loss"] for r in mine],
                mode="lines+markers",
                name=f"N = {int(size):,}",
                text=[
                    f"N={int(r['n_params']):,}<br>D={int(r['n_tokens']):,}"
                    f"<br>D/N={r['n_tokens'] / r['n_params']:.2g}<br>loss={r['val_loss']:.3f}"
                    for r in mine
                ],
                hoverinfo="text",
            )
        )
    fig.update_xaxes(type="log", title_text="training compute C = 6·N·D (FLOPs, log scale)")
    fig.update_yaxes(title_text="validation loss (nats/token)")
    fig.update_layout(title=title, template=TEMPLATE, legend_title_text="model size")
    return fig
