"""Figures for the transformer's parts: where the parameters are, what layer norm does, how
gradients flow through residual stacks, and why attention scores are scaled by 1/√d_k.

Introduced in chapters 6 and 7. :func:`gpt_parameter_counts` counts a GPT's parameters *by
formula* (no model is built), so a figure for GPT-2 XL is instant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from lmkit.errors import ConfigError, InputError
from lmkit.gpt.config import GPTConfig
from lmkit.viz.core import TEMPLATE

__all__ = [
    "gpt_parameter_counts",
    "layer_curves",
    "layer_norm_scatter",
    "parameter_breakdown",
    "softmax_saturation",
]


def gpt_parameter_counts(config: GPTConfig) -> dict[str, int]:
    """Parameters of ``GPT(config)`` per component, computed from the sizes alone.

    With ``d = n_embd``, ``V = vocab_size``, ``L = n_layer`` and biases on: token embedding
    ``V·d``; learned positions ``block_size·d``; attention ``L(4d² + 4d)`` (q, k, v and output
    projections); MLP ``L(8d² + 5d)`` (d → 4d → d); layer norms ``2d`` each, two per layer plus
    a final one; the output head adds ``V·d`` only when it is not tied to the token embedding.
    The values add up to ``GPT(config).num_parameters()``. Introduced in chapter 7.
    """
    if not isinstance(config, GPTConfig):
        raise ConfigError(f"gpt_parameter_counts expects a GPTConfig, got {type(config).__name__}.")
    d, vocab, layers = config.n_embd, config.vocab_size, config.n_layer
    b = 1 if config.bias else 0
    norm = (1 + b) * d  # a gain per feature, and a shift when biases are on
    return {
        "token embedding": vocab * d,
        "position embedding": config.block_size * d if config.pos_encoding == "learned" else 0,
        "attention": layers * (4 * d * d + 4 * b * d),
        "MLP": layers * (8 * d * d + 5 * b * d),
        "layer norms": (2 * layers + 1) * norm,
        "output head": 0 if config.tie_weights else vocab * d,
    }


def parameter_breakdown(config: GPTConfig, *, title: str | None = None) -> go.Figure:
    """Horizontal bars: how many parameters each part of ``GPT(config)`` holds, and its share.

    Introduced in chapter 7.
    """
    counts = gpt_parameter_counts(config)
    total = sum(counts.values())
    names = list(counts)
    values = [counts[n] for n in names]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            text=[f"{v:,} ({100 * v / total:.1f}%)" for v in values],
            textposition="auto",
            marker_color="#4C78A8",
            hovertemplate="%{y}: %{x:,} parameters<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title=title
        or (
            f"{total:,} parameters (n_layer={config.n_layer}, n_embd={config.n_embd}, "
            f"n_head={config.n_head}, vocab={config.vocab_size})"
        ),
        xaxis_title="parameters",
        template=TEMPLATE,
        height=360,
    )
    return fig


def _as_rows(name: str, x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"{name} must be a float tensor (..., features), got {shape}.")
    return x.detach().double().cpu().reshape(-1, x.shape[-1])


def layer_norm_scatter(
    before: torch.Tensor,
    after: torch.Tensor,
    *,
    title: str = "Each token's mean and spread, before and after layer norm",
) -> go.Figure:
    """One point per token vector: its mean (x) against its standard deviation (y).

    ``before`` and ``after`` are ``(..., features)``; every leading index is one token. After a
    layer norm without gain and shift every point sits at (0, 1). The standard deviation is the
    population one (divide by the number of features), as layer norm uses. Introduced in chapter 7.
    """
    rows_before, rows_after = _as_rows("before", before), _as_rows("after", after)
    if rows_before.shape != rows_after.shape:
        raise InputError(
            f"before and after must have the same shape, got {tuple(before.shape)} and "
            f"{tuple(after.shape)}."
        )
    fig = go.Figure()
    for name, rows, colour in (
        ("before", rows_before, "#E45756"),
        ("after", rows_after, "#4C78A8"),
    ):
        fig.add_trace(
            go.Scatter(
                x=rows.mean(-1).tolist(),
                y=rows.std(-1, unbiased=False).tolist(),
                mode="markers",
                name=name,
                marker={"color": colour, "size": 7, "opacity": 0.8},
                hovertemplate="mean %{x:.3f}<br>std %{y:.3f}<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="mean over features",
        yaxis_title="standard deviation over features",
        template=TEMPLATE,
    )
    return fig


def _check_series(series: object, length: int | None = None) -> dict[str, list[float]]:
    if not isinstance(series, Mapping) or not series:
        raise InputError("series must be a non-empty mapping of name -> list of numbers.")
    out = {}
    for name, values in series.items():
        values = torch.as_tensor(values, dtype=torch.float64).flatten().tolist()
        if not values:
            raise InputError(f"series {name!r} is empty.")
        if length is not None and len(values) != length:
            raise InputError(
                f"series {name!r} has {len(values)} values but there are {length} x values."
            )
        out[str(name)] = values
    return out


def layer_curves(
    series: Mapping[str, Sequence[float]],
    *,
    log_y: bool = True,
    title: str = "Gradient norm reaching each layer",
    y_title: str = "gradient norm",
) -> go.Figure:
    """One line per network: a value for layer 0, 1, 2, … (input side first).

    ``series`` maps a name (e.g. "with residuals") to one number per layer, such as the
    gradient norm reaching it or the size of the residual stream after it. A log scale
    (default) shows vanishing gradients as a straight downward slope. Introduced in chapter 7.
    """
    data = _check_series(series)
    fig = go.Figure()
    for name, values in data.items():
        fig.add_trace(
            go.Scatter(x=list(range(len(values))), y=values, mode="lines+markers", name=name)
        )
    fig.update_layout(
        title=title, xaxis_title="layer (0 = closest to the input)", template=TEMPLATE
    )
    fig.update_yaxes(title=y_title, type="log" if log_y else "linear")
    return fig


def softmax_saturation(
    d_ks: Sequence[int],
    entropy: Mapping[str, Sequence[float]],
    gradient: Mapping[str, Sequence[float]],
    *,
    max_entropy: float | None = None,
    title: str = "Without 1/√d_k, softmax saturates as d_k grows",
) -> go.Figure:
    """Two panels against d_k (log axis): attention entropy, and the size of softmax's gradient.

    ``entropy`` and ``gradient`` map a variant name (e.g. "q·k" and "q·k/√d_k") to one value
    per entry of ``d_ks``. ``max_entropy`` (``log(number of keys)``) draws the uniform-attention
    ceiling. Introduced in chapter 6.
    """
    d_ks = [int(d) for d in torch.as_tensor(d_ks).flatten().tolist()]
    if not d_ks or min(d_ks) <= 0:
        raise InputError(f"d_ks must be a non-empty list of positive sizes, got {d_ks}.")
    entropy = _check_series(entropy, len(d_ks))
    gradient = _check_series(gradient, len(d_ks))
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("entropy of the attention weights", "gradient of softmax (norm)"),
    )
    colours = ("#E45756", "#4C78A8", "#54A24B", "#F58518")
    for col, data in ((1, entropy), (2, gradient)):
        for i, (name, values) in enumerate(data.items()):
            fig.add_trace(
                go.Scatter(
                    x=d_ks,
                    y=values,
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    line={"color": colours[i % len(colours)]},
                ),
                row=1,
                col=col,
            )
    if max_entropy is not None:
        fig.add_trace(
            go.Scatter(
                x=[d_ks[0], d_ks[-1]],
                y=[float(max_entropy)] * 2,
                mode="lines",
                name="uniform attention",
                line={"dash": "dot", "color": "grey"},
            ),
            row=1,
            col=1,
        )
    fig.update_xaxes(type="log", title="d_k")
    fig.update_yaxes(title="nats", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(title=title, template=TEMPLATE)
    return fig
