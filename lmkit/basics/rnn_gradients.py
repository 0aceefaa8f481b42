"""Gradient flow through time: why a plain RNN forgets and an LSTM remembers.

Introduced in chapter 5. A gradient from step T back to step T-k passes through the Jacobian
``∂h_T/∂h_{T-k}``, a product of k one-step Jacobians; its norm shrinks or grows roughly like the
k-th power of the recurrent matrix's spectral radius. These functions measure that on the
hand-written cells of :mod:`lmkit.basics.rnn_cells`.
"""

from __future__ import annotations

import math

import torch

from lmkit.basics.rnn_cells import (
    GATES,
    GRUCell,
    LSTMCell,
    RNNCell,
    _Cell,
    _check_float_tensor,
)
from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int

__all__ = ["gradient_vs_distance", "hidden_jacobian_norms", "spectral_radius"]

_CELL_TYPES = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}


def spectral_radius(matrix: torch.Tensor) -> float:
    """The largest absolute eigenvalue of a square matrix (how fast repeated products grow)."""
    if (
        not isinstance(matrix, torch.Tensor)
        or matrix.dim() != 2
        or matrix.shape[0] != matrix.shape[1]
    ):
        shape = tuple(matrix.shape) if isinstance(matrix, torch.Tensor) else type(matrix).__name__
        raise InputError(f"spectral_radius needs a square 2-D tensor, got {shape}.")
    return float(torch.linalg.eigvals(matrix.detach().double().cpu()).abs().max())


def hidden_jacobian_norms(cell: _Cell, inputs: torch.Tensor, state: object = None) -> torch.Tensor:
    """``norms[k] = ‖∂h_T/∂h_{T-k}‖_F`` for k = 0 … T-1, running ``cell`` over ``inputs`` (T, I).

    Entry k says how strongly the last hidden state still depends on the state k steps earlier,
    which is the factor every gradient from step T to step T-k passes through. ``norms[0]`` is
    the norm of the identity, √H. Introduced in chapter 5.
    """
    if not isinstance(cell, _Cell):
        raise InputError(
            f"cell must be an lmkit RNNCell, LSTMCell or GRUCell, got {type(cell).__name__}."
        )
    inputs = _check_float_tensor("inputs", inputs)
    if inputs.dim() != 2 or inputs.shape[1] != cell.input_size or inputs.shape[0] < 1:
        raise InputError(
            f"inputs must be one sequence of shape (seq_len >= 1, {cell.input_size}), got {tuple(inputs.shape)}."
        )
    with torch.enable_grad():
        _, current, _ = cell._prepare(inputs[0], state)
        hs = []
        for t in range(inputs.shape[0]):
            current = cell._step(inputs[t : t + 1], current, cell._weights())
            if not current[0].requires_grad:  # no parameter needs a gradient: track h anyway
                current = (current[0].detach().requires_grad_(), *current[1:])
            hs.append(current[0])  # (1, H)
        size = cell.hidden_size
        basis = torch.eye(size, dtype=hs[-1].dtype, device=hs[-1].device).unsqueeze(1)  # (H, 1, H)
        # One backward pass per output coordinate j gives row j of every Jacobian ∂h_T/∂h_t.
        grads = torch.autograd.grad(
            hs[-1], hs, grad_outputs=basis, is_grads_batched=True, allow_unused=True
        )
    norms = [g.norm() if g is not None else hs[-1].new_zeros(()) for g in grads]
    return torch.stack(norms).flip(0).detach()  # index = distance T - t


def gradient_vs_distance(
    kind: str = "rnn",
    seq_len: int = 50,
    *,
    hidden_size: int = 32,
    input_size: int = 8,
    radius: float | None = None,
    forget_bias: float | None = None,
    input_scale: float = 1.0,
    seed: int = 0,
) -> torch.Tensor:
    """``hidden_jacobian_norms`` of a fresh random ``kind`` cell on random inputs (float64).

    ``radius`` (RNN only) replaces W_hh by ``radius`` times a random orthogonal matrix, so its
    spectral radius and its largest singular value are both exactly ``radius``. ``forget_bias``
    (LSTM only) sets the forget gate's bias, e.g. 1 or 3 to make the cell remember by default.
    Introduced in chapter 5.
    """
    if kind not in GATES:
        raise ConfigError(f"kind must be one of {tuple(GATES)}, got {kind!r}.")
    seq_len = check_int("seq_len", seq_len, minimum=1)
    if radius is not None and (kind != "rnn" or not radius >= 0):
        raise ConfigError(
            f"radius must be a number >= 0 and only applies to kind='rnn', got {radius!r} for {kind!r}."
        )
    if forget_bias is not None and kind != "lstm":
        raise ConfigError(f"forget_bias only applies to kind='lstm', got kind={kind!r}.")
    gen = torch.Generator().manual_seed(seed)
    cell = _CELL_TYPES[kind](input_size, hidden_size).double()
    bound = 1.0 / math.sqrt(hidden_size)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_((torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2 - 1) * bound)
        if radius is not None:
            q, r = torch.linalg.qr(
                torch.randn(hidden_size, hidden_size, generator=gen, dtype=torch.float64)
            )
            cell.weight_hh.copy_(radius * q * torch.sign(torch.diagonal(r)))  # sign fix: uniform Q
        if forget_bias is not None:
            cell.bias_ih[hidden_size : 2 * hidden_size] = (
                forget_bias  # the f rows (order i, f, g, o)
            )
            cell.bias_hh[hidden_size : 2 * hidden_size] = 0.0
    inputs = torch.randn(seq_len, input_size, generator=gen, dtype=torch.float64) * input_scale
    return hidden_jacobian_norms(cell, inputs)
