"""Position encodings against independent computations of their formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lmkit.errors import ConfigError, InputError
from lmkit.nn.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    sinusoidal_table,
)


# ------------------------------------------------------------------------------- sinusoidal
def numpy_sinusoid(max_len: int, dim: int) -> np.ndarray:
    """The formula of Vaswani et al. (2017), section 3.5, one entry at a time."""
    table = np.zeros((max_len, dim))
    for pos in range(max_len):
        for j in range(dim):
            i = j // 2
            angle = pos / np.power(10000.0, 2 * i / dim)
            table[pos, j] = np.sin(angle) if j % 2 == 0 else np.cos(angle)
    return table


@pytest.mark.parametrize("dim", [16, 7])
def test_sinusoidal_matches_numpy_formula(dim):
    expected = numpy_sinusoid(50, dim)
    module = SinusoidalPositionalEncoding(50, dim)
    assert np.allclose(module(50).numpy(), expected, atol=1e-6)
    assert np.allclose(sinusoidal_table(50, dim).numpy(), expected, atol=1e-6)


def test_sinusoidal_offset_selects_later_rows_and_is_not_saved():
    module = SinusoidalPositionalEncoding(40, 8)
    assert torch.equal(module(5, offset=30), torch.as_tensor(numpy_sinusoid(40, 8)[30:35]).float())
    assert module.state_dict() == {}  # recomputed, never stored in checkpoints
    assert list(module.parameters()) == []


# --------------------------------------------------------------------------------- learned
def test_learned_embedding_is_a_trainable_slice():
    torch.manual_seed(0)
    module = LearnedPositionalEmbedding(20, 6)
    out = module(4, offset=3)
    assert torch.equal(out, module.weight[3:7])
    out.sum().backward()
    grad = module.weight.grad
    assert torch.all(grad[3:7] == 1) and torch.all(grad[:3] == 0) and torch.all(grad[7:] == 0)
    assert abs(module.weight.std().item() - 0.02) < 0.01


@pytest.mark.parametrize("cls", [LearnedPositionalEmbedding, SinusoidalPositionalEncoding])
def test_table_encodings_reject_positions_out_of_range(cls):
    module = cls(10, 4)
    with pytest.raises(InputError, match="beyond max_len=10"):
        module(4, offset=8)
    with pytest.raises(InputError, match="seq_len must be an integer >= 0, got -1"):
        module(-1)
    with pytest.raises(InputError, match="offset"):
        module(2, offset=1.5)


@pytest.mark.parametrize("cls", [LearnedPositionalEmbedding, SinusoidalPositionalEncoding])
def test_table_encodings_reject_bad_sizes(cls):
    with pytest.raises(ConfigError, match="max_len"):
        cls(0, 4)
    with pytest.raises(ConfigError, match="dim"):
        cls(4, 2.5)


def test_sinusoidal_rejects_bad_base():
    with pytest.raises(ConfigError, match="base"):
        SinusoidalPositionalEncoding(8, 4, base=0.5)


# ---------------------------------------------------------------------------------- rotary
def complex_rope(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """RoPE as complex multiplication: pair (x_i, x_{i+D/2}) is the number x_i + j·x_{i+D/2}."""
    d = x.shape[-1]
    half = d // 2
    z = torch.complex(x[..., :half].double(), x[..., half:].double())
    theta = torch.tensor([base ** (-2 * i / d) for i in range(half)], dtype=torch.float64)
    rotation = torch.polar(
        torch.ones(len(positions), half, dtype=torch.float64),
        positions.double()[:, None] * theta[None, :],
    )
    turned = z * rotation
    return torch.cat((turned.real, turned.imag), dim=-1).to(x.dtype)


def test_rotary_matches_complex_number_implementation():
    torch.manual_seed(0)
    rope = RotaryEmbedding(16, 64)
    q, k = torch.randn(2, 3, 10, 16), torch.randn(2, 3, 10, 16)
    q_rot, k_rot = rope(q, k, offset=7)
    positions = torch.arange(7, 17)
    assert torch.allclose(q_rot, complex_rope(q, positions), atol=1e-5)
    assert torch.allclose(k_rot, complex_rope(k, positions), atol=1e-5)


def test_rotary_score_depends_only_on_relative_position():
    torch.manual_seed(0)
    rope = RotaryEmbedding(8, 128)
    q, k = torch.randn(1, 8), torch.randn(1, 8)

    def score(q_pos: int, k_pos: int) -> float:
        q_rot, _ = rope(q, q, offset=q_pos)
        _, k_rot = rope(k, k, offset=k_pos)
        return float(q_rot @ k_rot.T)

    for shift in (1, 17, 90):
        assert math.isclose(score(5, 2), score(5 + shift, 2 + shift), abs_tol=1e-4)
        assert math.isclose(score(3, 9), score(3 + shift, 9 + shift), abs_tol=1e-4)
    assert not math.isclose(score(5, 2), score(5, 4), abs_tol=1e-3)


def test_rotary_keeps_norms_and_position_zero_is_identity():
    torch.manual_seed(0)
    rope = RotaryEmbedding(12, 32)
    x = torch.randn(4, 12)
    rotated, _ = rope(x, x, offset=20)
    assert torch.allclose(rotated.norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    at_zero, _ = rope(x[:1], x[:1], offset=0)
    assert torch.allclose(at_zero, x[:1])


def test_rotary_offset_equals_slice_of_full_rotation():
    torch.manual_seed(0)
    rope = RotaryEmbedding(8, 32)
    q = torch.randn(2, 12, 8)
    full, _ = rope(q, q)
    tail, _ = rope(q[:, 5:], q[:, 5:], offset=5)
    assert torch.allclose(full[:, 5:], tail)


def test_rotary_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="even"):
        RotaryEmbedding(7, 16)
    with pytest.raises(ConfigError, match="base"):
        RotaryEmbedding(8, 16, base=float("inf"))
    with pytest.raises(ConfigError, match="max_len"):
        RotaryEmbedding(8, 0)
    rope = RotaryEmbedding(8, 16)
    with pytest.raises(InputError, match=r"\(\.\.\., T, 8\)"):
        rope(torch.zeros(2, 4, 6), torch.zeros(2, 4, 6))
    with pytest.raises(InputError, match="same T"):
        rope(torch.zeros(3, 8), torch.zeros(4, 8))
    with pytest.raises(InputError, match="beyond max_len=16"):
        rope(torch.zeros(5, 8), torch.zeros(5, 8), offset=12)
