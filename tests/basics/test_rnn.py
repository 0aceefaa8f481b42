"""lmkit.basics.rnn_*: the from-scratch cells and layers equal torch.nn's on the same random weights."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lmkit.basics import rnn_cells, rnn_gradients, rnn_layers, rnn_models
from lmkit.errors import ConfigError, InputError

DTYPE = torch.float64  # double precision: any real difference shows, rounding does not
TOL = {"rtol": 1e-10, "atol": 1e-12}

CELLS = [
    (rnn_cells.RNNCell, nn.RNNCell, {"nonlinearity": "tanh"}),
    (rnn_cells.RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    (rnn_cells.LSTMCell, nn.LSTMCell, {}),
    (rnn_cells.GRUCell, nn.GRUCell, {}),
]
LAYERS = [
    (rnn_layers.RNN, nn.RNN, {"nonlinearity": "tanh"}),
    (rnn_layers.RNN, nn.RNN, {"nonlinearity": "relu"}),
    (rnn_layers.LSTM, nn.LSTM, {}),
    (rnn_layers.GRU, nn.GRU, {}),
]


def _ids(cases):
    return [f"{ours.__name__}-{kw.get('nonlinearity', '')}" for ours, _, kw in cases]


def _pair(ours_type, torch_type, kwargs, *args, seed=0, **more):
    torch.manual_seed(seed)
    reference = torch_type(*args, **kwargs, **more).to(DTYPE)
    ours = ours_type(*args, **kwargs, **more).to(DTYPE).load_from_torch(reference)
    return ours, reference


def _assert_close(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_close(x, y)
    else:
        torch.testing.assert_close(a, b, **TOL)


def _grads(module, *tensors):
    return [p.grad.clone() for p in module.parameters()] + [t.grad.clone() for t in tensors]


def _loss(output):
    """A scalar that depends on every output with different weights, so no error can cancel."""
    flat = torch.cat([t.reshape(-1) for t in _flatten(output)])
    weights = torch.linspace(-1, 2, flat.numel(), dtype=flat.dtype)
    return (flat * weights).sum()


def _flatten(output):
    if isinstance(output, torch.Tensor):
        return [output]
    return [t for item in output for t in _flatten(item)]


# ----------------------------------------------------------------------------- cells
@pytest.mark.parametrize(("ours_type", "torch_type", "kwargs"), CELLS, ids=_ids(CELLS))
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_torch_forward_and_backward(ours_type, torch_type, kwargs, bias):
    ours, reference = _pair(ours_type, torch_type, kwargs, 5, 4, bias=bias, seed=1)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(3, 5, dtype=DTYPE, generator=gen)
    if torch_type is nn.LSTMCell:
        state = tuple(torch.randn(3, 4, dtype=DTYPE, generator=gen) for _ in range(2))
    else:
        state = torch.randn(3, 4, dtype=DTYPE, generator=gen)
    results = []
    for module in (ours, reference):
        xi = x.clone().requires_grad_()
        si = (
            tuple(s.clone().requires_grad_() for s in state)
            if isinstance(state, tuple)
            else state.clone().requires_grad_()
        )
        out = module(xi, si)
        _loss(out).backward()
        results.append((out, _grads(module, xi, *(si if isinstance(si, tuple) else (si,)))))
    _assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1], strict=True):
        _assert_close(a, b)


@pytest.mark.parametrize(("ours_type", "torch_type", "kwargs"), CELLS, ids=_ids(CELLS))
def test_cells_unbatched_and_default_state_match_torch(ours_type, torch_type, kwargs):
    ours, reference = _pair(ours_type, torch_type, kwargs, 3, 6, seed=3)
    x = torch.randn(3, dtype=DTYPE)
    _assert_close(ours(x), reference(x))
    xb = torch.randn(2, 3, dtype=DTYPE)
    _assert_close(ours(xb), reference(xb))


def test_step_functions_match_torch_cells():
    torch.manual_seed(4)
    x, h, c = torch.randn(2, 3), torch.randn(2, 5), torch.randn(2, 5)
    cell = nn.RNNCell(3, 5)
    torch.testing.assert_close(
        rnn_cells.rnn_step(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh),
        cell(x, h),
    )
    cell = nn.LSTMCell(3, 5)
    out = rnn_cells.lstm_step(x, (h, c), cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    for a, b in zip(out, cell(x, (h, c)), strict=True):
        torch.testing.assert_close(a, b)
    cell = nn.GRUCell(3, 5)
    torch.testing.assert_close(
        rnn_cells.gru_step(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh),
        cell(x, h),
    )


def test_cell_state_dict_moves_both_ways_unchanged():
    torch.manual_seed(5)
    ours = rnn_cells.LSTMCell(3, 4)
    reference = nn.LSTMCell(3, 4)
    assert set(ours.state_dict()) == set(reference.state_dict())
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3)
    for a, b in zip(ours(x), reference(x), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_cell_initialisation_follows_torch_bounds():
    cell = rnn_cells.GRUCell(7, 16)
    for p in cell.parameters():
        assert p.abs().max() <= 1 / 16**0.5
        assert p.std() > 0.1 / 16**0.5  # not all zeros or constant


# ----------------------------------------------------------------------------- layers
@pytest.mark.parametrize(("ours_type", "torch_type", "kwargs"), LAYERS, ids=_ids(LAYERS))
@pytest.mark.parametrize(
    ("num_layers", "batch_first", "with_state"),
    list(itertools.product([1, 3], [False, True], [False, True])),
)
def test_layers_match_torch_forward_and_backward(
    ours_type, torch_type, kwargs, num_layers, batch_first, with_state
):
    ours, reference = _pair(
        ours_type, torch_type, kwargs, 4, 5, num_layers=num_layers, batch_first=batch_first, seed=6
    )
    gen = torch.Generator().manual_seed(7)
    steps, batch = 6, 3
    shape = (batch, steps, 4) if batch_first else (steps, batch, 4)
    x = torch.randn(*shape, dtype=DTYPE, generator=gen)
    n_state = 2 if torch_type is nn.LSTM else 1
    state = [torch.randn(num_layers, batch, 5, dtype=DTYPE, generator=gen) for _ in range(n_state)]
    results = []
    for module in (ours, reference):
        xi = x.clone().requires_grad_()
        si = [s.clone().requires_grad_() for s in state]
        arg = (tuple(si) if n_state == 2 else si[0]) if with_state else None
        out = module(xi, arg)
        _loss(out).backward()
        results.append((out, _grads(module, xi, *(si if with_state else []))))
    _assert_close(results[0][0][0], results[1][0][0])  # output at every step
    _assert_close(results[0][0][1], results[1][0][1])  # final state(s) of every layer
    for a, b in zip(results[0][1], results[1][1], strict=True):
        _assert_close(a, b)


@pytest.mark.parametrize(("ours_type", "torch_type", "kwargs"), LAYERS, ids=_ids(LAYERS))
def test_layers_unbatched_and_without_bias_match_torch(ours_type, torch_type, kwargs):
    ours, reference = _pair(ours_type, torch_type, kwargs, 3, 4, num_layers=2, bias=False)
    x = torch.randn(5, 3, dtype=DTYPE)
    out, ref = ours(x), reference(x)
    _assert_close(out[0], ref[0])
    _assert_close(out[1], ref[1])


@pytest.mark.parametrize(("ours_type", "torch_type", "kwargs"), LAYERS, ids=_ids(LAYERS))
def test_lengths_match_pack_padded_sequence(ours_type, torch_type, kwargs):
    ours, reference = _pair(ours_type, torch_type, kwargs, 3, 4, num_layers=2, batch_first=True)
    x = torch.randn(4, 7, 3, dtype=DTYPE)
    lengths = torch.tensor([7, 2, 5, 1])
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref_packed, ref_state = reference(packed)
    ref_out, _ = nn.utils.rnn.pad_packed_sequence(ref_packed, batch_first=True)
    out, state = ours(x, lengths=lengths)
    _assert_close(out, ref_out)  # padded positions are 0 in both
    _assert_close(state, ref_state)


def test_padding_does_not_change_the_final_state():
    torch.manual_seed(8)
    layer = rnn_layers.LSTM(3, 4, batch_first=True)
    x = torch.randn(1, 4, 3)
    padded = torch.cat([x, torch.randn(1, 6, 3) * 100], dim=1)  # garbage after the real steps
    _, (h, c) = layer(x)
    _, (hp, cp) = layer(padded, lengths=torch.tensor([4]))
    torch.testing.assert_close(hp, h)
    torch.testing.assert_close(cp, c)


def test_state_dicts_are_interchangeable_and_to_torch_round_trips():
    torch.manual_seed(9)
    ours = rnn_layers.GRU(3, 5, num_layers=2, batch_first=True)
    reference = nn.GRU(3, 5, num_layers=2, batch_first=True)
    assert list(ours.state_dict()) == list(reference.state_dict())
    fast = ours.to_torch()
    assert type(fast) is nn.GRU and fast.batch_first
    x = torch.randn(2, 6, 3)
    for a, b in zip(ours(x), fast(x), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_dropout_acts_between_layers_only_in_training():
    torch.manual_seed(10)
    ours = rnn_layers.LSTM(3, 8, num_layers=2, dropout=0.5)
    reference = nn.LSTM(3, 8, num_layers=2, dropout=0.5)
    ours.load_from_torch(reference)
    x = torch.randn(5, 2, 3)
    ours.eval(), reference.eval()
    torch.testing.assert_close(ours(x)[0], reference(x)[0], rtol=1e-5, atol=1e-6)
    ours.train()
    assert not torch.allclose(ours(x)[0], ours.eval()(x)[0])


def test_layer_weights_are_torch_parameters():
    layer = rnn_layers.LSTM(3, 4, num_layers=2)
    w_ih, w_hh, b_ih, b_hh = layer.layer_weights(1)
    assert w_ih.shape == (16, 4) and w_hh.shape == (16, 4) and b_ih.shape == b_hh.shape == (16,)
    assert w_ih is layer.weight_ih_l1
    assert rnn_layers.RNN(3, 4, bias=False).layer_weights(0)[2] is None


# ----------------------------------------------------------------------------- gradient flow
def test_rnn_jacobian_norms_equal_the_product_formula():
    torch.manual_seed(11)
    cell = rnn_cells.RNNCell(3, 4).double()
    x = torch.randn(6, 3, dtype=DTYPE)
    norms = rnn_gradients.hidden_jacobian_norms(cell, x)
    hs, h = [], torch.zeros(1, 4, dtype=DTYPE)
    with torch.no_grad():
        for t in range(6):
            h = cell(x[t : t + 1], h)
            hs.append(h[0])
    # ∂h_T/∂h_t = Π_{k=t+1..T} diag(1 - h_k²) W_h, written out without autograd.
    for distance in range(6):
        jac = torch.eye(4, dtype=DTYPE)
        for k in range(6 - distance, 6):
            jac = torch.diag(1 - hs[k] ** 2) @ cell.weight_hh.detach() @ jac
        torch.testing.assert_close(norms[distance], jac.norm(), rtol=1e-10, atol=1e-12)


def test_lstm_jacobian_norms_match_autograd_functional():
    torch.manual_seed(12)
    cell = rnn_cells.LSTMCell(2, 3).double()
    x = torch.randn(5, 2, dtype=DTYPE)
    norms = rnn_gradients.hidden_jacobian_norms(cell, x)
    h = c = torch.zeros(1, 3, dtype=DTYPE)
    states = []
    for t in range(5):
        h, c = cell(x[t : t + 1], (h, c))
        states.append((h.detach(), c.detach()))
    for distance in (1, 3):
        t = 4 - distance
        c_t = states[t][1]

        def run_from(h_t, t=t, c_t=c_t):
            hh, cc = h_t.view(1, 3), c_t
            for k in range(t + 1, 5):
                hh, cc = cell(x[k : k + 1], (hh, cc))
            return hh.view(3)

        jac = torch.autograd.functional.jacobian(run_from, states[t][0].view(3))
        torch.testing.assert_close(norms[distance], jac.norm(), rtol=1e-10, atol=1e-12)
    assert norms[0].item() == pytest.approx(3**0.5)


def test_gradient_vs_distance_obeys_the_spectral_bound():
    for radius in (0.5, 0.9):
        norms = rnn_gradients.gradient_vs_distance("rnn", 30, hidden_size=8, radius=radius, seed=1)
        bound = torch.tensor([8**0.5 * radius**k for k in range(30)], dtype=DTYPE)
        assert (norms <= bound * (1 + 1e-9)).all()


def test_jacobian_norm_of_a_state_resting_at_zero_is_exactly_radius_power():
    # Zero input and bias keep h at 0, where tanh' = 1: every factor is W_h = 2Q itself.
    cell = rnn_cells.RNNCell(2, 8).double()
    q, _ = torch.linalg.qr(torch.randn(8, 8, dtype=DTYPE))
    with torch.no_grad():
        cell.weight_hh.copy_(2.0 * q)
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
    norms = rnn_gradients.hidden_jacobian_norms(cell, torch.zeros(25, 2, dtype=DTYPE))
    expected = torch.tensor([8**0.5 * 2.0**k for k in range(25)], dtype=DTYPE)
    torch.testing.assert_close(norms, expected, rtol=1e-10, atol=0)


def test_forget_bias_makes_the_lstm_remember():
    plain = rnn_gradients.gradient_vs_distance("lstm", 40, forget_bias=0.0, seed=2)
    remembering = rnn_gradients.gradient_vs_distance("lstm", 40, forget_bias=3.0, seed=2)
    assert remembering[30] > 100 * plain[30]
    again = rnn_gradients.gradient_vs_distance("lstm", 40, forget_bias=0.0, seed=2)
    torch.testing.assert_close(plain, again, rtol=0, atol=0)


def test_spectral_radius_matches_eigenvalues():
    torch.manual_seed(13)
    m = torch.randn(6, 6)
    expected = max(abs(complex(v)) for v in torch.linalg.eigvals(m.double()).tolist())
    assert rnn_gradients.spectral_radius(m) == pytest.approx(expected)
    assert rnn_gradients.spectral_radius(torch.diag(torch.tensor([0.5, -2.0]))) == pytest.approx(
        2.0
    )


# ----------------------------------------------------------------------------- models
def test_recurrent_lm_loss_and_backends_agree():
    torch.manual_seed(14)
    ours = rnn_models.RecurrentLM(11, 8, num_layers=2, cell="gru", embed_dim=6)
    fast = rnn_models.RecurrentLM(11, 8, num_layers=2, cell="gru", embed_dim=6, backend="torch")
    fast.load_state_dict(ours.state_dict())
    idx, targets = torch.randint(0, 11, (3, 7)), torch.randint(0, 11, (3, 7))
    logits, loss = ours(idx, targets)
    assert logits.shape == (3, 7, 11)
    manual = -torch.log_softmax(logits, -1).gather(-1, targets[..., None]).mean()
    torch.testing.assert_close(loss, manual)
    torch.testing.assert_close(fast(idx, targets)[1], loss, rtol=1e-5, atol=1e-6)
    assert ours(idx)[1] is None


def test_recurrent_lm_greedy_generation_equals_rerunning_the_prefix():
    torch.manual_seed(15)
    model = rnn_models.RecurrentLM(9, 12, cell="lstm")
    new = model.generate([1, 2, 3], 6, temperature=0)
    ids = [1, 2, 3]
    for _ in range(6):  # without a carried state: the whole prefix again each time
        logits, _ = model(torch.tensor([ids]))
        ids.append(int(logits[0, -1].argmax()))
    assert new == ids[3:]
    assert model.training  # generate restores the mode


def test_recurrent_lm_learns_a_repeating_pattern():
    torch.manual_seed(16)
    model = rnn_models.RecurrentLM(4, 16, cell="lstm")
    data = torch.tensor([[0, 1, 2, 3] * 6])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        _, loss = model(data[:, :-1], data[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1  # uniform guessing would be log 4 ≈ 1.39
    assert model.generate([0], 8, temperature=0) == [1, 2, 3, 0, 1, 2, 3, 0]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_classifier_has_one_output_per_class_and_ignores_padding(cell):
    torch.manual_seed(17)
    model = rnn_models.SequenceClassifier(20, 3, embed_dim=5, hidden_size=6, cell=cell).eval()
    assert model.head.out_features == 3
    ids = torch.randint(1, 20, (2, 4))
    padded = torch.cat([ids, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    logits = model(ids)
    assert logits.shape == (2, 3)
    torch.testing.assert_close(model(padded, torch.tensor([4, 4])), logits)
    fast = rnn_models.SequenceClassifier(
        20, 3, embed_dim=5, hidden_size=6, cell=cell, backend="torch"
    )
    fast.load_state_dict(model.state_dict())
    lengths = torch.tensor([4, 2])
    torch.testing.assert_close(
        fast.eval()(padded, lengths), model(padded, lengths), rtol=1e-5, atol=1e-6
    )


# ----------------------------------------------------------------------------- bad input
def test_bad_configuration_is_rejected():
    with pytest.raises(ConfigError, match="hidden_size"):
        rnn_cells.LSTMCell(3, 0)
    with pytest.raises(ConfigError, match="nonlinearity"):
        rnn_layers.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ConfigError, match="dropout"):
        rnn_layers.GRU(3, 4, dropout=1.0)
    with pytest.raises(ConfigError, match="num_layers"):
        rnn_layers.LSTM(3, 4, num_layers=0)
    with pytest.raises(ConfigError, match="cell must be one of"):
        rnn_models.RecurrentLM(5, cell="transformer")
    with pytest.raises(ConfigError, match="backend"):
        rnn_models.SequenceClassifier(5, backend="jax")
    with pytest.raises(ConfigError, match="at least 2 classes"):
        rnn_models.SequenceClassifier(5, 1)
    with pytest.raises(ConfigError, match="kind must be"):
        rnn_gradients.gradient_vs_distance("transformer")
    with pytest.raises(ConfigError, match="radius"):
        rnn_gradients.gradient_vs_distance("lstm", radius=0.5)
    with pytest.raises(ConfigError, match="forget_bias"):
        rnn_gradients.gradient_vs_distance("gru", forget_bias=1.0)


def test_load_from_torch_rejects_mismatches():
    with pytest.raises(ConfigError, match=r"expects a torch\.nn\.LSTMCell"):
        rnn_cells.LSTMCell(3, 4).load_from_torch(nn.GRUCell(3, 4))
    with pytest.raises(ConfigError, match="hidden_size: ours 4, theirs 5"):
        rnn_layers.GRU(3, 4).load_from_torch(nn.GRU(3, 5))
    with pytest.raises(ConfigError, match="num_layers"):
        rnn_layers.LSTM(3, 4).load_from_torch(nn.LSTM(3, 4, num_layers=2))
    with pytest.raises(ConfigError, match="nonlinearity"):
        rnn_cells.RNNCell(3, 4).load_from_torch(nn.RNNCell(3, 4, nonlinearity="relu"))
    with pytest.raises(ConfigError, match="Bidirectional"):
        rnn_layers.LSTM(3, 4).load_from_torch(nn.LSTM(3, 4, bidirectional=True))


def test_bad_inputs_are_rejected():
    cell, layer = rnn_cells.LSTMCell(3, 4), rnn_layers.GRU(3, 4)
    with pytest.raises(InputError, match=r"shape \(batch, 3\)"):
        cell(torch.randn(2, 5))
    with pytest.raises(InputError, match="floating-point"):
        cell(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(InputError, match=r"pair \(h, c\)"):
        cell(torch.randn(2, 3), (torch.zeros(2, 4),))
    with pytest.raises(InputError, match=r"pair \(h, c\)"):
        cell(torch.randn(3), torch.zeros(2, 4))  # one tensor is not a pair, even with 2 rows
    with pytest.raises(InputError, match=r"pair \(h_0, c_0\)"):
        rnn_layers.LSTM(3, 4)(torch.randn(5, 3), torch.zeros(2, 1, 4))
    with pytest.raises(InputError, match=r"shape \(2, 4\)"):
        cell(torch.randn(2, 3), (torch.zeros(3, 4), torch.zeros(3, 4)))
    with pytest.raises(InputError, match="seq_len"):
        layer(torch.randn(5, 2, 7))
    with pytest.raises(InputError, match=r"\(num_layers, batch, hidden_size\)"):
        layer(torch.randn(5, 2, 3), torch.zeros(2, 2, 4))
    with pytest.raises(InputError, match="between 1 and the padded length 5"):
        layer(torch.randn(5, 2, 3), lengths=torch.tensor([6, 1]))
    with pytest.raises(InputError, match="one per sequence"):
        layer(torch.randn(5, 2, 3), lengths=torch.tensor([1.0, 2.0]))
    with pytest.raises(InputError, match="no time steps"):
        layer(torch.randn(0, 2, 3))
    with pytest.raises(InputError, match="square"):
        rnn_gradients.spectral_radius(torch.ones(2, 3))
    with pytest.raises(InputError, match="lmkit RNNCell"):
        rnn_gradients.hidden_jacobian_norms(nn.RNNCell(2, 3), torch.randn(4, 2))
    with pytest.raises(InputError, match=r"\(seq_len >= 1, 2\)"):
        rnn_gradients.hidden_jacobian_norms(rnn_cells.RNNCell(2, 3), torch.randn(4, 3))


def test_bad_model_inputs_are_rejected():
    lm = rnn_models.RecurrentLM(5, 4)
    with pytest.raises(InputError, match=r"in \[0, 5\)"):
        lm(torch.tensor([[1, 7]]))
    with pytest.raises(InputError, match="LongTensor"):
        lm(torch.randn(1, 3))
    with pytest.raises(InputError, match="targets"):
        lm(torch.tensor([[1, 2]]), torch.tensor([1, 2]))
    with pytest.raises(InputError, match="prompt_ids is empty"):
        lm.generate([], 3)
    with pytest.raises(ConfigError, match="max_new_tokens"):
        lm.generate([1], -1)
    clf = rnn_models.SequenceClassifier(5)
    with pytest.raises(InputError, match="lengths"):
        clf(torch.tensor([[1, 2]]), torch.tensor([3]))
    assert F.softmax(clf(torch.tensor([[1, 2]])), -1).sum().item() == pytest.approx(1.0)
