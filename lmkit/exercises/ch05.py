"""Chapter 5 exercises: build the pieces of a recurrent language model. Gradient clipping by the
global norm, one LSTM step, the whole LSTM loop over time, one GRU step, and an F1 score.

Introduced in chapter 5. The LSTM and GRU exercises use PyTorch's weight layout (rows of
``W_ih`` stacked gate by gate, in the order i, f, g, o for the LSTM and r, z, n for the GRU) so
a reader's answer can be compared with ``torch.nn.LSTM``, ``torch.nn.LSTMCell`` and
``torch.nn.GRUCell`` on fresh random weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lmkit.exercises.core import Case, Exercise, register
from lmkit.exercises.feedback import matching_slip


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


# ----------------------------------------------------------------------------- gradient clipping
def _clip(grads, max_norm, *, per_tensor=False, always=False, norm_sum=False):
    """Clipping by the global norm, with switches that reproduce the usual slips."""
    norms = [g.norm() for g in grads]
    total = sum(norms) if norm_sum else torch.stack(norms).square().sum().sqrt()
    if per_tensor:
        return [
            g * min(1.0, max_norm / float(n)) for g, n in zip(grads, norms, strict=True)
        ], float(total)
    scale = max_norm / float(total) if always else min(1.0, max_norm / float(total))
    return [g * scale for g in grads], float(total)


def _clip_reference(grads, max_norm):
    return _clip(grads, max_norm)


def _clip_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, shapes, max_norm in (
        ("one 3x4 gradient, clipped", [(3, 4)], 1.0),
        ("a matrix, a vector and a scalar, clipped", [(4, 5), (5,), ()], 2.0),
        ("two gradients already below the threshold", [(2, 3), (3,)], 100.0),
    ):
        grads = [torch.randn(shape, generator=gen, dtype=torch.float64) * 2 for shape in shapes]
        cases.append(Case((grads, max_norm), label))
    return cases


def _clip_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2 or not isinstance(got[0], (tuple, list)):
        return None
    grads, max_norm = args
    slips = [
        (dict(per_tensor=True), "each tensor was clipped on its own; clipping uses one global norm, "
         "√(Σ_i ‖g_i‖²), and one scale for all tensors, so the gradient keeps its direction."),
        (dict(always=True), "a small gradient was scaled up: the scale is min(1, τ/‖g‖), which never enlarges."),
        (dict(norm_sum=True), "the global norm is √(Σ_i ‖g_i‖²) over all entries, not the sum of the norms Σ_i ‖g_i‖."),
    ]  # fmt: skip
    for switch, text in slips:
        wrong, _ = _clip(grads, max_norm, **switch)
        same_as_right = all(torch.equal(w, e) for w, e in zip(wrong, expected[0], strict=True))
        if (
            not same_as_right
            and len(wrong) == len(got[0])
            and all(matching_slip(g, [(w, "same")]) for g, w in zip(got[0], wrong, strict=True))
        ):
            return text
    if matching_slip(got[1], [(min(float(expected[1]), max_norm), "after")]):
        return "return the norm *before* clipping (as torch.nn.utils.clip_grad_norm_ does)."
    return None


register(
    Exercise(
        id="ch05.clip_grad_norm",
        title="clip a list of gradients by their global norm",
        kind="function",
        reference=_clip_reference,
        make_cases=_clip_cases,
        hints=(
            "total = √(Σ_i (g_i ** 2).sum()); scale = min(1, max_norm / total); return "
            "([g * scale for g in grads], total).",
        ),
        diagnose=_clip_diagnose,
        tags=("gradients",),
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


def _lstm_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    x, h, c, w_ih, w_hh, b = args
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
        reference=_lstm_reference,
        make_cases=_step_cases(4, separate_biases=False),
        hints=(
            "gates = x @ W_ih.T + h @ W_hh.T + b; i, f, g, o = gates.chunk(4, dim=-1); sigmoid for "
            "i, f, o, tanh for g; c = f*c + i*g; h = o*tanh(c).",
        ),
        diagnose=_lstm_diagnose,
        tags=("lstm",),
    )
)


# ----------------------------------------------------------------------------- the LSTM loop
def _lstm_reference_layer(x, h0, c0, weights):
    layer = torch.nn.LSTM(x.shape[-1], h0.shape[-1]).to(x.dtype)
    layer.load_state_dict({f"{name}_l0": value for name, value in weights.items()})
    with torch.no_grad():
        outputs, (h_n, c_n) = layer(x, (h0[None], c0[None]))
    return outputs, (h_n[0], c_n[0])


def _lstm_loop(x, h0, c0, w, *, reset=False, carry_c=True, both_biases=True, emit="h"):
    """The loop with switches that reproduce the usual slips."""
    b = w["bias_ih"] + (w["bias_hh"] if both_biases else 0)
    h, c, outputs = h0, c0, []
    for x_t in x:
        if reset:
            h, c = h0, c0
        h, c_new = _lstm_reference(x_t, h, c, w["weight_ih"], w["weight_hh"], b)
        c = c_new if carry_c else c0
        outputs.append(h if emit == "h" else c_new)
    return torch.stack(outputs), (h, c)


def _forward_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for steps, batch, inp, hid in ((3, 1, 2, 3), (6, 2, 4, 5), (9, 3, 3, 2)):
        d = torch.float64
        weights = {
            "weight_ih": torch.randn(4 * hid, inp, generator=gen, dtype=d) * 0.7,
            "weight_hh": torch.randn(4 * hid, hid, generator=gen, dtype=d) * 0.7,
            "bias_ih": torch.randn(4 * hid, generator=gen, dtype=d) * 0.5,
            "bias_hh": torch.randn(4 * hid, generator=gen, dtype=d) * 0.5,
        }
        args = (
            torch.randn(steps, batch, inp, generator=gen, dtype=d),
            torch.randn(batch, hid, generator=gen, dtype=d) * 0.5,
            torch.randn(batch, hid, generator=gen, dtype=d),
            weights,
        )
        cases.append(Case(args, f"{steps} steps, batch {batch}, input {inp}, hidden {hid}"))
    return cases


def _forward_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return None
    slips = [
        (dict(reset=True), "the state was reset to (h0, c0) at every step: carry h and c forward."),
        (
            dict(carry_c=False),
            "h is carried but c is not: the cell state is the LSTM's memory, feed c_t into step t + 1.",
        ),
        (
            dict(both_biases=False),
            "bias_hh is missing: PyTorch adds both biases, bias_ih + bias_hh.",
        ),
        (dict(emit="c"), "the outputs are the cell states; the LSTM outputs h_t at every step."),
    ]
    return matching_slip(got[0], [(_lstm_loop(*args, **switch)[0], text) for switch, text in slips])


register(
    Exercise(
        id="ch05.lstm_forward",
        title="an LSTM over a whole sequence, equal to torch.nn.LSTM",
        kind="function",
        reference=_lstm_reference_layer,
        make_cases=_forward_cases,
        rtol=1e-7,
        atol=1e-9,
        hints=(
            "h, c = h0, c0; for each x_t in x (time first): gates = x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh, "
            "chunk into i, f, g, o, update c then h, keep h; return (torch.stack(outputs), (h, c)).",
        ),
        diagnose=_forward_diagnose,
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


def _gru_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    x, h, w_ih, w_hh, b_ih, b_hh = args
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
        reference=_gru_reference,
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
