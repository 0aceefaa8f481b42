"""The reliability diagram: is a classifier as often right as it says it is?

Introduced in chapter 11. Draws :class:`lmkit.basics.calibration.ReliabilityBins`: one bar per
confidence bin at the bin's accuracy, a marker at its mean confidence, and the diagonal a
perfectly calibrated model would follow. Bars below the diagonal mean over-confidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import plotly.graph_objects as go

from lmkit.basics.calibration import ReliabilityBins
from lmkit.errors import InputError
from lmkit.viz.core import TEMPLATE

__all__ = ["reliability_diagram"]

COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2")


def reliability_diagram(
    bins: ReliabilityBins | Mapping[str, ReliabilityBins], *, title: str = "Reliability diagram"
) -> go.Figure:
    """Accuracy per confidence bin as bars, against the diagonal ``accuracy = confidence``.

    ``bins`` is one :class:`ReliabilityBins` or a mapping ``name -> bins`` (e.g. before and
    after temperature scaling), drawn side by side. Empty bins are left out; hover shows each
    bin's count and mean confidence. The title gives each set's expected calibration error.
    """
    if isinstance(bins, ReliabilityBins):
        bins = {"model": bins}
    sets = dict(bins) if isinstance(bins, Mapping) else {}
    if not sets or not all(isinstance(b, ReliabilityBins) for b in sets.values()):
        raise InputError(
            "bins must be a ReliabilityBins or a non-empty mapping name -> ReliabilityBins."
        )
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                   line={"dash": "dash", "color": "#888"})
    )  # fmt: skip
    eces = []
    for k, (name, b) in enumerate(sets.items()):
        if len(b.edges) != len(b.counts) + 1 or not b.counts or sum(b.counts) == 0:
            raise InputError(f"{name}: the bins hold no predictions.")
        keep = [i for i, n in enumerate(b.counts) if n]
        centres = [(b.edges[i] + b.edges[i + 1]) / 2 for i in keep]
        width = (b.edges[1] - b.edges[0]) / len(sets)
        offset = (k - (len(sets) - 1) / 2) * width
        color = COLORS[k % len(COLORS)]
        total = sum(b.counts)
        ece = sum(b.counts[i] / total * abs(b.accuracy[i] - b.confidence[i]) for i in keep)
        eces.append(f"{name} {ece:.3f}")
        fig.add_trace(
            go.Bar(
                x=[c + offset for c in centres], y=[b.accuracy[i] for i in keep], width=width,
                name=f"{name}: accuracy", marker_color=color, opacity=0.75,
                customdata=[[b.counts[i], b.confidence[i]] for i in keep],
                hovertemplate="accuracy %{y:.3f}<br>n = %{customdata[0]}<br>mean confidence "
                "%{customdata[1]:.3f}<extra></extra>",
            )
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=[c + offset for c in centres], y=[b.confidence[i] for i in keep],
                mode="markers", name=f"{name}: mean confidence",
                marker={"color": color, "symbol": "line-ew-open", "size": 14, "line": {"width": 3}},
            )
        )  # fmt: skip
        if any(math.isnan(b.accuracy[i]) for i in keep):
            raise InputError(f"{name}: a non-empty bin has no accuracy.")
    low = min(b.edges[next(i for i, n in enumerate(b.counts) if n)] for b in sets.values())
    fig.update_xaxes(title="confidence (top probability)", range=[max(0.0, low - 0.05), 1.0])
    fig.update_yaxes(title="accuracy in the bin", range=[0, 1.02])
    fig.update_layout(
        title=f"{title} (ECE: {', '.join(eces)})", template=TEMPLATE, barmode="overlay", height=420
    )
    return fig
