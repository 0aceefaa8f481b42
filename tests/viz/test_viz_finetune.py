"""Chapter 12 figures: fine-tuning comparison and LoRA rank cost."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from lmkit.errors import InputError
from lmkit.viz.finetune import finetune_comparison, lora_rank_cost


def test_comparison_has_one_bar_per_run_in_each_panel():
    runs = [
        {
            "name": "full",
            "trainable": 1000,
            "optimizer_bytes": 8000,
            "seconds": 2.0,
            "val_loss": 1.0,
        },
        {"name": "r=1", "trainable": 10, "optimizer_bytes": 80, "seconds": 1.5, "val_loss": 1.4},
    ]
    fig = finetune_comparison(runs)
    assert isinstance(fig, go.Figure) and len(fig.data) == 2
    assert list(fig.data[0].y) == [1000, 10] and list(fig.data[1].y) == [1.0, 1.4]
    assert "7.8 KiB" in fig.data[0].hovertext[0]
    with pytest.raises(InputError, match="lacks"):
        finetune_comparison([{"name": "x"}])


def test_rank_cost_lines():
    fig = lora_rank_cost([1, 2], [10, 20], 100)
    assert list(fig.data[0].y) == [10, 20] and list(fig.data[1].y) == [100, 100]
    with pytest.raises(InputError):
        lora_rank_cost([], [], 1)
