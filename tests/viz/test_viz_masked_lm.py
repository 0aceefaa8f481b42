"""lmkit.viz.masked_lm: the fill-mask figure draws what fill_mask returns, in order."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

import lmkit
from lmkit.bert.mlm import MaskCandidate, fill_mask
from lmkit.errors import InputError
from lmkit.viz.masked_lm import fill_mask_bars


def test_one_panel_per_blank_most_likely_on_top():
    blanks = fill_mask(lmkit.load("tiny-bert"), "Tom went to the [MASK] with his [MASK].", top_k=4)
    fig = fill_mask_bars(blanks, text="Tom went to the [MASK] with his [MASK].")
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 2
    for trace, guesses in zip(fig.data, blanks, strict=True):
        assert list(trace.x) == [c.probability for c in guesses][::-1]
        assert trace.y[-1] == guesses[0].token.replace(" ", "␣") + " "  # most likely on top
    assert "Tom went" in fig.layout.title.text


def test_leading_space_is_visible_and_bad_input_is_refused():
    fig = fill_mask_bars([[MaskCandidate(" dog", 5, 0.5), MaskCandidate(" ", 6, 0.1)]])
    assert list(fig.data[0].y) == ["' ' ", "␣dog "]
    with pytest.raises(InputError):
        fill_mask_bars([])
    with pytest.raises(InputError):
        fill_mask_bars([[("dog", 0.5)]])
