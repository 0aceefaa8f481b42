"""Where a GPT looked while it generated: one row per new token, one column per position.

Introduced in chapter 10 (generation), drawn by the app's Attention page from
:func:`lmkit.tasks.attention_maps.generation_attention`.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch

from lmkit.errors import InputError
from lmkit.validators import is_int
from lmkit.viz.core import labelled_heatmap
from lmkit.viz.tokens import plotly_text

__all__ = ["generation_attention_heatmap"]


def generation_attention_heatmap(
    weights: torch.Tensor | Sequence[Sequence[float]],
    tokens: Sequence[str],
    prompt_length: int,
    *,
    title: str = "Where each generated token looked",
) -> go.Figure:
    """Row ``g``: the attention that chose generated token ``g``, over every position.

    ``weights`` is ``(G, T)`` for the ``G = len(tokens) - prompt_length`` generated tokens and
    all ``T`` tokens (prompt first). A dotted line separates the prompt from the output; cells
    right of a row's own position are 0 because a causal model cannot look ahead.
    """
    matrix = torch.as_tensor(weights, dtype=torch.float32).detach().cpu()
    tokens = [plotly_text(token) for token in tokens]
    if not is_int(prompt_length):
        raise InputError(f"prompt_length must be an integer, got {prompt_length!r}.")
    generated = len(tokens) - prompt_length
    if not 0 <= prompt_length < len(tokens) or matrix.shape != (generated, len(tokens)):
        raise InputError(
            f"weights must be (generated, all tokens) = ({generated}, {len(tokens)}) for "
            f"{len(tokens)} tokens of which {prompt_length} are the prompt; got shape "
            f"{tuple(matrix.shape)}."
        )
    fig = labelled_heatmap(
        matrix,
        [f"→ {token}" for token in tokens[prompt_length:]],
        tokens,
        x_title="position looked at (prompt, then output)",
        y_title="generated token",
        hovertemplate=(
            "while choosing %{customdata[0]}<br>looked at %{customdata[1]}"
            "<br>weight %{z:.3f}<extra></extra>"
        ),
        zmax=1.0,
        colorbar_title="weight",
        title=title,
    )
    fig.add_vline(x=prompt_length - 0.5, line={"dash": "dot", "color": "#d62728", "width": 2})
    # Room above the map for the title, the top axis title and the token labels.
    fig.update_layout(
        height=max(340, 28 * generated + 220),
        margin={"t": 160},
        title={"y": 0.99, "yanchor": "top"},
    )
    return fig
