"""The reliability diagram draws the bins it is given and refuses empty input."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch

from lmkit.basics.calibration import expected_calibration_error, reliability_bins
from lmkit.errors import InputError
from lmkit.viz.calibration import reliability_diagram


def _probs(n: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, 2, generator=gen) * 3, -1)
    labels = torch.randint(0, 2, (n,), generator=gen)
    return probs, labels


def test_bars_are_the_non_empty_bins_and_the_title_gives_the_ece():
    probs, labels = _probs()
    bins = reliability_bins(probs, labels, n_bins=10)
    fig = reliability_diagram(bins)
    assert isinstance(fig, go.Figure)
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert len(bars) == 1
    kept = [a for n, a in zip(bins.counts, bins.accuracy, strict=True) if n]
    assert list(bars[0].y) == pytest.approx(kept)
    ece = expected_calibration_error(probs, labels, n_bins=10)
    assert f"{ece:.3f}" in fig.layout.title.text


def test_two_sets_side_by_side():
    probs, labels = _probs()
    first = reliability_bins(probs, labels, n_bins=5)
    second = reliability_bins(torch.softmax(probs.log() / 2, -1), labels, n_bins=5)
    fig = reliability_diagram({"T = 1": first, "T = 2": second})
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert [b.name for b in bars] == ["T = 1: accuracy", "T = 2: accuracy"]
    assert bars[0].x[0] < bars[1].x[0]  # offset within the bin
    assert "T = 1" in fig.layout.title.text and "T = 2" in fig.layout.title.text


def test_rejects_wrong_input():
    with pytest.raises(InputError):
        reliability_diagram({})
    with pytest.raises(InputError):
        reliability_diagram([1, 2, 3])  # type: ignore[arg-type]
