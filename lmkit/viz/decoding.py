"""Figures for decoding: next-token probability bars, per-token confidence, the beam-search tree.

Introduced in chapter 10; the app's Generate page draws the same figures. Both take what
:func:`lmkit.decoding.generation.stream` and :func:`lmkit.decoding.beam.beam_search` hand back plus a function that
turns a token id into its text (``tokenizer.id_to_token`` or ``decode([id])``), so they work
with any tokenizer and never run the model themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import plotly.graph_objects as go

from lmkit.decoding.beam import BeamNode, BeamSearchResult
from lmkit.decoding.generation import TokenStep
from lmkit.errors import InputError
from lmkit.validators import check_int
from lmkit.viz.core import book_layout
from lmkit.viz.tokens import plotly_text

RAW_COLOUR = "#9ECAE1"
PROCESSED_COLOUR = "#F16913"
CHOSEN_COLOUR = "#CB181D"
WINNER_COLOUR = "#CB181D"
TokenLabel = Callable[[int], str]


def _label_of(token_label: TokenLabel, token_id: int) -> str:
    try:
        return plotly_text(token_label(token_id))
    except Exception:  # a label must never break a figure
        return f"#{token_id}"


def _processed_probability(step: TokenStep, token_id: int) -> float | None:
    """The token's probability after the processing steps, ``None`` if the step does not say.

    ``processed_top_ids`` lists the most likely tokens with probability > 0. When it is shorter
    than the raw list, every token with probability > 0 is in it, so a missing token has
    probability exactly 0; otherwise a missing token is merely less likely than those listed.
    """
    if token_id == step.token_id:
        return step.prob
    listed = dict(zip(step.processed_top_ids, step.processed_top_probs, strict=True))
    if token_id in listed:
        return listed[token_id]
    return 0.0 if len(step.processed_top_ids) < len(step.top_ids) else None


def next_token_bars(
    step: TokenStep,
    token_label: TokenLabel,
    *,
    top: int = 10,
    title: str | None = None,
) -> go.Figure:
    """Probability bars of the next-token candidates at one step: the model's own (raw) and after
    repetition penalty, temperature, top-k and top-p (processed), the chosen token highlighted.

    Shows the ``top`` most likely raw candidates, the ``top`` most likely processed ones and
    the chosen token. A bar that the step does not record (a token outside the reported
    alternatives) is left out rather than guessed; hovering says so. Introduced in chapter 10.
    """
    if not isinstance(step, TokenStep):
        raise InputError(f"step must be a TokenStep from lmkit.decoding.generation.stream, got {step!r}.")
    top = check_int("top", top, minimum=1, error=InputError)
    raw = dict(zip(step.top_ids, step.top_probs, strict=True))
    raw[step.token_id] = step.raw_prob
    ids: list[int] = []
    for token_id in [*step.top_ids[:top], *step.processed_top_ids[:top], step.token_id]:
        if token_id not in ids:
            ids.append(token_id)
    ids.sort(key=lambda i: -raw.get(i, -1.0))  # unknown raw probabilities go last
    labels = [_label_of(token_label, i) for i in ids]
    raw_y = [raw.get(i) for i in ids]
    processed_y = [_processed_probability(step, i) for i in ids]
    positions = list(range(len(ids)))
    chosen = [i == step.token_id for i in ids]

    def hover(values: Sequence[float | None]) -> list[str]:
        return ["not among the reported alternatives" if v is None else f"{v:.4f}" for v in values]

    fig = go.Figure()
    fig.add_bar(
        x=positions,
        y=raw_y,
        name="model (raw)",
        marker={
            "color": RAW_COLOUR,
            "line": {"color": CHOSEN_COLOUR, "width": [3 if c else 0 for c in chosen]},
        },
        customdata=[[lab, h] for lab, h in zip(labels, hover(raw_y), strict=True)],
        hovertemplate="%{customdata[0]}<br>raw probability %{customdata[1]}<extra></extra>",
    )
    fig.add_bar(
        x=positions,
        y=processed_y,
        name="after penalty, temperature, top-k, top-p",
        marker={
            "color": [CHOSEN_COLOUR if c else PROCESSED_COLOUR for c in chosen],
            "line": {"color": CHOSEN_COLOUR, "width": [3 if c else 0 for c in chosen]},
        },
        customdata=[[lab, h] for lab, h in zip(labels, hover(processed_y), strict=True)],
        hovertemplate="%{customdata[0]}<br>processed probability %{customdata[1]}<extra></extra>",
    )
    ticks = [f"<b>{lab}</b> ✔" if c else lab for lab, c in zip(labels, chosen, strict=True)]
    chosen_label = labels[chosen.index(True)]
    book_layout(
        fig,
        xaxis={"tickmode": "array", "tickvals": positions, "ticktext": ticks},
        yaxis={"title": "probability", "range": [0, 1.05]},
        title=title or f"Step {step.index + 1}: chose {chosen_label} (p = {step.prob:.3f})",
        barmode="group",
        # Above the plot: below it, the legend collides with long (tilted) token labels.
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
    )
    return fig


def token_confidence(
    steps: Sequence[TokenStep],
    token_label: TokenLabel,
    *,
    title: str = "How sure was the model of each token?",
) -> go.Figure:
    """The chosen token's probability at every step: under the model (raw) and after the
    settings (processed). Dips show where the text could easily have gone another way.

    Hover shows the token. Introduced in chapter 10.
    """
    if not steps or not all(isinstance(step, TokenStep) for step in steps):
        raise InputError("steps must be a non-empty list of TokenStep from lmkit.decoding.generation.stream.")
    x = [step.index + 1 for step in steps]
    labels = [_label_of(token_label, step.token_id) for step in steps]
    fig = go.Figure()
    for name, values, colour in (
        ("model (raw)", [step.raw_prob for step in steps], RAW_COLOUR),
        ("after the settings", [step.prob for step in steps], PROCESSED_COLOUR),
    ):
        fig.add_scatter(
            x=x,
            y=values,
            name=name,
            mode="lines+markers",
            line={"color": colour},
            customdata=labels,
            hovertemplate="token %{x}: %{customdata}<br>p = %{y:.3f}<extra>" + name + "</extra>",
        )
    book_layout(
        fig,
        xaxis={
            "title": "generated token",
            "dtick": max(1, math.ceil(len(steps) / 15)),
            "range": [0.5, x[-1] + 0.5],
        },
        yaxis={"title": "probability of the chosen token", "range": [0, 1.05]},
        title=title,
        height=320,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
    )
    return fig


def winning_path(result: BeamSearchResult) -> list[int]:
    """Node ids from the prompt (node 0) to the best hypothesis's last token."""
    if not result.leaf_ids:
        return []
    by_id = {node.id: node for node in result.tree}
    path, node_id = [], result.leaf_ids[0]
    while node_id is not None:
        path.append(node_id)
        node_id = by_id[node_id].parent_id
    return path[::-1]


def _tree_rows(tree: Sequence[BeamNode]) -> dict[int, int]:
    """A row for every node: siblings stay together, children follow their parents' order."""
    row: dict[int, int] = {}
    for step in sorted({node.step for node in tree}):
        nodes = [node for node in tree if node.step == step]
        nodes.sort(key=lambda n: (row.get(n.parent_id, 0), -n.cumulative_logprob))
        row.update({node.id: rank for rank, node in enumerate(nodes)})
    return row


def beam_tree(
    result: BeamSearchResult,
    token_label: TokenLabel,
    *,
    prompt_label: str = "prompt",
    title: str = "Beam search tree",
) -> go.Figure:
    """Every candidate beam search considered, as a tree: one marker per node (its token),
    an edge to its parent, scores on hover; the best hypothesis's path in red.

    Filled markers were kept as running beams, diamonds became finished hypotheses, hollow ones
    were dropped. The node trace holds exactly one point per ``result.tree`` entry, in order.
    Introduced in chapter 10.
    """
    if not isinstance(result, BeamSearchResult) or not result.tree:
        raise InputError("result must be the BeamSearchResult of lmkit.decoding.beam.beam_search.")
    tree = result.tree
    rows = _tree_rows(tree)
    by_id = {node.id: node for node in tree}
    on_path = set(winning_path(result))

    def edges(selected: Callable[[BeamNode], bool]) -> tuple[list, list]:
        xs: list[float | None] = []
        ys: list[float | None] = []
        for node in tree:
            if node.parent_id is None or not selected(node):
                continue
            parent = by_id[node.parent_id]
            xs += [parent.step, node.step, None]
            ys += [-rows[parent.id], -rows[node.id], None]
        return xs, ys

    fig = go.Figure()
    other_x, other_y = edges(lambda n: n.id not in on_path)
    fig.add_scatter(
        x=other_x, y=other_y, mode="lines", line={"color": "#BDBDBD", "width": 1},
        hoverinfo="skip", name="considered",
    )  # fmt: skip
    path_x, path_y = edges(lambda n: n.id in on_path)
    fig.add_scatter(
        x=path_x, y=path_y, mode="lines", line={"color": WINNER_COLOUR, "width": 3},
        hoverinfo="skip", name="best sequence",
    )  # fmt: skip
    labels = [
        prompt_label if node.parent_id is None else _label_of(token_label, node.token_id)
        for node in tree
    ]
    symbols = [
        "diamond" if n.finished else "circle" if n.kept or n.parent_id is None else "circle-open"
        for n in tree
    ]
    fig.add_scatter(
        x=[node.step for node in tree],
        y=[-rows[node.id] for node in tree],
        mode="markers+text",
        # Only the best path is labelled on the plot; every other node names its token on
        # hover (hundreds of labels would pile up on each other).
        text=[lab if n.id in on_path else "" for lab, n in zip(labels, tree, strict=True)],
        textposition="top center",
        textfont={"size": 11, "color": WINNER_COLOUR},
        marker={
            "size": [14 if n.id in on_path else 9 for n in tree],
            "symbol": symbols,
            "color": [WINNER_COLOUR if n.id in on_path else "#4292C6" for n in tree],
        },
        customdata=[
            [
                lab,
                n.logprob,
                n.cumulative_logprob,
                "finished" if n.finished else "kept" if n.kept else "dropped",
            ]
            for lab, n in zip(labels, tree, strict=True)
        ],
        hovertemplate=(
            "%{customdata[0]}<br>log p(token) %{customdata[1]:.3f}"
            "<br>total log p %{customdata[2]:.3f}<br>%{customdata[3]}<extra></extra>"
        ),
        name="tokens",
    )
    best = result.scores[0].item() if len(result.scores) else math.nan
    last_step = max(node.step for node in tree)
    fig.update_xaxes(
        title="step (generated tokens)",
        dtick=max(1, math.ceil(last_step / 15)),
        range=[-0.5, last_step + 0.5],
    )
    fig.update_yaxes(visible=False, range=[-max(rows.values()) - 0.5, 0.8])
    book_layout(
        fig,
        title=f"{title} (best score {best:.3f})",
        height=max(380, 40 * (max(rows.values()) + 1)),
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
    )
    return fig


__all__ = ["beam_tree", "next_token_bars", "token_confidence", "winning_path"]
