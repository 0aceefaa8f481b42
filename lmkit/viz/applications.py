"""Figures for chapter 13's applications: marked entities and answers, cross-attention, FAQ hits.

Introduced in chapter 13; the app's Applications page draws the same figures. Marked text is
drawn the way :mod:`lmkit.viz.tokens` draws tokens (boxes laid out in rows, text as
annotations), but by words: plain words are bare text, and every marked span (an entity, an
answer) is one coloured box with its label underneath. A span is given by character offsets,
``text[start:end]``, exactly as :func:`lmkit.tasks.ner.tag_entities` and
:func:`lmkit.tasks.extractive_qa.answer_question` return them; hovering a box shows its text,
label, score and offsets.
"""

from __future__ import annotations

import html
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import torch

from lmkit.errors import InputError
from lmkit.validators import check_int, is_int, is_number
from lmkit.viz.core import labelled_heatmap
from lmkit.viz.search import search_scores_bar
from lmkit.viz.tokens import PALETTE, display_width, finish_box_figure, plotly_text, wrap_boxes

__all__ = [
    "ENTITY_COLOURS",
    "answer_span",
    "cross_attention_heatmap",
    "entity_spans",
    "faq_matches",
]

ENTITY_COLOURS = {"PER": "#FDD0A2", "LOC": "#C7E9C0", "ORG": "#C6DBEF"}
ANSWER_COLOUR = "#FFF2AE"
ROW_HEIGHT = 1.6
MAX_PLAIN_CELLS = 12  # a long run without spaces (Chinese) is cut into pieces of this width
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class _Mark:
    """One span to highlight: ``text[start:end]``, its label, colour and (optional) score."""

    start: int
    end: int
    label: str
    colour: str
    score: float | None = None


def _span_fields(span: Any) -> tuple[Any, Any, Any, Any]:
    """``(start, end, label, score)`` of an object with those attributes or a tuple."""
    if isinstance(span, tuple):
        if len(span) not in (3, 4):
            raise InputError(f"a span tuple is (start, end, label[, score]); got {span!r}.")
        return (*span, None) if len(span) == 3 else span
    try:
        return span.start, span.end, span.label, getattr(span, "score", None)
    except AttributeError:
        raise InputError(
            f"a span needs start, end and label (an EntitySpan or a tuple); got {span!r}."
        ) from None


def _check_marks(text: str, marks: Sequence[_Mark]) -> list[_Mark]:
    """The marks in text order, after checking each lies in ``text`` and none overlap."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("text is empty: give the text the spans were found in.")
    for mark in marks:
        in_range = is_int(mark.start) and is_int(mark.end) and 0 <= mark.start < mark.end
        if not in_range or mark.end > len(text):
            raise InputError(
                f"span ({mark.start!r}, {mark.end!r}) is not a non-empty character range of the "
                f"{len(text)}-character text; offsets must satisfy 0 <= start < end <= len(text)."
            )
        if mark.score is not None and not is_number(mark.score):
            raise InputError(f"a span's score must be a finite number, got {mark.score!r}.")
    ordered = sorted(marks, key=lambda m: (m.start, m.end))
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise InputError(
                f"spans ({before.start}, {before.end}) and ({after.start}, {after.end}) overlap; "
                "each character can belong to one highlighted span only."
            )
    return ordered


def _plain_pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Unmarked text ``text[start:end]`` as words, long runs cut to ``MAX_PLAIN_CELLS``."""
    pieces = []
    for word in _WORD.finditer(text, start, end):
        lo = word.start()
        for i in range(word.start(), word.end()):
            if display_width(text[lo : i + 1]) > MAX_PLAIN_CELLS:
                pieces.append((lo, i))
                lo = i
        pieces.append((lo, word.end()))
    return pieces


def _marked_text_figure(text: str, marks: Sequence[_Mark], *, title: str, row_width: int):
    """The text in rows, each mark a labelled box; returns the figure and each mark's centre."""
    row_width = check_int("row_width", row_width, minimum=8, error=InputError)
    pieces: list[tuple[int, int, _Mark | None]] = []
    pos = 0
    for mark in marks:
        pieces += [(s, e, None) for s, e in _plain_pieces(text, pos, mark.start)]
        pieces.append((mark.start, mark.end, mark))
        pos = mark.end
    pieces += [(s, e, None) for s, e in _plain_pieces(text, pos, len(text))]
    boxes = [
        display_width(text[s:e]) if m is None else max(display_width(text[s:e]), len(m.label)) + 1.0
        for s, e, m in pieces
    ]
    # A space after a piece takes one cell; pieces written together sit almost touching.
    advances = [
        box + (1.0 if e < len(text) and text[e].isspace() else 0.0)
        for box, (_, e, _) in zip(boxes, pieces, strict=True)
    ]
    places, rows = wrap_boxes(advances, row_width, gap=0.15, row_height=ROW_HEIGHT)
    shapes, annotations, centres = [], [], []
    for (s, e, mark), box, (x, top) in zip(pieces, boxes, places, strict=True):
        shown = html.escape(text[s:e], quote=False)
        annotations.append(
            {
                "x": x + box / 2,
                "y": top - 0.4,
                "text": shown,
                "showarrow": False,
                "font": {"size": 15},
            }
        )
        if mark is None:
            continue
        shapes.append(
            {"type": "rect", "x0": x, "x1": x + box, "y0": top - 1.2, "y1": top,
             "fillcolor": mark.colour, "line": {"color": "#555555", "width": 1}, "layer": "below"}
        )  # fmt: skip
        label = {"text": plotly_text(mark.label), "font": {"size": 10, "color": "#444444"}}
        annotations.append({"x": x + box / 2, "y": top - 0.95, "showarrow": False, **label})
        centres.append((x + box / 2, top - 0.6))
    fig = finish_box_figure(
        go.Figure(), title=title, shapes=shapes, annotations=annotations, rows=rows,
        row_width=row_width, row_height=ROW_HEIGHT, base_height=130,
    )  # fmt: skip
    return fig, centres


def _escaped(text: str, mark: _Mark) -> str:
    return html.escape(text[mark.start : mark.end], quote=False)


def _hover_trace(text: str, marks: Sequence[_Mark], centres, *, name: str) -> go.Scatter:
    """Invisible markers on the boxes: hover shows each span's text, label, score and offsets.

    ``customdata[i]`` is ``[text[start:end], label, score (or None), start, end, the text
    escaped for plotly's HTML labels]``.
    """
    return go.Scatter(
        x=[x for x, _ in centres],
        y=[y for _, y in centres],
        mode="markers",
        name=name,
        marker={"size": 20, "opacity": 0},
        customdata=[
            [text[m.start : m.end], m.label, m.score, m.start, m.end, _escaped(text, m)]
            for m in marks
        ],
        hovertemplate=(
            "%{customdata[5]}<br>%{customdata[1]}"
            + ("" if any(m.score is None for m in marks) else " · score %{customdata[2]:.3f}")
            + "<br>characters %{customdata[3]}–%{customdata[4]}<extra></extra>"
        ),
        showlegend=False,
        legendgroup=name,
    )


def entity_spans(
    text: str,
    spans: Sequence[Any],
    *,
    title: str = "Entities found",
    row_width: int = 90,
) -> go.Figure:
    """``text`` with every entity in a box coloured by its type, the type written underneath.

    ``spans`` are :class:`lmkit.tasks.ner.EntitySpan` (or ``(start, end, label[, score])``
    tuples) with character offsets into ``text``; they must not overlap. The legend has one
    entry per type; each type's hover trace is named after it (its ``customdata`` holds
    ``text[start:end]``, label, score, start, end). Introduced in chapter 13.
    """
    if isinstance(spans, (str, bytes)) or not isinstance(spans, Sequence):
        raise InputError(f"spans must be a list of entity spans, got {type(spans).__name__}.")
    fields = [_span_fields(span) for span in spans]
    labels = list(dict.fromkeys(str(label) for _, _, label, _ in fields))
    colours = {
        label: ENTITY_COLOURS.get(label, PALETTE[i % len(PALETTE)])
        for i, label in enumerate(labels)
    }
    marks = _check_marks(
        text, [_Mark(s, e, str(label), colours[str(label)], score) for s, e, label, score in fields]
    )
    fig, centres = _marked_text_figure(
        text, marks, title=f"{title} ({len(marks)})", row_width=row_width
    )
    for label in labels:
        chosen = [i for i, mark in enumerate(marks) if mark.label == label]
        picked = [marks[i] for i in chosen]
        fig.add_trace(_hover_trace(text, picked, [centres[i] for i in chosen], name=label))
        # The hover markers are invisible, so the legend swatch is a trace of its own.
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", name=label, legendgroup=label,
            marker={"symbol": "square", "size": 14, "color": colours[label],
                    "line": {"color": "#555555", "width": 1}},
        ))  # fmt: skip
    fig.update_layout(showlegend=bool(labels), legend={"orientation": "h", "y": -0.02})
    return fig


def answer_span(
    context: str,
    answer: Any,
    *,
    title: str | None = None,
    row_width: int = 90,
) -> go.Figure:
    """``context`` with the answer's span highlighted; the title gives the answer and its score.

    ``answer`` is an :class:`lmkit.tasks.extractive_qa.Answer` (``text``, ``start``, ``end``,
    ``score``, character offsets into ``context``). The single hover trace is named
    ``"answer"``. Introduced in chapter 13.
    """
    try:
        start, end, score = answer.start, answer.end, answer.score
    except AttributeError:
        raise InputError(
            f"answer needs start, end and score (an Answer), got {type(answer).__name__}."
        ) from None
    (mark,) = _check_marks(context, [_Mark(start, end, "answer", ANSWER_COLOUR, score)])
    if getattr(answer, "text", context[start:end]) != context[start:end]:
        raise InputError(
            f"the answer's text {answer.text!r} is not context[{start}:{end}] "
            f"({context[start:end]!r}); was it found in another context?"
        )
    shown = html.escape(context[start:end], quote=False)
    score_text = "" if score is None else f" (score {score:.3f})"
    fig, centres = _marked_text_figure(
        context, [mark], title=title or f"Answer: {shown}{score_text}", row_width=row_width
    )
    fig.add_trace(_hover_trace(context, [mark], centres, name="answer"))
    return fig


def cross_attention_heatmap(
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    weights: torch.Tensor | Sequence[Sequence[float]],
    *,
    title: str = "Where each output token looked in the source",
) -> go.Figure:
    """Encoder–decoder attention: row ``t`` is how output token ``t`` spread over the source.

    ``weights`` is ``(len(target_tokens), len(source_tokens))``, e.g. a translation's
    ``cross_attention`` averaged over heads. Introduced in chapter 13.
    """
    matrix = torch.as_tensor(weights, dtype=torch.float32).detach().cpu()
    sources = [plotly_text(token) for token in source_tokens]
    targets = [plotly_text(token) for token in target_tokens]
    if not sources or not targets or matrix.shape != (len(targets), len(sources)):
        raise InputError(
            f"weights must be (target, source) = ({len(targets)}, {len(sources)}) for "
            f"{len(targets)} target and {len(sources)} source tokens (both non-empty); got "
            f"shape {tuple(matrix.shape)}."
        )
    if not torch.isfinite(matrix).all():
        raise InputError("attention weights must be finite numbers.")
    fig = labelled_heatmap(
        matrix,
        targets,
        sources,
        x_title="source token (read by the encoder)",
        y_title="output token (written by the decoder)",
        hovertemplate=(
            "writing %{customdata[0]}<br>looked at %{customdata[1]}"
            "<br>weight %{z:.3f}<extra></extra>"
        ),
        zmax=1.0,
        colorbar_title="weight",
        title=title,
    )
    fig.update_layout(
        height=max(340, 26 * len(targets) + 220), margin={"t": 150},
        title={"y": 0.99, "yanchor": "top"},
    )  # fmt: skip
    return fig


def faq_matches(
    questions: Sequence[str],
    scores: Sequence[float],
    threshold: float,
    *,
    title: str = "Closest FAQ questions",
) -> go.Figure:
    """The top matches' cosine scores, best on top, with the "I don't know" threshold as a line.

    Bars at or above ``threshold`` are blue (answerable), the others grey. Built on
    :func:`lmkit.viz.search.search_scores_bar`. Introduced in chapter 13.
    """
    if not is_number(threshold) or not -1.0 <= threshold <= 1.0:
        raise InputError(f"threshold must be a cosine score in -1..1, got {threshold!r}.")
    values = [float(s) for s in scores]
    if any(not math.isfinite(v) for v in values):
        raise InputError("scores must be finite numbers.")
    fig = search_scores_bar(questions, values, title=title)
    fig.update_traces(
        marker={"color": ["#4C78A8" if v >= threshold else "#BBBBBB" for v in values]}
    )
    fig.add_vline(
        x=threshold, line={"dash": "dash", "color": "#d62728", "width": 2},
        annotation_text=f"don't know below {threshold:.2f}", annotation_position="top",
    )  # fmt: skip
    fig.update_xaxes(range=[min(0.0, threshold, *values), 1.0])
    fig.update_layout(height=fig.layout.height + 40)  # room for the line's label
    return fig
