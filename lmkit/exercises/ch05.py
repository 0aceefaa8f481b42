"""Chapter 5 exercises: one step of an RNN, an LSTM and a GRU, an F1 score, a gradient bound.

The step exercises use PyTorch's weight layout (rows of ``W_ih`` stacked gate by gate, in the
order i, f, g, o for the LSTM and r, z, n for the GRU) so a reader's answer can be compared
with ``torch.nn.LSTMCell`` and ``torch.nn.GRUCell`` on fresh random weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lmkit.exercises.core import Case, Exercise, register


class _Recorded:
    """A reference that remembers the inputs of the case being checked.

    ``diagnose`` only receives (expected, got); with the inputs at hand it can recompute the
    answers that typical mistakes produce and name the one the reader made.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.last_args: tuple = ()
        self.__name__ = getattr(fn, "__name__", "reference")

    def __call__(self, *args: Any) -> Any:
        self.last_args = args
        return self.fn(*args)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(map(_same, a, b))
    return (
        isinstance(b, torch.Tensor)
        and a.shape == b.shape
        and torch.allclose(a.double(), b.detach().double(), rtol=1e-4, atol=1e-5)
    )


def _first_match(got: Any, candidates: dict[str, Any]) -> str | None:
    for message, value in candidates.items():
        if _same(value, got):
            return message
    return None


def _step_cases(gates: int, separate_biases: bool) -> Callable[[torch.Generator], list[Case]]:
    """Random (x, h, [c,] W_ih, W_hh, biases) with input size != hidden size, batch 1 to 4."""

    def make(gen: torch.Generator) -> list[Case]:
        cases = []
        for batch, inp, hid in ((1, 3, 2), (4, 5, 3), (2, 2, 6)):
            x = torch.randn(batch, inp, generator=gen)
            h = torch.randn(batch, hid, generator=gen) * 0.5
            w_ih = torch.randn(gates * hid, inp, generator=gen) * 0.7
            w_hh = torch.randn(gates * hid, hid, generator=gen) * 0.7
            b_ih = torch.randn(gates * hid, generator=gen) * 0.5
            args: tuple = (x, h)
            if gates == 4:
                args += (torch.randn(batch, hid, generator=gen),)  # c
            args += (w_ih, w_hh, b_ih)
            if separate_biases:
                args += (torch.randn(gates * hid, generator=gen) * 0.5,)
            cases.append(Case(args, f"batch {batch}, input size {inp}, hidden size {hid}"))
        return cases

    return make


# ----------------------------------------------------------------------------- RNN step
def _rnn_reference(x, h, w_x, w_h, b):
    return torch.tanh(x @ w_x.T + h @ w_h.T + b)


_rnn = _Recorded(_rnn_reference)


def _rnn_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    x, h, w_x, w_h, b = _rnn.last_args
    pre = x @ w_x.T + h @ w_h.T + b
    return _first_match(
        got,
        {
            "you returned the pre-activation: apply tanh to W_h h + W_x x + b.": pre,
            "you used a sigmoid; the Elman RNN squashes with tanh, into (-1, 1).": torch.sigmoid(
                pre
            ),
            "you used ReLU; this exercise (and torch.nn.RNN's default) uses tanh.": torch.relu(pre),
            "the bias b is missing.": torch.tanh(pre - b),
            "the recurrent term W_h h is missing: without it the network has no memory.": torch.tanh(
                x @ w_x.T + b
            ),
        },
    )


register(
    Exercise(
        id="ch05.rnn_step",
        title="one step of an Elman RNN",
        kind="function",
        reference=_rnn,
        make_cases=_step_cases(1, separate_biases=False),
        hints=(
            "Rows are examples: W_x xₜ becomes x @ W_x.T, W_h hₜ₋₁ becomes h @ W_h.T; add b and apply torch.tanh.",
        ),
        diagnose=_rnn_diagnose,
        tags=("rnn",),
    )
)


# ----------------------------------------------------------------------------- LSTM step
def _lstm_parts(x, h, c, w_ih, w_hh, b):
    gates = x @ w_ih.T + h @ w_hh.T + b
    return gates.chunk(4, dim=-1)


def _lstm_reference(x, h, c, w_ih, w_hh, b):
    i, f, g, o = _lstm_parts(x, h, c, w_ih, w_hh, b)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


_lstm = _Recorded(_lstm_reference)


def _lstm_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    x, h, c, w_ih, w_hh, b = _lstm.last_args
    pre_i, pre_f, pre_g, pre_o = _lstm_parts(x, h, c, w_ih, w_hh, b)
    i, g, o = torch.sigmoid(pre_i), torch.tanh(pre_g), torch.sigmoid(pre_o)
    h_ok, c_ok = expected
    mixed = i * g + (1 - i) * c  # the GRU-style interpolation of the seed article
    no_forget = c + i * g
    # Order i, f, o, g: the third block read as the output gate, the fourth as the candidate.
    o_swapped, g_swapped = torch.sigmoid(pre_g), torch.tanh(pre_o)
    c_order = torch.sigmoid(pre_f) * c + i * g_swapped
    return _first_match(
        got,
        {
            "you returned (c, h); return the hidden state first: (h_new, c_new).": (c_ok, h_ok),
            "you blended old and new memory as i*c̃ + (1-i)*c, a GRU-style interpolation; the LSTM "
            "has a separate forget gate: c = f*c + i*c̃.": (o * torch.tanh(mixed), mixed),
            "the forget gate is missing: c = f*c + i*c̃, not c + i*c̃.": (
                o * torch.tanh(no_forget),
                no_forget,
            ),
            "h must squash the cell first: h = o * tanh(c_new), not o * c_new.": (o * c_ok, c_ok),
            "the gate order is wrong: PyTorch stacks the rows as i, f, g (candidate), o; you used "
            "i, f, o, g.": (o_swapped * torch.tanh(c_order), c_order),
        },
    )


register(
    Exercise(
        id="ch05.lstm_step",
        title="one LSTM step returning (h, c)",
        kind="function",
        reference=_lstm,
        make_cases=_step_cases(4, separate_biases=False),
        hints=(
            "gates = x @ W_ih.T + h @ W_hh.T + b; i, f, g, o = gates.chunk(4, dim=-1); sigmoid for "
            "i, f, o, tanh for g; c = f*c + i*g; h = o*tanh(c).",
        ),
        diagnose=_lstm_diagnose,
        tags=("lstm",),
    )
)


# ----------------------------------------------------------------------------- GRU step
def _gru_parts(x, h, w_ih, w_hh, b_ih, b_hh):
    x_r, x_z, x_n = (x @ w_ih.T + b_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    return r, z, x_n, h_n


def _gru_reference(x, h, w_ih, w_hh, b_ih, b_hh):
    r, z, x_n, h_n = _gru_parts(x, h, w_ih, w_hh, b_ih, b_hh)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


_gru = _Recorded(_gru_reference)


def _gru_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    x, h, w_ih, w_hh, b_ih, b_hh = _gru.last_args
    r, z, x_n, h_n = _gru_parts(x, h, w_ih, w_hh, b_ih, b_hh)
    hid = h.shape[-1]
    n = torch.tanh(x_n + r * h_n)
    w_hn, b_hn = w_hh[2 * hid :], b_hh[2 * hid :]
    n_before = torch.tanh(x_n + (r * h) @ w_hn.T + b_hn)
    n_bias_out = torch.tanh(x_n + r * (h @ w_hn.T) + b_hn)
    return _first_match(
        got,
        {
            "you used the textbook form z*n + (1-z)*h. PyTorch's z is the share of the OLD state "
            "that is kept: h_new = (1-z)*n + z*h.": z * n + (1 - z) * h,
            "you reset h before the matrix product (Cho et al.'s original form). PyTorch multiplies "
            "r with (W_hn h + b_hn) after it: n = tanh(W_in x + b_in + r*(W_hn h + b_hn)).": (1 - z)
            * n_before
            + z * h,
            "b_hn must sit inside the reset: r*(W_hn h + b_hn), not r*(W_hn h) + b_hn.": (1 - z)
            * n_bias_out
            + z * h,
            "the reset gate is missing from the candidate n.": (1 - z) * torch.tanh(x_n + h_n)
            + z * h,
        },
    )


register(
    Exercise(
        id="ch05.gru_step",
        title="one GRU step in PyTorch's convention",
        kind="function",
        reference=_gru,
        make_cases=_step_cases(3, separate_biases=True),
        hints=(
            "Chunk x @ W_ih.T + b_ih and h @ W_hh.T + b_hh into (r, z, n) parts; r and z are "
            "sigmoids of the sums; n = tanh(x_n + r * h_n); h_new = (1 - z) * n + z * h.",
        ),
        diagnose=_gru_diagnose,
        tags=("gru",),
    )
)


# ----------------------------------------------------------------------------- F1 of one class
# A spam filter on 200 messages; rows are the true class, columns the predicted one:
#                predicted ham   predicted spam
#   true ham          120              10
#   true spam          25              45
_TP, _FP, _FN, _TN = 45, 10, 25, 120


def _spam_f1() -> float:
    precision, recall = _TP / (_TP + _FP), _TP / (_TP + _FN)
    return 2 * precision * recall / (precision + recall)


def _f1_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    try:
        value = float(got)
    except (TypeError, ValueError):
        return "give one number between 0 and 1."
    precision, recall = _TP / (_TP + _FP), _TP / (_TP + _FN)
    ham_p, ham_r = _TN / (_TN + _FN), _TN / (_TN + _FP)
    ham_f1 = 2 * ham_p * ham_r / (ham_p + ham_r)
    known = {
        "that is the accuracy (all correct / all messages), not the F1 of the spam class.": (
            _TP + _TN
        )
        / 200,
        "that is the precision of the spam class; F1 also needs its recall.": precision,
        "that is the recall of the spam class; F1 also needs its precision.": recall,
        "that is the plain (arithmetic) mean of precision and recall; F1 is their harmonic mean, "
        "2PR/(P+R).": (precision + recall) / 2,
        "that is the F1 of the ham class; the question asks about spam (the second row and column).": ham_f1,
        "that is the macro F1 (the mean over both classes); the question asks about spam only.": (
            ham_f1 + expected
        )
        / 2,
    }
    for message, wrong in known.items():
        if abs(value - wrong) < 1e-3:
            return message
    if value > 1:
        return "an F1 score lies between 0 and 1; give a fraction, not a percentage."
    return None


register(
    Exercise(
        id="ch05.spam_f1",
        title="the F1 score of the spam class from a confusion matrix",
        kind="value",
        reference=_spam_f1,
        rtol=1e-3,
        atol=1e-3,
        hints=("precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2PR / (P + R).",),
        diagnose=_f1_diagnose,
        tags=("metrics",),
    )
)


# ----------------------------------------------------------------------------- gradient bound
# W_h = 0.5 * Q with Q orthogonal, tanh activation: each step multiplies the Jacobian by
# diag(1 - h²) W_h, whose largest singular value is at most 0.5.
_RADIUS, _DISTANCE = 0.5, 10


def _bound() -> float:
    return _RADIUS**_DISTANCE


def _bound_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    try:
        value = float(got)
    except (TypeError, ValueError):
        return "give one number."
    off_by_one = "off by one step: there are exactly 10 Jacobian factors between h_{T-10} and h_T."
    known = [
        ("you multiplied 0.5 by 10; the factor applies once per step, so it is a power.", 5.0),
        (off_by_one, _RADIUS ** (_DISTANCE - 1)),
        (off_by_one, _RADIUS ** (_DISTANCE + 1)),
        ("that is the spectral radius of one step, not of ten steps in a row.", _RADIUS),
    ]
    for message, wrong in known:
        if abs(value - wrong) <= 1e-3 * abs(wrong):
            return message
    return None


register(
    Exercise(
        id="ch05.gradient_bound",
        title="an upper bound on ‖∂h_T/∂h_{T-10}‖₂ when W_h = 0.5·Q",
        kind="value",
        reference=_bound,
        rtol=1e-3,
        atol=1e-7,
        hints=(
            "∂h_T/∂h_t is a product of T - t factors diag(1 - h²) W_h; bound each factor's norm.",
        ),
        diagnose=_bound_diagnose,
        tags=("gradients",),
    )
)
