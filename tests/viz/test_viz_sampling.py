"""The sampling figures: a distribution before/after a filter, and a sweep of statistics."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch

from lmkit.decoding.sampling import top_k_filter
from lmkit.errors import InputError
from lmkit.viz.sampling import decoding_sweep, distribution_shift


def test_distribution_shift_shows_filtered_tokens_at_zero():
    logits = torch.tensor([3.0, 2.0, 1.0, 0.0, -1.0])
    fig = distribution_shift(logits, top_k_filter(logits, 2), lambda i: f"<t{i}>", top=4)
    assert isinstance(fig, go.Figure)
    before, after = fig.data
    assert list(before.y) == pytest.approx(torch.softmax(logits, -1)[:4].tolist())
    assert after.y[2] == 0 and after.y[3] == 0 and sum(after.y) == pytest.approx(1.0)
    assert "&lt;t0&gt;" in fig.layout.xaxis.ticktext[0]  # escaped for plotly
    assert "2 of 5 tokens" in fig.layout.title.text


def test_distribution_shift_survives_a_broken_label_and_accepts_a_row():
    logits = torch.randn(1, 6)

    def broken(_i):
        raise KeyError

    fig = distribution_shift(logits, logits / 2, broken, top=3)
    assert fig.layout.xaxis.ticktext[0].startswith("#")


@pytest.mark.parametrize(
    "before, after",
    [(torch.zeros(3), torch.zeros(4)), (torch.zeros(2, 3), torch.zeros(2, 3)),
     ([1.0], [1.0]), (torch.tensor([float("nan"), 0.0]), torch.zeros(2))],
)  # fmt: skip
def test_distribution_shift_rejects_bad_logits(before, after):
    with pytest.raises(InputError):
        distribution_shift(before, after, str)


def test_decoding_sweep_draws_one_line_per_series_and_checks_lengths():
    fig = decoding_sweep([0.5, 1.0], {"distinct-2": [0.2, 0.6], "grammar": [1.0, 0.9]})
    assert [t.name for t in fig.data] == ["distinct-2", "grammar"]
    assert list(fig.data[0].x) == [0.5, 1.0]
    with pytest.raises(InputError, match="2 values"):
        decoding_sweep([1, 2, 3], {"a": [0.1, 0.2]})
    with pytest.raises(InputError):
        decoding_sweep([], {})
