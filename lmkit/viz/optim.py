"""Figures for chapter 4: curves (activations, losses, learning-rate schedules) and optimizer
trajectories on a 2-D loss surface.

Introduced in chapter 4 (also used by the app's optimizer demo).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import plotly.graph_objects as go
import torch

from lmkit.errors import InputError
from lmkit.validators import check_int
from lmkit.viz.core import TEMPLATE

__all__ = ["function_curves", "loss_surface"]


def _values(name: str, values: torch.Tensor | Sequence[float]) -> list[float]:
    tensor = torch.as_tensor(values, dtype=torch.float64).detach().cpu()
    if tensor.dim() != 1:
        raise InputError(f"{name} must be 1-D, got shape {tuple(tensor.shape)}.")
    return tensor.tolist()


def function_curves(
    x: torch.Tensor | Sequence[float],
    curves: Mapping[str, torch.Tensor | Sequence[float]],
    *,
    title: str = "",
    x_title: str = "x",
    y_title: str = "y",
    dashed: Sequence[str] = (),
) -> go.Figure:
    """One line per named curve over the same ``x`` (names in ``dashed`` are drawn dashed)."""
    xs = _values("x", x)
    if not curves:
        raise InputError("curves is empty: pass at least one {name: values}.")
    fig = go.Figure()
    for name, ys in curves.items():
        ys = _values(f"curve {name!r}", ys)
        if len(ys) != len(xs):
            raise InputError(f"curve {name!r} has {len(ys)} values but x has {len(xs)}.")
        line = {"dash": "dash"} if name in dashed else {}
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=name, line=line))
    fig.update_layout(
        title=title, template=TEMPLATE, xaxis_title=x_title, yaxis_title=y_title, hovermode="x"
    )
    return fig


def loss_surface(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    trajectories: Mapping[str, torch.Tensor] | None = None,
    *,
    resolution: int = 120,
    log_scale: bool = True,
    minimum: tuple[float, float] | None = None,
    title: str = "Optimizer trajectories",
) -> go.Figure:
    """Contours of a 2-D loss with each optimizer's path drawn on top.

    ``loss_fn`` maps points (..., 2) to losses (...); ``trajectories`` maps a name to an (N, 2)
    path such as :func:`lmkit.basics.optimizers.optimize_2d` returns. With ``log_scale`` the
    contours show ``log10(1 + loss)``, so a valley stays visible next to steep walls.
    """
    resolution = check_int("resolution", resolution, minimum=2, error=InputError)
    if x_range[0] >= x_range[1] or y_range[0] >= y_range[1]:
        raise InputError(f"ranges must be (low, high) with low < high; got {x_range}, {y_range}.")
    xs = torch.linspace(x_range[0], x_range[1], resolution, dtype=torch.float64)
    ys = torch.linspace(y_range[0], y_range[1], resolution, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (ny, nx, 2)
    with torch.no_grad():
        z = loss_fn(grid)
    if log_scale:
        z = torch.log10(1 + z.clamp_min(0))
    fig = go.Figure(
        go.Contour(
            x=xs.tolist(),
            y=ys.tolist(),
            z=z.tolist(),
            colorscale="Viridis",
            ncontours=30,
            name="loss",
            showscale=True,
            colorbar={"title": "log10(1+loss)" if log_scale else "loss"},
            hoverinfo="skip",
        )
    )
    for name, path in (trajectories or {}).items():
        path = torch.as_tensor(path, dtype=torch.float64).detach().cpu()
        if path.dim() != 2 or path.shape[1] != 2:
            raise InputError(f"trajectory {name!r} must be (N, 2), got {tuple(path.shape)}.")
        fig.add_trace(
            go.Scatter(
                x=path[:, 0].tolist(),
                y=path[:, 1].tolist(),
                mode="lines+markers",
                marker={"size": 4},
                name=name,
            )
        )
    if minimum is not None:
        fig.add_trace(
            go.Scatter(
                x=[minimum[0]],
                y=[minimum[1]],
                mode="markers",
                marker={"symbol": "star", "size": 14, "color": "white", "line": {"width": 1}},
                name="minimum",
            )
        )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis_title="x",
        yaxis_title="y",
        xaxis={"range": list(x_range)},
        yaxis={"range": list(y_range)},
        legend={"orientation": "h", "y": -0.15},
    )
    return fig
