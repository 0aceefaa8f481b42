"""Figures for masked language modelling: what a BERT guesses for each [MASK].

Introduced in chapter 9. :func:`fill_mask_bars` draws the output of
:func:`lmkit.bert.mlm.fill_mask`: one panel per blank, the top-k tokens as horizontal bars.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lmkit.bert.mlm import MaskCandidate
from lmkit.errors import InputError
from lmkit.viz.core import TEMPLATE

__all__ = ["fill_mask_bars"]


def _shown(token: str) -> str:
    """A token as a readable label: leading spaces made visible, empty tokens named."""
    if not token.strip():
        return repr(token)
    return token.replace(" ", "␣") if token.startswith(" ") else token


def fill_mask_bars(
    blanks: Sequence[Sequence[MaskCandidate]],
    *,
    text: str = "",
    title: str | None = None,
) -> go.Figure:
    """Top-k guesses for every blank, one panel per [MASK], most likely guess on top.

    ``blanks`` is what ``fill_mask(loaded, text, top_k=k)`` returns. A leading space (byte-level
    BPE glues it to the word) is shown as ␣. Introduced in chapter 9.
    """
    blanks = [list(b) for b in blanks]
    if not blanks or not all(blanks):
        raise InputError("fill_mask_bars needs at least one blank with at least one guess.")
    if not all(isinstance(c, MaskCandidate) for b in blanks for c in b):
        raise InputError("blanks must hold MaskCandidate objects, as fill_mask returns them.")
    fig = make_subplots(
        rows=1,
        cols=len(blanks),
        subplot_titles=[f"[MASK] #{i + 1}" for i in range(len(blanks))],
        horizontal_spacing=0.12,
    )
    for col, guesses in enumerate(blanks, start=1):
        ordered = guesses[::-1]  # plotly draws the first bar at the bottom
        fig.add_trace(
            go.Bar(
                x=[c.probability for c in ordered],
                y=[f"{_shown(c.token)} " for c in ordered],
                orientation="h",
                marker_color="#4c78a8",
                text=[f"{c.probability:.2f}" for c in ordered],
                textposition="auto",
                hovertemplate="%{y}: p = %{x:.3f}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=col,
        )
        top = max(c.probability for c in guesses)
        fig.update_xaxes(
            title_text="probability", range=[0, min(1.0, 1.25 * top + 0.02)], row=1, col=col
        )
    fig.update_layout(
        title=title or (f"Top guesses for: {text}" if text else "Top guesses per [MASK]"),
        template=TEMPLATE,
        height=120 + 32 * max(len(b) for b in blanks),
        bargap=0.25,
    )
    return fig
