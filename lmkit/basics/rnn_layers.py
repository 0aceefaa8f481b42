"""Recurrent layers: RNN, LSTM and GRU cells run over whole sequences, stacked in layers.

Introduced in chapter 5. Drop-in, unidirectional versions of ``torch.nn.RNN/LSTM/GRU`` built on
the step functions of :mod:`lmkit.basics.rnn_cells`: the same parameter names (``weight_ih_l0``
…), shapes, gate order and initialisation, so a state dict moves between the two unchanged.
Layer k reads layer k-1's outputs; ``lengths`` handles right-padded batches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.basics.rnn_cells import (
    NONLINEARITIES,
    State,
    _check_float_tensor,
    _check_torch_type,
    _Weights,
)
from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int, is_number

__all__ = ["GRU", "LSTM", "RNN"]


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
        self.input_size = check_int("input_size", input_size, minimum=1)
        self.hidden_size = check_int("hidden_size", hidden_size, minimum=1)
        self.num_layers = check_int("num_layers", num_layers, minimum=1)
        if not is_number(dropout) or not 0 <= dropout < 1:
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
