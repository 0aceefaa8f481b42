"""Recurrent cells written by hand: one time step of an RNN, an LSTM and a GRU.

Introduced in chapter 5. Parameter names, shapes and gate order are exactly those of
``torch.nn.RNNCell/LSTMCell/GRUCell``, so a state dict moves between the two unchanged and the
tests can demand equal outputs and gradients on the same random weights:

=====  ==========================  ===========================================================
cell   rows of ``weight_ih``       one step (``W`` = weight_ih, ``U`` = weight_hh)
=====  ==========================  ===========================================================
RNN    ``H``                       h = tanh(W x + b_ih + U h + b_hh)
LSTM   ``4H``: i, f, g, o          c = f*c + i*g;  h = o*tanh(c)
GRU    ``3H``: r, z, n             n = tanh(W_n x + b_in + r*(U_n h + b_hn));  h = (1-z)*n + z*h
=====  ==========================  ===========================================================

The GRU follows PyTorch's convention: ``z`` is the share of the *old* state that is kept, and
the reset gate multiplies ``U_n h + b_hn`` after the matrix product. Chapter 5 compares both
with the textbook form. The same step functions drive the multi-layer sequence versions in
:mod:`lmkit.basics.rnn_layers`, which also share the parameter handling of ``_Weights``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int

__all__ = [
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "gru_step",
    "lstm_step",
    "rnn_step",
]

State = tuple[torch.Tensor, ...]  # (h,) for RNN and GRU, (h, c) for LSTM
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
NONLINEARITIES = ("tanh", "relu")


# ----------------------------------------------------------------------------- one time step
# Each step splits in two: the input projection x W_ihᵀ + b_ih does not depend on the state, so
# the layers in rnn_layers compute it for all time steps in one matrix product; only the
# recurrent part (the ``_update`` functions) has to run step by step.
def _rnn_update(x_proj, h, weight_hh, bias_hh, nonlinearity="tanh"):
    pre = x_proj + F.linear(h, weight_hh, bias_hh)  # (B, H)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def _lstm_update(x_proj, state, weight_hh, bias_hh):
    h, c = state
    gates = x_proj + F.linear(h, weight_hh, bias_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.tanh(g)  # the candidate cell content, c̃ in the chapter
    c = f * c + i * g  # keep part of the old memory, write part of the new
    h = o * torch.tanh(c)  # show part of the memory to the next layer and step
    return h, c


def _gru_update(x_proj, h, weight_hh, bias_hh):
    x_r, x_z, x_n = x_proj.chunk(3, dim=-1)  # (B, H) each
    h_r, h_z, h_n = F.linear(h, weight_hh, bias_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)  # reset: how much of the old state the candidate may see
    z = torch.sigmoid(x_z + h_z)  # update: how much of the old state is kept
    n = torch.tanh(x_n + r * h_n)  # reset applied after the matrix product (and its bias)
    return (1 - z) * n + z * h


def rnn_step(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """One Elman RNN step: ``tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)``; x (B, I), h (B, H)."""
    return _rnn_update(F.linear(x, weight_ih, bias_ih), h, weight_hh, bias_hh, nonlinearity)


def lstm_step(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step; ``state`` is ``(h, c)``, each (B, H). Returns the new ``(h, c)``."""
    return _lstm_update(F.linear(x, weight_ih, bias_ih), state, weight_hh, bias_hh)


def gru_step(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One GRU step in PyTorch's convention; x (B, I), h (B, H). Returns the new h."""
    return _gru_update(F.linear(x, weight_ih, bias_ih), h, weight_hh, bias_hh)


# ----------------------------------------------------------------------------- validation
def _check_float_tensor(name: str, value: object) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(value).__name__}.")
    if not value.is_floating_point():
        raise InputError(
            f"{name} must be a floating-point tensor, got {value.dtype}. Token ids go through "
            "an nn.Embedding first; otherwise convert with .float()."
        )
    return value


def _check_torch_type(module: object, expected: type, ours: str) -> None:
    if type(module) is not expected:
        raise ConfigError(
            f"{ours}.load_from_torch expects a torch.nn.{expected.__name__}, "
            f"got {type(module).__name__}."
        )


class _Weights(nn.Module):
    """Shared parameter handling: torch.nn's names and its U(-1/√H, 1/√H) initialisation."""

    kind = "rnn"
    hidden_size: int

    def _make(self, suffix: str, in_size: int, bias: bool) -> None:
        rows = GATES[self.kind] * self.hidden_size
        self.register_parameter(f"weight_ih{suffix}", nn.Parameter(torch.empty(rows, in_size)))
        self.register_parameter(
            f"weight_hh{suffix}", nn.Parameter(torch.empty(rows, self.hidden_size))
        )
        for name in (f"bias_ih{suffix}", f"bias_hh{suffix}"):
            self.register_parameter(name, nn.Parameter(torch.empty(rows)) if bias else None)

    def reset_parameters(self) -> None:
        """Every weight and bias uniform in ±1/√hidden_size, as torch.nn does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _update(self, x_proj: torch.Tensor, state: State, weight_hh, bias_hh) -> State:
        """The recurrent half of one step, given the input projection ``x W_ihᵀ + b_ih``."""
        if self.kind == "lstm":
            return _lstm_update(x_proj, state, weight_hh, bias_hh)
        if self.kind == "gru":
            return (_gru_update(x_proj, state[0], weight_hh, bias_hh),)
        return (_rnn_update(x_proj, state[0], weight_hh, bias_hh, self.nonlinearity),)

    def _step(self, x: torch.Tensor, state: State, weights: Sequence) -> State:
        weight_ih, weight_hh, bias_ih, bias_hh = weights
        return self._update(F.linear(x, weight_ih, bias_ih), state, weight_hh, bias_hh)

    def _load(self, module: nn.Module, checks: dict[str, tuple[object, object]]) -> None:
        wrong = {k: v for k, v in checks.items() if v[0] != v[1]}
        if wrong:
            detail = ", ".join(f"{k}: ours {a!r}, theirs {b!r}" for k, (a, b) in wrong.items())
            raise ConfigError(
                f"The torch module does not match this {type(self).__name__}: {detail}."
            )
        with torch.no_grad():
            self.load_state_dict(module.state_dict())


# ----------------------------------------------------------------------------- cells
class _Cell(_Weights):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size = check_int("input_size", input_size, minimum=1)
        self.hidden_size = check_int("hidden_size", hidden_size, minimum=1)
        self.bias = bool(bias)
        self._make("", self.input_size, self.bias)
        self.reset_parameters()

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"

    def _prepare(self, x: object, state: object) -> tuple[torch.Tensor, State, bool]:
        x = _check_float_tensor("x", x)
        if x.dim() not in (1, 2) or x.shape[-1] != self.input_size:
            raise InputError(
                f"x must have shape (batch, {self.input_size}) or ({self.input_size},), "
                f"got {tuple(x.shape)}."
            )
        unbatched = x.dim() == 1
        x = x.unsqueeze(0) if unbatched else x  # (B, I)
        n = 2 if self.kind == "lstm" else 1
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_size)
            return x, (zeros,) * n, unbatched
        if self.kind == "lstm" and (not isinstance(state, (tuple, list)) or len(state) != 2):
            raise InputError("An LSTM state is a pair (h, c); pass both as a tuple, or None.")
        parts = tuple(state) if self.kind == "lstm" else (state,)
        want = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        for part in parts:
            part = _check_float_tensor("state", part)
            if tuple(part.shape) != want:
                raise InputError(
                    f"Each state tensor must have shape {want}, got {tuple(part.shape)}."
                )
        return x, tuple(p.unsqueeze(0) if unbatched else p for p in parts), unbatched

    def _weights(self) -> tuple:
        return (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)

    def load_from_torch(self, module: nn.Module) -> _Cell:
        """Copy the weights of the matching ``torch.nn.*Cell`` (same sizes and bias); return self."""
        _check_torch_type(module, self._torch_type, type(self).__name__)
        checks = {
            "input_size": (self.input_size, module.input_size),
            "hidden_size": (self.hidden_size, module.hidden_size),
            "bias": (self.bias, module.bias),
        }
        if self.kind == "rnn":
            checks["nonlinearity"] = (self.nonlinearity, module.nonlinearity)
        self._load(module, checks)
        return self


class RNNCell(_Cell):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh), like ``torch.nn.RNNCell``. Introduced in chapter 5."""

    kind = "rnn"
    _torch_type = nn.RNNCell

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"
    ) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ConfigError(
                f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}."
            )
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, I) or (I,); h (B, H), (H,) or None (zeros). Returns the new h."""
        x, state, unbatched = self._prepare(x, h)
        (h,) = self._step(x, state, self._weights())
        return h.squeeze(0) if unbatched else h


class LSTMCell(_Cell):
    """One LSTM step with gates in PyTorch's order i, f, g, o. Introduced in chapter 5."""

    kind = "lstm"
    _torch_type = nn.LSTMCell

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, I) or (I,); state ``(h, c)`` or None (zeros). Returns the new ``(h, c)``."""
        x, state, unbatched = self._prepare(x, state)
        h, c = self._step(x, state, self._weights())
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(_Cell):
    """One GRU step, PyTorch's convention (h' = (1-z)*n + z*h). Introduced in chapter 5."""

    kind = "gru"
    _torch_type = nn.GRUCell

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, I) or (I,); h (B, H), (H,) or None (zeros). Returns the new h."""
        x, state, unbatched = self._prepare(x, h)
        (h,) = self._step(x, state, self._weights())
        return h.squeeze(0) if unbatched else h
