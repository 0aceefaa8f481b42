"""Figures for the sampling knobs: a distribution before and after a transformation, and a
sweep of text statistics against a setting such as the temperature.

Introduced in chapter 10. Both take plain tensors and numbers and never run a model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import plotly.graph_objects as go
import torch

from lmkit.errors import InputError
from lmkit.validators import check_int
from lmkit.viz.core import TEMPLATE
from lmkit.viz.decoding import PROCESSED_COLOUR, RAW_COLOUR
from lmkit.viz.tokens import plotly_text


def _row(logits: object, name: str) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise InputError(f"{name} must be a float tensor of logits, shape (V,) or (1, V).")
    row = logits.detach().float().cpu().reshape(-1) if logits.dim() <= 2 else None
    if row is None or (logits.dim() == 2 and logits.shape[0] != 1) or row.numel() == 0:
        raise InputError(f"{name} must have shape (V,) or (1, V), got {tuple(logits.shape)}.")
    if torch.isnan(row).any() or torch.isposinf(row).any():
        raise InputError(f"{name} contains NaN or +inf.")
    return row


def distribution_shift(
    before: torch.Tensor,
    after: torch.Tensor,
    token_label: Callable[[int], str],
    *,
    top: int = 12,
    before_name: str = "before",
    after_name: str = "after",
    title: str = "How the transformation reshapes the next-token distribution",
) -> go.Figure:
    """Softmax of ``before`` and of ``after`` (two logit vectors over the same vocabulary) as
    grouped bars on the ``top`` most likely tokens of ``before``; filtered-out tokens (logit
    ``-inf``) get a bar of height 0. The title reports how many tokens keep probability > 0.
    Introduced in chapter 10.
    """
    b, a = _row(before, "before"), _row(after, "after")
    if b.shape != a.shape:
        raise InputError(f"before and after differ in size: {b.numel()} vs {a.numel()} tokens.")
    top = check_int("top", top, minimum=1, error=InputError)
    p_before, p_after = torch.softmax(b, -1), torch.softmax(a, -1)
    ids = torch.topk(p_before, min(top, b.numel())).indices.tolist()
    labels = []
    for i in ids:
        try:
            labels.append(plotly_text(token_label(i)))
        except Exception:  # a label must never break a figure
            labels.append(f"#{i}")
    positions = list(range(len(ids)))
    fig = go.Figure()
    fig.add_bar(x=positions, y=[float(p_before[i]) for i in ids], name=before_name,
                marker_color=RAW_COLOUR)  # fmt: skip
    fig.add_bar(x=positions, y=[float(p_after[i]) for i in ids], name=after_name,
                marker_color=PROCESSED_COLOUR)  # fmt: skip
    kept = int((p_after > 0).sum())
    fig.update_xaxes(tickmode="array", tickvals=positions, ticktext=labels)
    fig.update_yaxes(title="probability", range=[0, 1.05])
    fig.update_layout(
        title=f"{title}<br><sup>{kept} of {b.numel()} tokens keep a probability above 0</sup>",
        barmode="group",
        template=TEMPLATE,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
    )
    return fig


def decoding_sweep(
    settings: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    x_title: str = "temperature",
    title: str = "Dull or wild: text statistics against the setting",
) -> go.Figure:
    """One line per statistic (distinct-n, repetition rate, grammar pass rate…) against the
    values of one setting. Every series must have one value per setting. Introduced in chapter 10.
    """
    xs = [float(x) for x in settings]
    if not xs or not series:
        raise InputError("decoding_sweep needs at least one setting and one series.")
    fig = go.Figure()
    for name, values in series.items():
        ys = [float(v) for v in values]
        if len(ys) != len(xs):
            raise InputError(f"series {name!r} has {len(ys)} values for {len(xs)} settings.")
        fig.add_scatter(x=xs, y=ys, name=name, mode="lines+markers")
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title="rate", range=[0, 1.05])
    fig.update_layout(title=title, template=TEMPLATE)
    return fig


__all__ = ["decoding_sweep", "distribution_shift"]
