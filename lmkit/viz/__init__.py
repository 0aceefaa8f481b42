"""Plotly figures shared by the chapters and the app, one module per topic.

Every function returns a ``plotly.graph_objects.Figure`` and nothing else: no ``show()``, no
Streamlit, no widgets, so the same figure renders in a notebook, in the app, or as JSON in tests.
Figures carry their data inline and need no network to render.
"""

from lmkit.viz.attention_flow import generation_attention_heatmap
from lmkit.viz.core import TEMPLATE, attention_grid, attention_heatmap, loss_curve
from lmkit.viz.decoding import beam_tree, next_token_bars, token_confidence
from lmkit.viz.saliency import class_probabilities, token_saliency
from lmkit.viz.search import search_map, search_scores_bar

__all__ = [
    "TEMPLATE",
    "attention_grid",
    "attention_heatmap",
    "beam_tree",
    "class_probabilities",
    "generation_attention_heatmap",
    "loss_curve",
    "next_token_bars",
    "search_map",
    "search_scores_bar",
    "token_confidence",
    "token_saliency",
]
