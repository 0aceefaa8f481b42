"""Chapter 4 figures: curves and loss-surface contours carry the right numbers."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lmkit.basics.optimizers import elongated_quadratic, rosenbrock
from lmkit.errors import InputError
from lmkit.viz.optim import function_curves, loss_surface


def _json(fig):
    return json.loads(fig.to_json())


def test_function_curves_one_line_per_curve_with_values():
    x = torch.linspace(-2, 2, 5)
    fig = _json(
        function_curves(x, {"sigmoid": torch.sigmoid(x), "tanh": torch.tanh(x)}, dashed=["tanh"])
    )
    traces = {t["name"]: t for t in fig["data"]}
    assert traces["sigmoid"]["x"] == pytest.approx(x.tolist())
    assert traces["sigmoid"]["y"] == pytest.approx(torch.sigmoid(x).tolist())
    assert traces["tanh"]["line"]["dash"] == "dash" and "dash" not in traces["sigmoid"].get(
        "line", {}
    )


def test_function_curves_rejects_bad_input():
    with pytest.raises(InputError, match="empty"):
        function_curves([1, 2], {})
    with pytest.raises(InputError, match="has 3 values"):
        function_curves([1, 2], {"a": [1, 2, 3]})


def test_loss_surface_grid_equals_the_function_and_paths_are_drawn():
    path = torch.tensor([[-1.0, 1.0], [0.0, 0.5], [1.0, 1.0]])
    fig = _json(
        loss_surface(rosenbrock, (-2, 2), (-1, 3), {"adam": path}, resolution=9, minimum=(1.0, 1.0))
    )
    contour = fig["data"][0]
    xs, ys, z = contour["x"], contour["y"], contour["z"]
    assert len(xs) == len(ys) == 9 and len(z) == 9 and len(z[0]) == 9
    for row in (0, 4, 8):  # z[row][col] is the loss at (xs[col], ys[row]) on a log scale
        for col in (0, 3, 8):
            value = rosenbrock(torch.tensor([xs[col], ys[row]])).item()
            assert z[row][col] == pytest.approx(math.log10(1 + value), rel=1e-6)
    traces = {t.get("name"): t for t in fig["data"]}
    assert traces["adam"]["x"] == [-1.0, 0.0, 1.0] and traces["adam"]["y"] == [1.0, 0.5, 1.0]
    assert traces["minimum"]["x"] == [1.0]


def test_loss_surface_linear_scale():
    fig = _json(loss_surface(elongated_quadratic, (-1, 1), (-1, 1), resolution=3, log_scale=False))
    z = fig["data"][0]["z"]
    assert z[1][1] == 0 and z[0][0] == pytest.approx(0.5 * (1 + 10))


def test_loss_surface_rejects_bad_input():
    with pytest.raises(InputError, match="low < high"):
        loss_surface(rosenbrock, (1, -1), (0, 1))
    with pytest.raises(InputError, match=r"\(N, 2\)"):
        loss_surface(rosenbrock, (-1, 1), (-1, 1), {"bad": torch.zeros(3)})
    with pytest.raises(InputError, match="resolution"):
        loss_surface(rosenbrock, (-1, 1), (-1, 1), resolution=1)
