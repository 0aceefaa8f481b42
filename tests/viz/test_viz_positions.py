"""Position-encoding figures carry the right numbers, recomputed independently here."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lmkit.errors import ConfigError, InputError
from lmkit.viz.positions import (
    position_similarity,
    rotary_relative_scores,
    sinusoid_waves,
    sinusoidal_heatmap,
)


def _json(fig):
    return json.loads(fig.to_json())


def _table(max_len, dim, base=10000.0):
    """The 2017 formula written out element by element, independent of lmkit.nn.positional."""
    rows = []
    for p in range(max_len):
        row = []
        for j in range(dim):
            angle = p / base ** ((j - j % 2) / dim)
            row.append(math.sin(angle) if j % 2 == 0 else math.cos(angle))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float64)


def test_sinusoidal_heatmap_holds_the_table():
    fig = _json(sinusoidal_heatmap(12, 10, base=100.0))
    trace = fig["data"][0]
    z = torch.tensor(trace["z"], dtype=torch.float64)
    assert z.shape == (12, 10)
    assert torch.allclose(z, _table(12, 10, base=100.0), atol=1e-6)
    assert trace["zmin"] == -1 and trace["zmax"] == 1
    assert "12 positions × 10 dimensions" in fig["layout"]["title"]["text"]


def test_sinusoid_waves_one_line_per_dimension_with_its_wavelength():
    fig = _json(sinusoid_waves(30, 16, dims=(0, 3, 8)))
    reference = _table(30, 16)
    assert len(fig["data"]) == 3
    for trace, d in zip(fig["data"], (0, 3, 8), strict=True):
        assert torch.allclose(
            torch.tensor(trace["y"], dtype=torch.float64), reference[:, d], atol=1e-6
        )
        wavelength = 2 * math.pi * 10000 ** ((d - d % 2) / 16)
        assert f"wavelength {wavelength:.3g}" in trace["name"]
    assert "cos" in fig["data"][1]["name"] and "sin" in fig["data"][0]["name"]


def test_position_similarity_is_the_gram_matrix_and_constant_along_diagonals():
    table = _table(20, 16).float()
    fig = _json(position_similarity(table))
    gram = torch.tensor(fig["data"][0]["z"], dtype=torch.float64)
    assert torch.allclose(gram, table.double() @ table.double().T, atol=1e-4)
    # sinusoidal: PE[p]·PE[s] = Σ cos(ω(p−s)) depends only on p − s
    for offset in range(-5, 6):
        diagonal = torch.diagonal(gram, offset)
        assert torch.allclose(diagonal, diagonal[0].expand_as(diagonal), atol=1e-3)


def test_rotary_scores_depend_only_on_distance_and_match_complex_rotation():
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(8, generator=gen), torch.randn(8, generator=gen)
    fig = _json(rotary_relative_scores(q, k, starts=(0, 7, 30), max_distance=10, base=100.0))
    rotary = fig["data"][:3]
    added = fig["data"][3:]
    assert len(added) == 3 and all(t["line"]["dash"] == "dash" for t in added)

    # Independent reference: pairs (i, i + D/2) as complex numbers turned by angle pos·θ_i.
    half = 4
    theta = 100.0 ** (-torch.arange(0, 8, 2, dtype=torch.float64) / 8)

    def rotate(x, pos):
        z = torch.complex(x[:half].double(), x[half:].double()) * torch.exp(1j * pos * theta)
        return torch.cat((z.real, z.imag))

    for trace, p in zip(rotary, (0, 7, 30), strict=True):
        expected = [float(rotate(q, p) @ rotate(k, p + d)) for d in range(11)]
        assert trace["x"] == list(range(11))
        assert torch.allclose(
            torch.tensor(trace["y"], dtype=torch.float64),
            torch.tensor(expected, dtype=torch.float64),
            atol=1e-4,
        )
    first = torch.tensor(rotary[0]["y"])
    assert all(torch.allclose(torch.tensor(t["y"]), first, atol=1e-4) for t in rotary)
    # Added (absolute) encodings do depend on where the query sits.
    table = _table(41, 8, base=100.0)
    for trace, p in zip(added, (0, 7, 30), strict=True):
        expected = [float((q.double() + table[p]) @ (k.double() + table[p + d])) for d in range(11)]
        assert torch.allclose(
            torch.tensor(trace["y"], dtype=torch.float64),
            torch.tensor(expected, dtype=torch.float64),
            atol=1e-4,
        )
    assert not torch.allclose(torch.tensor(added[0]["y"]), torch.tensor(added[2]["y"]), atol=1e-2)
    only_rotary = _json(rotary_relative_scores(q, k, absolute=False))
    assert len(only_rotary["data"]) == 3


def test_bad_input_raises_clear_errors():
    with pytest.raises(ConfigError, match="max_len"):
        sinusoidal_heatmap(0, 8)
    with pytest.raises(ConfigError, match="base"):
        sinusoidal_heatmap(8, 8, base=1.0)
    with pytest.raises(InputError, match="dims"):
        sinusoid_waves(10, 8, dims=(8,))
    with pytest.raises(InputError, match="dims is empty"):
        sinusoid_waves(10, 8, dims=())
    with pytest.raises(InputError, match="2-D float"):
        position_similarity(torch.zeros(3, 4, 5))
    with pytest.raises(InputError, match="2-D float"):
        position_similarity([[1.0]])
    q = torch.randn(6)
    with pytest.raises(InputError, match="same size"):
        rotary_relative_scores(q, torch.randn(4))
    with pytest.raises(InputError, match="even"):
        rotary_relative_scores(torch.randn(5), torch.randn(5))
    with pytest.raises(InputError, match="1-D float"):
        rotary_relative_scores(torch.randn(2, 6), q)
    with pytest.raises(InputError, match="start"):
        rotary_relative_scores(q, q, starts=(-1,))
    with pytest.raises(InputError, match="starts is empty"):
        rotary_relative_scores(q, q, starts=())
    with pytest.raises(ConfigError, match="max_distance"):
        rotary_relative_scores(q, q, max_distance=0)
