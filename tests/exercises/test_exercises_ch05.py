"""Chapter 5 exercises: right answers pass, the typical wrong ones get their own explanation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lmkit.exercises import check


# ----------------------------------------------------------------------------- correct answers
def clip_grad_norm(grads, max_norm):
    """Answer through torch.nn.utils.clip_grad_norm_ on copies of the gradients."""
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad for p in params], float(total)


def lstm_forward(x, h0, c0, weights):
    """Answer built from torch.nn.LSTMCell, one step at a time."""
    cell = nn.LSTMCell(x.shape[-1], h0.shape[-1]).double()
    cell.load_state_dict(weights)
    h, c, outputs = h0, c0, []
    with torch.no_grad():
        for x_t in x:
            h, c = cell(x_t, (h, c))
            outputs.append(h)
    return torch.stack(outputs), (h, c)


def lstm_step(x, h, c, w_ih, w_hh, b):
    """Answer through torch.nn.LSTMCell: an independent implementation of the same step."""
    hidden = h.shape[-1]
    cell = nn.LSTMCell(x.shape[-1], hidden).to(x.dtype)
    with torch.no_grad():
        cell.weight_ih.copy_(w_ih)
        cell.weight_hh.copy_(w_hh)
        cell.bias_ih.copy_(b)
        cell.bias_hh.zero_()
        return cell(x, (h, c))


def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    cell = nn.GRUCell(x.shape[-1], h.shape[-1])
    with torch.no_grad():
        for name, value in zip(
            ("weight_ih", "weight_hh", "bias_ih", "bias_hh"), (w_ih, w_hh, b_ih, b_hh), strict=True
        ):
            getattr(cell, name).copy_(value)
        return cell(x, h)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("ch05.clip_grad_norm", clip_grad_norm),
        ("ch05.lstm_step", lstm_step),
        ("ch05.lstm_forward", lstm_forward),
        ("ch05.gru_step", gru_step),
    ],
)
def test_answers_built_on_torch_nn_pass(exercise, answer):
    assert check(exercise, answer, seed=0, quiet=True)
    assert check(exercise, answer, quiet=True)  # fresh random cases too


def test_value_answers_pass():
    # spam: TP = 45, FP = 10, FN = 25 -> P = 45/55, R = 45/70, F1 = 2TP / (2TP + FP + FN)
    assert check("ch05.spam_f1", 90 / 125, quiet=True)
    assert check("ch05.spam_f1", 0.72, quiet=True)


# ----------------------------------------------------------------------------- clipping mistakes
def _norm(grads):
    return float(torch.sqrt(sum((g**2).sum() for g in grads)))


def clip_each(grads, tau):
    return [g * min(1.0, tau / float(g.norm())) for g in grads], _norm(grads)


def clip_always(grads, tau):
    return [g * tau / _norm(grads) for g in grads], _norm(grads)


def clip_sum_of_norms(grads, tau):
    total = float(sum(g.norm() for g in grads))
    return [g * min(1.0, tau / total) for g in grads], total


def norm_after(grads, tau):
    clipped, total = clip_grad_norm(grads, tau)
    return clipped, min(total, tau)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (clip_each, "clipped on its own"),
        (clip_always, "scaled up"),
        (clip_sum_of_norms, "not the sum of the norms"),
        (norm_after, "*before* clipping"),
    ],
)
def test_clipping_mistakes_are_named(wrong, message):
    result = check("ch05.clip_grad_norm", wrong, seed=1, quiet=True)
    assert not result and message in result.message


# ----------------------------------------------------------------------------- LSTM mistakes
def _gates(x, h, w_ih, w_hh, b):
    return (x @ w_ih.T + h @ w_hh.T + b).chunk(4, dim=-1)


def lstm_gru_style(x, h, c, w_ih, w_hh, b):
    i, _f, g, o = _gates(x, h, w_ih, w_hh, b)
    i, g, o = torch.sigmoid(i), torch.tanh(g), torch.sigmoid(o)
    c_new = i * g + (1 - i) * c  # seed 003's interpolation
    return o * torch.tanh(c_new), c_new


def lstm_swapped_outputs(x, h, c, w_ih, w_hh, b):
    h_new, c_new = lstm_step(x, h, c, w_ih, w_hh, b)
    return c_new, h_new


def lstm_no_tanh(x, h, c, w_ih, w_hh, b):
    i, f, g, o = _gates(x, h, w_ih, w_hh, b)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * c_new, c_new


def lstm_order_ifog(x, h, c, w_ih, w_hh, b):
    i, f, o, g = _gates(x, h, w_ih, w_hh, b)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def lstm_no_forget(x, h, c, w_ih, w_hh, b):
    i, _f, g, o = _gates(x, h, w_ih, w_hh, b)
    c_new = c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lstm_gru_style, "GRU-style interpolation"),
        (lstm_swapped_outputs, "you returned (c, h)"),
        (lstm_no_tanh, "o * tanh(c_new)"),
        (lstm_order_ifog, "gate order is wrong"),
        (lstm_no_forget, "forget gate is missing"),
    ],
)
def test_lstm_mistakes_are_named(wrong, message):
    result = check("ch05.lstm_step", wrong, seed=2, quiet=True)
    assert not result and message in result.message


def test_lstm_returning_only_h_is_a_structure_error():
    result = check("ch05.lstm_step", lambda *a: lstm_step(*a)[0], seed=0, quiet=True)
    assert not result and "Expected a tuple of 2 items" in result.message


def _loop(x, h0, c0, w, *, reset=False, carry_c=True, bias_hh=True, emit_c=False):
    h, c, outputs = h0, c0, []
    for x_t in x:
        if reset:
            h, c = h0, c0
        b = w["bias_ih"] + (w["bias_hh"] if bias_hh else 0)
        h, c_new = lstm_step(x_t, h, c, w["weight_ih"], w["weight_hh"], b)
        c = c_new if carry_c else c0
        outputs.append(c_new if emit_c else h)
    return torch.stack(outputs), (h, c)


@pytest.mark.parametrize(
    ("switch", "message"),
    [
        ({"reset": True}, "reset to (h0, c0)"),
        ({"carry_c": False}, "c is not"),
        ({"bias_hh": False}, "bias_hh is missing"),
        ({"emit_c": True}, "outputs are the cell states"),
    ],
)
def test_lstm_loop_mistakes_are_named(switch, message):
    assert check("ch05.lstm_forward", _loop, seed=4, quiet=True)  # the switches' baseline is right
    result = check("ch05.lstm_forward", lambda *a: _loop(*a, **switch), seed=4, quiet=True)
    assert not result and message in result.message


def test_lstm_loop_returning_only_the_outputs_is_a_structure_error():
    result = check("ch05.lstm_forward", lambda *a: lstm_forward(*a)[0], seed=0, quiet=True)
    assert not result and "Expected a tuple" in result.message


# ----------------------------------------------------------------------------- GRU mistakes
def _gru_parts(x, h, w_ih, w_hh, b_ih, b_hh):
    x_r, x_z, x_n = (x @ w_ih.T + b_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
    return torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z), x_n, h_n


def gru_textbook(x, h, w_ih, w_hh, b_ih, b_hh):
    r, z, x_n, h_n = _gru_parts(x, h, w_ih, w_hh, b_ih, b_hh)
    n = torch.tanh(x_n + r * h_n)
    return z * n + (1 - z) * h


def gru_reset_before(x, h, w_ih, w_hh, b_ih, b_hh):
    r, z, x_n, _ = _gru_parts(x, h, w_ih, w_hh, b_ih, b_hh)
    hidden = h.shape[-1]
    n = torch.tanh(x_n + (r * h) @ w_hh[2 * hidden :].T + b_hh[2 * hidden :])
    return (1 - z) * n + z * h


def gru_bias_outside(x, h, w_ih, w_hh, b_ih, b_hh):
    r, z, x_n, h_n = _gru_parts(x, h, w_ih, w_hh, b_ih, b_hh)
    b_hn = b_hh[2 * h.shape[-1] :]
    n = torch.tanh(x_n + r * (h_n - b_hn) + b_hn)
    return (1 - z) * n + z * h


def gru_no_reset(x, h, w_ih, w_hh, b_ih, b_hh):
    _, z, x_n, h_n = _gru_parts(x, h, w_ih, w_hh, b_ih, b_hh)
    return (1 - z) * torch.tanh(x_n + h_n) + z * h


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (gru_textbook, "textbook form"),
        (gru_reset_before, "before the matrix product"),
        (gru_bias_outside, "b_hn must sit inside"),
        (gru_no_reset, "reset gate is missing"),
    ],
)
def test_gru_mistakes_are_named(wrong, message):
    result = check("ch05.gru_step", wrong, seed=3, quiet=True)
    assert not result and message in result.message


# ----------------------------------------------------------------------------- value mistakes
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (165 / 200, "accuracy"),
        (45 / 55, "precision of the spam class"),
        (45 / 70, "recall of the spam class"),
        ((45 / 55 + 45 / 70) / 2, "harmonic mean"),
        (72.0, "not a percentage"),
    ],
)
def test_f1_mistakes_are_named(value, message):
    result = check("ch05.spam_f1", value, quiet=True)
    assert not result and message in result.message
    assert "0.72" not in result.message  # never reveals the answer


def test_f1_of_the_other_class_and_macro_are_named():
    ham_p, ham_r = 120 / 145, 120 / 130
    ham_f1 = 2 * ham_p * ham_r / (ham_p + ham_r)
    assert "ham class" in check("ch05.spam_f1", ham_f1, quiet=True).message
    assert "macro F1" in check("ch05.spam_f1", (ham_f1 + 0.72) / 2, quiet=True).message


def test_stubs_fail_with_feedback_instead_of_raising():
    def stub(*args):
        return None

    for exercise in (
        "ch05.clip_grad_norm",
        "ch05.lstm_step",
        "ch05.lstm_forward",
        "ch05.gru_step",
    ):
        result = check(exercise, stub, seed=0, quiet=True)
        assert not result and "forget a `return`" in result.message
    assert not check("ch05.spam_f1", None, quiet=True)
