"""Chapter 8 scaling figure: one line per model size at x = 6·N·D, bad runs rejected."""

from __future__ import annotations

import json

import pytest

from lmkit.errors import InputError
from lmkit.viz.scaling import scaling_sweep


def test_scaling_sweep_one_line_per_size_at_six_n_d():
    runs = [
        {"n_params": 100, "n_tokens": 2000, "val_loss": 2.0},
        {"n_params": 100, "n_tokens": 1000, "val_loss": 3.0},
        {"n_params": 400, "n_tokens": 1000, "val_loss": 2.5},
    ]
    fig = json.loads(scaling_sweep(runs).to_json())
    lines = {t["name"]: t for t in fig["data"]}
    assert set(lines) == {"N = 100", "N = 400"}
    assert lines["N = 100"]["x"] == [600_000, 1_200_000]  # sorted by tokens
    assert lines["N = 100"]["y"] == [3.0, 2.0]
    assert "D/N=20" in lines["N = 100"]["text"][1]
    assert fig["layout"]["xaxis"]["type"] == "log"


@pytest.mark.parametrize(
    "runs",
    [[], [{"n_params": 10, "val_loss": 1.0}], [{"n_params": 0, "n_tokens": 5, "val_loss": 1}]],
)
def test_scaling_sweep_rejects_bad_runs(runs):
    with pytest.raises(InputError):
        scaling_sweep(runs)
