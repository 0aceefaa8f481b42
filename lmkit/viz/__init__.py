"""Plotly figures shared by the chapters and the app, one module per topic.

Every function returns a ``plotly.graph_objects.Figure`` and nothing else: no ``show()``, no
Streamlit, no widgets, so the same figure renders in a notebook, in the app, or as JSON in tests.
Figures carry their data inline and need no network to render.
"""

from lmkit.viz.core import TEMPLATE, attention_grid, attention_heatmap, loss_curve

__all__ = ["TEMPLATE", "attention_grid", "attention_heatmap", "loss_curve"]
