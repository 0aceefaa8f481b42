"""Figures for positional encodings: the sinusoidal table, its waves, and rotary's relative scores.

Introduced in chapter 6. Each function computes from :mod:`lmkit.nn.positional` (nothing trained)
and returns a plotly figure, so the chapter and the app draw the same pictures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
import torch

from lmkit.errors import InputError
from lmkit.nn.positional import RotaryEmbedding, apply_rotary, sinusoidal_table
from lmkit.validators import check_int, check_number
from lmkit.viz.core import TEMPLATE

__all__ = [
    "position_similarity",
    "rotary_relative_scores",
    "sinusoid_waves",
    "sinusoidal_heatmap",
]


def sinusoidal_heatmap(
    max_len: int = 64, dim: int = 128, base: float = 10000.0, *, title: str | None = None
) -> go.Figure:
    """The sinusoidal table as an image: one row per position, one column per dimension.

    Column ``2i`` is ``sin(p / base^(2i/dim))`` and column ``2i+1`` the matching cosine, so the
    left columns flicker quickly down the rows and the right ones barely change.
    Introduced in chapter 6.
    """
    max_len = check_int("max_len", max_len, minimum=1)
    dim = check_int("dim", dim, minimum=1)
    table = sinusoidal_table(max_len, dim, check_number("base", base, minimum=1, above=True))
    fig = go.Figure(
        go.Heatmap(
            z=table.tolist(),
            x=list(range(dim)),
            y=list(range(max_len)),
            colorscale="RdBu",
            zmin=-1.0,
            zmax=1.0,
            colorbar={"title": "value"},
            hovertemplate="position %{y}<br>dimension %{x}<br>value %{z:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(title="dimension")
    fig.update_yaxes(title="position", autorange="reversed")
    fig.update_layout(
        title=title or f"Sinusoidal position encodings ({max_len} positions × {dim} dimensions)",
        template=TEMPLATE,
    )
    return fig


def sinusoid_waves(
    max_len: int = 100,
    dim: int = 64,
    dims: Sequence[int] = (0, 2, 8, 32),
    base: float = 10000.0,
    *,
    title: str = "One wave per dimension: each runs at its own frequency",
) -> go.Figure:
    """Columns ``dims`` of the sinusoidal table plotted against the position.

    Dimension ``2i`` has wavelength ``2π · base^(2i/dim)`` positions; the legend shows it.
    Introduced in chapter 6.
    """
    max_len = check_int("max_len", max_len, minimum=1)
    dim = check_int("dim", dim, minimum=1)
    base = check_number("base", base, minimum=1, above=True)
    dims = list(dims)
    if not dims:
        raise InputError("dims is empty: give at least one dimension to plot, e.g. (0, 2, 8).")
    for d in dims:
        check_int("every entry of dims", d, maximum=dim - 1, error=InputError)
    table = sinusoidal_table(max_len, dim, base)
    fig = go.Figure()
    for d in dims:
        wavelength = 2 * math.pi * base ** ((d - d % 2) / dim)
        kind = "sin" if d % 2 == 0 else "cos"
        fig.add_trace(
            go.Scatter(
                x=list(range(max_len)),
                y=table[:, d].tolist(),
                mode="lines",
                name=f"dim {d} ({kind}, wavelength {wavelength:.3g})",
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="position",
        yaxis_title="encoding value",
        template=TEMPLATE,
    )
    return fig


def position_similarity(
    table: torch.Tensor, *, title: str = "Dot product between position encodings"
) -> go.Figure:
    """Heatmap of ``table @ table.T``: how alike the encodings of positions ``p`` and ``s`` are.

    For the sinusoidal table the value depends only on ``p - s``, so every diagonal is constant.
    ``table`` is ``(positions, dim)``, e.g. ``sinusoidal_table(64, 128)``. Introduced in chapter 6.
    """
    if not isinstance(table, torch.Tensor) or table.dim() != 2 or not table.is_floating_point():
        shape = tuple(table.shape) if isinstance(table, torch.Tensor) else type(table).__name__
        raise InputError(f"table must be a 2-D float tensor (positions, dim), got {shape}.")
    table = table.detach().double().cpu()
    gram = table @ table.T  # (P, P)
    positions = list(range(table.shape[0]))
    fig = go.Figure(
        go.Heatmap(
            z=gram.tolist(),
            x=positions,
            y=positions,
            colorscale="Viridis",
            colorbar={"title": "dot product"},
            hovertemplate="p=%{y}, s=%{x}<br>PE[p]·PE[s] = %{z:.2f}<extra></extra>",
        )
    )
    fig.update_xaxes(title="position s")
    fig.update_yaxes(title="position p", autorange="reversed")
    fig.update_layout(title=title, template=TEMPLATE)
    return fig


def _check_vector(name: str, x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 1 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"{name} must be a 1-D float tensor (one head's vector), got {shape}.")
    return x.detach().double().cpu()


def rotary_relative_scores(
    q: torch.Tensor,
    k: torch.Tensor,
    starts: Sequence[int] = (0, 20, 50),
    max_distance: int = 32,
    base: float = 10000.0,
    *,
    absolute: bool = True,
    title: str = "Scores depend on distance only with rotary (solid lines coincide)",
) -> go.Figure:
    """Score of query ``q`` at position ``p`` with key ``k`` at ``p + Δ``, for Δ = 0..max_distance.

    One solid line per start ``p`` with rotary embeddings: ``rot(p)q · rot(p+Δ)k``. The lines lie
    on top of each other because the score only depends on Δ. With ``absolute=True`` dashed
    lines show the same with sinusoidal encodings *added* to q and k instead,
    ``(q + PE[p]) · (k + PE[p+Δ])``, which do change with ``p``. Introduced in chapter 6.
    """
    q, k = _check_vector("q", q), _check_vector("k", k)
    if q.shape != k.shape:
        raise InputError(f"q and k must have the same size, got {q.shape[0]} and {k.shape[0]}.")
    dim = q.shape[0]
    if dim % 2:
        raise InputError(f"rotary needs an even head size, got {dim}.")
    max_distance = check_int("max_distance", max_distance, minimum=1)
    starts = list(starts)
    if not starts:
        raise InputError("starts is empty: give at least one start position, e.g. (0, 20).")
    for p in starts:
        check_int("every start", p, error=InputError)
    base = check_number("base", base, minimum=1, above=True)
    length = max(starts) + max_distance + 1
    cos, sin = RotaryEmbedding(dim, length, base).cos_sin(length, dtype=torch.float64)  # (L, D)
    rotated_q = apply_rotary(q.expand(length, dim), cos, sin)  # row p: q as if at position p
    rotated_k = apply_rotary(k.expand(length, dim), cos, sin)
    table = sinusoidal_table(length, dim, base).double()
    distances = list(range(max_distance + 1))
    fig = go.Figure()
    for p in starts:
        keys = [p + d for d in distances]
        scores = (rotated_q[p] * rotated_k[keys]).sum(-1)
        fig.add_trace(
            go.Scatter(x=distances, y=scores.tolist(), mode="lines", name=f"rotary, query at {p}")
        )
    if absolute:
        for p in starts:
            keys = [p + d for d in distances]
            scores = ((q + table[p]) * (k + table[keys])).sum(-1)
            fig.add_trace(
                go.Scatter(
                    x=distances,
                    y=scores.tolist(),
                    mode="lines",
                    line={"dash": "dash"},
                    name=f"added sinusoidal, query at {p}",
                )
            )
    fig.update_layout(
        title=title,
        xaxis_title="distance Δ (key position − query position)",
        yaxis_title="score q·k",
        template=TEMPLATE,
    )
    return fig
