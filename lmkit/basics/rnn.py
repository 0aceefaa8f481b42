"""Recurrent networks from scratch: RNN, LSTM and GRU cells, multi-layer sequence wrappers, and
two small models built on them (a token language model and a sequence classifier).

Introduced in chapter 5. Parameter names, shapes and gate order are exactly those of
``torch.nn.RNN/LSTM/GRU`` and their ``*Cell`` versions, so a state dict moves between the two
unchanged and the tests can demand equal outputs and gradients on the same random weights:

=====  ==========================  ===========================================================
cell   rows of ``weight_ih``       one step (``W`` = weight_ih, ``U`` = weight_hh)
=====  ==========================  ===========================================================
RNN    ``H``                       h = tanh(W x + b_ih + U h + b_hh)
LSTM   ``4H``: i, f, g, o          c = f*c + i*g;  h = o*tanh(c)
GRU    ``3H``: r, z, n             n = tanh(W_n x + b_in + r*(U_n h + b_hn));  h = (1-z)*n + z*h
=====  ==========================  ===========================================================

The GRU follows PyTorch's convention: ``z`` is the share of the *old* state that is kept, and
the reset gate multiplies ``U_n h + b_hn`` after the matrix product. Chapter 5 compares both
with the textbook form.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.decoding.sampling import sample_next_token
from lmkit.errors import ConfigError, InputError

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "RecurrentLM",
    "SequenceClassifier",
    "gradient_vs_distance",
    "gru_step",
    "hidden_jacobian_norms",
    "lstm_step",
    "rnn_step",
    "spectral_radius",
]

State = tuple[torch.Tensor, ...]  # (h,) for RNN and GRU, (h, c) for LSTM
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
NONLINEARITIES = ("tanh", "relu")


# ----------------------------------------------------------------------------- one time step
# Each step splits in two: the input projection x W_ihᵀ + b_ih does not depend on the state, so
# the sequence wrappers compute it for all time steps in one matrix product; only the
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
def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}.")
    return value


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
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
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


# ----------------------------------------------------------------------------- sequences
class _Recurrent(_Weights):
    """Runs a cell over time, layer after layer (layer k reads layer k-1's outputs)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        self.num_layers = _positive_int("num_layers", num_layers)
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not 0 <= dropout < 1
        ):
            raise ConfigError(f"dropout must be a number in [0, 1), got {dropout!r}.")
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        for layer in range(self.num_layers):
            self._make(f"_l{layer}", self.input_size if layer == 0 else self.hidden_size, self.bias)
        self.reset_parameters()

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"bias={self.bias}, batch_first={self.batch_first}, dropout={self.dropout}"
        )

    def layer_weights(self, layer: int) -> tuple:
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of one layer (biases None without bias)."""
        return tuple(
            getattr(self, f"{n}_l{layer}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        )

    def _initial_state(self, state: object, batch: int, unbatched: bool, like: torch.Tensor):
        n = 2 if self.kind == "lstm" else 1
        if state is None:
            zeros = like.new_zeros(self.num_layers, batch, self.hidden_size)
            return (zeros,) * n
        if self.kind == "lstm" and (not isinstance(state, (tuple, list)) or len(state) != 2):
            raise InputError("An LSTM state is a pair (h_0, c_0); pass both as a tuple, or None.")
        parts = tuple(state) if self.kind == "lstm" else (state,)
        want = (
            (self.num_layers, self.hidden_size)
            if unbatched
            else (self.num_layers, batch, self.hidden_size)
        )
        for part in parts:
            part = _check_float_tensor("state", part)
            if tuple(part.shape) != want:
                raise InputError(
                    f"Each initial state tensor must have shape {want} (num_layers, batch, "
                    f"hidden_size), got {tuple(part.shape)}."
                )
        return tuple(p.unsqueeze(1) if unbatched else p for p in parts)

    def _mask(self, lengths: object, steps: int, batch: int, device: torch.device):
        if lengths is None:
            return None
        lengths = torch.as_tensor(lengths)
        if lengths.is_floating_point() or lengths.shape != (batch,):
            raise InputError(
                f"lengths must be {batch} integers (one per sequence), got {lengths!r}."
            )
        if (lengths < 1).any() or (lengths > steps).any():
            raise InputError(
                f"Every length must be between 1 and the padded length {steps}, got {lengths.tolist()}."
            )
        return torch.arange(steps, device=device)[:, None] < lengths.to(device)[None, :]  # (T, B)

    def forward(self, input: torch.Tensor, state=None, lengths=None):
        """Run the whole sequence. Returns ``(output, h_n)``, or ``(output, (h_n, c_n))`` for LSTM.

        ``input`` is (T, B, I), (B, T, I) with ``batch_first``, or unbatched (T, I). ``output``
        holds the last layer's h at every step; ``h_n`` the final h of every layer,
        (num_layers, B, H). ``lengths`` (B,) marks right-padded sequences: their state stops
        changing after the last real step (like ``pack_padded_sequence``) and their outputs past
        it are 0.
        """
        x = _check_float_tensor("input", input)
        if x.dim() not in (2, 3) or x.shape[-1] != self.input_size:
            raise InputError(
                f"input must be (seq_len, batch, {self.input_size}) ((batch, seq_len, …) with "
                f"batch_first) or unbatched (seq_len, {self.input_size}); got {tuple(x.shape)}."
            )
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)  # (T, 1, I)
        elif self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        steps, batch = x.shape[0], x.shape[1]
        if steps == 0:
            raise InputError("input has no time steps (seq_len is 0).")
        initial = self._initial_state(state, batch, unbatched, x)
        mask = self._mask(lengths, steps, batch, x.device)
        finals = []
        for layer in range(self.num_layers):
            weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
            x_proj = F.linear(x, weight_ih, bias_ih)  # (T, B, G*H): every step in one product
            current: State = tuple(s[layer] for s in initial)  # (B, H) each
            outputs = []
            for t in range(steps):
                new = self._update(x_proj[t], current, weight_hh, bias_hh)
                if mask is not None:  # padded steps keep the old state and output 0
                    keep = mask[t].unsqueeze(-1)  # (B, 1)
                    new = tuple(torch.where(keep, a, b) for a, b in zip(new, current, strict=True))
                    outputs.append(torch.where(keep, new[0], 0.0))
                else:
                    outputs.append(new[0])
                current = new
            finals.append(current)
            x = torch.stack(outputs)  # (T, B, H)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        final = tuple(torch.stack([f[i] for f in finals]) for i in range(len(finals[0])))
        if unbatched:
            x, final = x.squeeze(1), tuple(f.squeeze(1) for f in final)
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, (final if self.kind == "lstm" else final[0])

    def load_from_torch(self, module: nn.Module) -> _Recurrent:
        """Copy the weights of the matching ``torch.nn.RNN/LSTM/GRU``; return self.

        Sizes, layers and bias must agree; bidirectional and projected LSTMs are not supported.
        """
        _check_torch_type(module, self._torch_type, type(self).__name__)
        if module.bidirectional or getattr(module, "proj_size", 0):
            raise ConfigError("Bidirectional RNNs and LSTMs with proj_size > 0 are not supported.")
        checks = {
            "input_size": (self.input_size, module.input_size),
            "hidden_size": (self.hidden_size, module.hidden_size),
            "num_layers": (self.num_layers, module.num_layers),
            "bias": (self.bias, module.bias),
        }
        if self.kind == "rnn":
            checks["nonlinearity"] = (self.nonlinearity, module.nonlinearity)
        self._load(module, checks)
        return self

    def to_torch(self) -> nn.Module:
        """The equivalent ``torch.nn`` module (fast cuDNN/oneDNN kernels) with these weights."""
        extra = {"nonlinearity": self.nonlinearity} if self.kind == "rnn" else {}
        module = self._torch_type(
            self.input_size,
            self.hidden_size,
            num_layers=self.num_layers,
            bias=self.bias,
            batch_first=self.batch_first,
            dropout=self.dropout,
            **extra,
        )
        first = next(self.parameters())
        module.to(device=first.device, dtype=first.dtype)
        with torch.no_grad():
            module.load_state_dict(self.state_dict())
        return module


class RNN(_Recurrent):
    """A multi-layer Elman RNN, drop-in for ``torch.nn.RNN`` (unidirectional). Introduced in chapter 5."""

    kind = "rnn"
    _torch_type = nn.RNN

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
    ) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ConfigError(
                f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}."
            )
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout)


class LSTM(_Recurrent):
    """A multi-layer LSTM, drop-in for ``torch.nn.LSTM`` (unidirectional). Introduced in chapter 5."""

    kind = "lstm"
    _torch_type = nn.LSTM


class GRU(_Recurrent):
    """A multi-layer GRU, drop-in for ``torch.nn.GRU`` (unidirectional). Introduced in chapter 5."""

    kind = "gru"
    _torch_type = nn.GRU


_SEQUENCE_TYPES = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
_CELL_TYPES = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}


# ----------------------------------------------------------------------------- gradient flow
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
    seq_len = _positive_int("seq_len", seq_len)
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


# ----------------------------------------------------------------------------- models
def _make_recurrent(
    cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float, backend: str
) -> nn.Module:
    if cell not in GATES:
        raise ConfigError(f"cell must be one of {tuple(GATES)}, got {cell!r}.")
    if backend not in ("lmkit", "torch"):
        raise ConfigError(
            f"backend must be 'lmkit' (the from-scratch loops) or 'torch' (torch.nn's fused kernels), got {backend!r}."
        )
    types = (
        _SEQUENCE_TYPES if backend == "lmkit" else {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
    )
    return types[cell](
        input_size, hidden_size, num_layers=num_layers, batch_first=True, dropout=dropout
    )


def _check_ids(idx: object, vocab_size: int) -> torch.Tensor:
    if not isinstance(idx, torch.Tensor) or idx.dtype not in (torch.int64, torch.int32):
        raise InputError(
            f"idx must be a LongTensor of token ids, got {getattr(idx, 'dtype', type(idx).__name__)}."
        )
    if idx.dim() != 2 or idx.shape[1] == 0:
        raise InputError(f"idx must have shape (batch, seq_len >= 1), got {tuple(idx.shape)}.")
    if idx.numel() and (idx.min() < 0 or idx.max() >= vocab_size):
        raise InputError(
            f"token ids must be in [0, {vocab_size}), got min {int(idx.min())}, max {int(idx.max())}."
        )
    return idx.long()


class RecurrentLM(nn.Module):
    """Next-token model: embedding → RNN/LSTM/GRU layers → linear head. Introduced in chapter 5.

    ``forward(idx, targets)`` returns ``(logits, loss)`` like :class:`lmkit.gpt.model.GPT`;
    :meth:`run` also hands back the recurrent state, which is all the model remembers.
    ``backend="torch"`` swaps in torch.nn's fused layer; the parameter names are the same, so a
    state dict trained with one backend loads into the other.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        *,
        embed_dim: int | None = None,
        dropout: float = 0.0,
        backend: str = "lmkit",
    ) -> None:
        super().__init__()
        self.vocab_size = _positive_int("vocab_size", vocab_size)
        embed_dim = _positive_int("embed_dim", hidden_size if embed_dim is None else embed_dim)
        self.cell, self.backend = cell, backend
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.rnn = _make_recurrent(
            cell,
            embed_dim,
            _positive_int("hidden_size", hidden_size),
            _positive_int("num_layers", num_layers),
            dropout,
            backend,
        )
        self.head = nn.Linear(hidden_size, vocab_size)

    def run(self, idx: torch.Tensor, state: object = None) -> tuple[torch.Tensor, object]:
        """Logits (B, T, V) for every position, and the state after the last one."""
        idx = _check_ids(idx, self.vocab_size)
        out, state = self.rnn(self.embed(idx), state)  # (B, T, H)
        return self.head(out), state

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """``(logits, loss)``; ``loss`` is the mean cross-entropy, or None without targets."""
        logits, _ = self.run(idx)
        if targets is None:
            return logits, None
        if not isinstance(targets, torch.Tensor) or targets.shape != idx.shape:
            raise InputError(
                f"targets must have the shape of idx {tuple(idx.shape)}, got {getattr(targets, 'shape', targets)!r}."
            )
        loss = F.cross_entropy(logits.reshape(-1, self.vocab_size), targets.reshape(-1).long())
        return logits, loss

    @torch.no_grad()
    def generate(
        self,
        prompt_ids: Sequence[int],
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> list[int]:
        """Continue ``prompt_ids`` by ``max_new_tokens`` sampled tokens (0 temperature = greedy).

        Each new token costs one recurrent step: the state carries the whole past.
        """
        ids = list(prompt_ids)
        if not ids:
            raise InputError("prompt_ids is empty: give at least one token to start from.")
        if (
            isinstance(max_new_tokens, bool)
            or not isinstance(max_new_tokens, int)
            or max_new_tokens < 0
        ):
            raise ConfigError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}.")
        was_training = self.training
        self.eval()
        device = self.head.weight.device
        logits, state = self.run(torch.tensor([ids], device=device))
        new: list[int] = []
        for _ in range(max_new_tokens):
            next_id = sample_next_token(
                logits[0, -1], temperature=temperature, top_k=top_k, generator=generator
            )
            new.append(int(next_id))
            logits, state = self.run(next_id.view(1, 1), state)
        self.train(was_training)
        return new


class SequenceClassifier(nn.Module):
    """Embedding → RNN/LSTM/GRU → the last real step's hidden state → one logit per class.

    Introduced in chapter 5. The head has ``num_classes`` outputs (not one per vocabulary word),
    and each sequence is summarised by its state after its *own* last token, so right padding
    does not change the prediction.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int = 2,
        *,
        embed_dim: int = 64,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
        dropout: float = 0.0,
        backend: str = "lmkit",
    ) -> None:
        super().__init__()
        self.vocab_size = _positive_int("vocab_size", vocab_size)
        self.num_classes = _positive_int("num_classes", num_classes)
        if self.num_classes < 2:
            raise ConfigError(f"A classifier needs at least 2 classes, got {num_classes}.")
        self.backend = backend
        self.embed = nn.Embedding(vocab_size, _positive_int("embed_dim", embed_dim))
        self.rnn = _make_recurrent(
            cell,
            embed_dim,
            _positive_int("hidden_size", hidden_size),
            _positive_int("num_layers", num_layers),
            dropout,
            backend,
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, num_classes) for right-padded ``ids`` (B, T) with true ``lengths`` (B,)."""
        ids = _check_ids(ids, self.vocab_size)
        x = self.embed(ids)  # (B, T, E)
        if lengths is not None:
            lengths = torch.as_tensor(lengths).cpu()
            if (
                lengths.shape != (ids.shape[0],)
                or lengths.is_floating_point()
                or (lengths < 1).any()
                or (lengths > ids.shape[1]).any()
            ):
                raise InputError(
                    f"lengths must hold one integer in [1, {ids.shape[1]}] per sequence, got {lengths.tolist()}."
                )
        if self.backend == "torch" and lengths is not None:
            x = nn.utils.rnn.pack_padded_sequence(
                x, lengths, batch_first=True, enforce_sorted=False
            )
            _, state = self.rnn(x)
        elif self.backend == "torch":
            _, state = self.rnn(x)
        else:
            _, state = self.rnn(x, lengths=lengths)
        h_n = state[0] if isinstance(state, tuple) else state  # (layers, B, H)
        return self.head(self.drop(h_n[-1]))  # (B, num_classes)
