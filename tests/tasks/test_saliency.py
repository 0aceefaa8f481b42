"""lmkit.tasks.saliency against hand-computed gradients and the completeness property of IG."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toy_classifiers import toy_loaded

from lmkit.errors import ConfigError, InputError
from lmkit.tasks.saliency import Saliency, gradient_x_input, integrated_gradients

TEXT = "the movie was not very good"


def hand_gradient_x_input(loaded, text: str, target: int) -> torch.Tensor:
    """For the linear toy, f = log_softmax(W · mean(e) + b)[t], so (no autograd needed)
    ∂f/∂e_i = Wᵀ(onehot_t − p) / T and score_i = e_i · ∂f/∂e_i."""
    ids = loaded.tokenizer.encode(text)
    with torch.no_grad():
        e = loaded.model.embed.weight[ids]  # (T, D)
        w, b = loaded.model.head.weight, loaded.model.head.bias
        p = torch.softmax(w @ e.mean(0) + b, dim=-1)
        onehot = torch.zeros_like(p)
        onehot[target] = 1
        grad = (w.T @ (onehot - p)) / len(ids)  # the same for every token
        return e @ grad


@pytest.mark.parametrize("target", [0, 1, "positive", None])
def test_gradient_x_input_equals_hand_computation_on_linear_model(target):
    loaded = toy_loaded(dtype=torch.float64)
    result = gradient_x_input(loaded, TEXT, target=target)
    index = {"positive": 1}.get(target, target)
    if target is None:  # the predicted label
        index = max(range(2), key=lambda i: result.probabilities[loaded.model.labels[i]])
    assert result.target_label == loaded.model.labels[index]
    expected = hand_gradient_x_input(loaded, TEXT, index)
    torch.testing.assert_close(torch.tensor(result.scores, dtype=torch.float64), expected)
    assert result.tokens == ("[CLS]", "the", "movie", "was", "not", "very", "good", "[SEP]")
    assert result.special == (True, False, False, False, False, False, False, True)
    assert result.method == "gradient_x_input" and result.completeness_gap is None


def test_probabilities_and_target_score_are_the_models():
    loaded = toy_loaded()
    result = gradient_x_input(loaded, TEXT, target="negative")
    ids = torch.tensor([loaded.tokenizer.encode(TEXT)])
    with torch.no_grad():
        probs = torch.softmax(loaded.model(ids).logits, -1)[0]
    assert result.probabilities["negative"] == pytest.approx(float(probs[0]), rel=1e-5)
    assert result.target_score == pytest.approx(float(probs[0].log()), rel=1e-5)


@pytest.mark.parametrize("baseline", ["pad", "zeros"])
def test_integrated_gradients_completeness_tightens_with_steps(baseline):
    loaded = toy_loaded(nonlinear=True, dtype=torch.float64, seed=3)
    gaps = []
    for steps in (2, 8, 64):
        result = integrated_gradients(loaded, TEXT, target="positive", steps=steps,
                                      baseline=baseline)  # fmt: skip
        delta = result.target_score - result.baseline_score
        gap = abs(sum(result.scores) - delta)
        assert result.completeness_gap == pytest.approx(gap)
        gaps.append(gap)
    assert gaps[2] < gaps[1] < gaps[0] or gaps[0] < 1e-12
    # The trapezoidal rule's error falls about as 1/steps²: demand at least 1/steps.
    assert gaps[2] <= gaps[0] * (2 / 64) + 1e-12
    assert gaps[2] < 1e-3 * max(abs(delta), 1e-3)


def test_integrated_gradients_baseline_values_are_what_the_docs_say():
    loaded = toy_loaded(nonlinear=True, dtype=torch.float64, seed=1)
    ids = loaded.tokenizer.encode(TEXT)
    model = loaded.model
    with torch.no_grad():
        emb = model.embed.weight
        pad_base = emb[[i if i in (1, 2) else 0 for i in ids]][None]  # specials kept
        zero_base = torch.stack([emb[i] if i in (1, 2) else torch.zeros(emb.shape[1])
                                 for i in ids])[None]  # fmt: skip
        for name, base in (("pad", pad_base), ("zeros", zero_base)):
            logp = torch.log_softmax(model(torch.tensor([ids]), inputs_embeds=base).logits, -1)
            result = integrated_gradients(loaded, TEXT, target=1, steps=4, baseline=name)
            assert result.baseline == name
            assert result.baseline_score == pytest.approx(float(logp[0, 1]), rel=1e-9)


def test_special_tokens_get_exactly_zero_integrated_gradient():
    result = integrated_gradients(toy_loaded(nonlinear=True), TEXT, steps=8)
    assert result.scores[0] == 0.0 and result.scores[-1] == 0.0
    assert any(abs(s) > 0 for s in result.scores[1:-1])


def test_ig_completeness_on_linear_model_with_many_steps():
    loaded = toy_loaded(dtype=torch.float64)
    result = integrated_gradients(loaded, TEXT, target=0, steps=256, batch_size=7)
    delta = result.target_score - result.baseline_score
    assert sum(result.scores) == pytest.approx(delta, abs=1e-7)
    assert result.steps == 256 and result.method == "integrated_gradients"


def test_no_dropout_and_mode_restored():
    loaded = toy_loaded()
    loaded.model.train()
    a = gradient_x_input(loaded, TEXT)
    b = gradient_x_input(loaded, TEXT)
    assert a.scores == b.scores and loaded.model.training


def test_truncated_texts_are_explained_and_flagged():
    result = integrated_gradients(toy_loaded(), " ".join(["good"] * 20), steps=4)
    assert result.truncated and len(result.tokens) == 12 and result.tokens[-1] == "[SEP]"


def test_bad_arguments():
    loaded = toy_loaded()
    with pytest.raises(InputError, match="empty"):
        gradient_x_input(loaded, "  ")
    with pytest.raises(InputError, match="target"):
        gradient_x_input(loaded, TEXT, target="neutral")
    with pytest.raises(InputError, match="target"):
        gradient_x_input(loaded, TEXT, target=2)
    with pytest.raises(ConfigError, match="steps"):
        integrated_gradients(loaded, TEXT, steps=0)
    with pytest.raises(ConfigError, match="baseline"):
        integrated_gradients(loaded, TEXT, baseline="noise")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=30))
def test_any_text_gives_saliency_or_input_error(text):
    try:
        result = integrated_gradients(toy_loaded(nonlinear=True), text, steps=4)
    except InputError:
        assert not text.strip()
        return
    assert isinstance(result, Saliency)
    assert len(result.scores) == len(result.tokens) == len(result.special)
    assert all(s == s for s in result.scores)  # no NaN
