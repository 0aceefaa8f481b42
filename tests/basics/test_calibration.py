"""Reliability bins, expected calibration error and temperature scaling, on cases worked out by
hand and against an independent NumPy implementation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from lmkit.basics.calibration import expected_calibration_error, fit_temperature, reliability_bins
from lmkit.errors import InputError


def test_ece_of_a_hand_worked_example():
    # confidences 0.85, 0.85 (one right, one wrong) and 0.55, 0.55 (both right), 10 bins:
    # bin (0.8, 0.9]: |0.5 - 0.85| = 0.35, weight 2/4; bin (0.5, 0.6]: |1.0 - 0.55| = 0.45,
    # weight 2/4; ECE = 0.175 + 0.225 = 0.4
    probs = torch.tensor([[0.85, 0.15], [0.15, 0.85], [0.55, 0.45], [0.45, 0.55]])
    labels = torch.tensor([0, 0, 0, 1])
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(0.4)
    bins = reliability_bins(probs, labels, n_bins=10)
    assert bins.counts[8] == 2 and bins.counts[5] == 2 and sum(bins.counts) == 4
    assert bins.accuracy[8] == pytest.approx(0.5) and bins.confidence[5] == pytest.approx(0.55)
    assert math.isnan(bins.accuracy[0]) and bins.edges[0] == 0.0 and bins.edges[-1] == 1.0


def test_a_perfectly_calibrated_model_has_zero_ece():
    # 10 predictions at confidence 0.8, 8 of them right
    probs = torch.tensor([[0.8, 0.2]] * 10)
    labels = torch.tensor([0] * 8 + [1] * 2)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-6)  # float32 0.8


def _numpy_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> float:
    confidence, predicted = probs.max(1), probs.argmax(1)
    total = 0.0
    edges = np.linspace(0, 1, n_bins + 1)
    for low, high in itertools.pairwise(edges):
        members = (confidence > low) & (confidence <= high)
        if members.any():
            gap = abs((predicted[members] == labels[members]).mean() - confidence[members].mean())
            total += members.mean() * gap
    return total


def test_ece_matches_an_independent_implementation():
    generator = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(500, 3, generator=generator), -1)
    labels = torch.randint(0, 3, (500,), generator=generator)
    expected = _numpy_ece(probs.double().numpy(), labels.numpy(), 15)
    assert expected_calibration_error(probs, labels, 15) == pytest.approx(expected, abs=1e-9)


def test_temperature_scaling_recovers_the_temperature_of_the_data():
    # Labels drawn from softmax(z / 2): the model's logits z are twice too sharp, so T = 2.
    generator = torch.Generator().manual_seed(1)
    logits = 4 * torch.randn(20_000, 2, generator=generator)
    labels = torch.multinomial(torch.softmax(logits / 2, -1), 1, generator=generator)[:, 0]
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(2.0, rel=0.05)
    before = expected_calibration_error(torch.softmax(logits, -1), labels)
    after = expected_calibration_error(torch.softmax(logits / temperature, -1), labels)
    assert after < 0.02 < before
    # it never changes the predicted class
    assert torch.equal((logits / temperature).argmax(-1), logits.argmax(-1))


def test_bad_inputs_are_clear_errors():
    probs = torch.tensor([[0.5, 0.5]])
    with pytest.raises(InputError, match="shape"):
        expected_calibration_error(torch.tensor([0.5, 0.5]), [0])
    with pytest.raises(InputError, match="labels"):
        expected_calibration_error(probs, [0, 1])
    with pytest.raises(InputError, match="class ids"):
        expected_calibration_error(probs, [2])
    with pytest.raises(InputError, match="softmax"):
        expected_calibration_error(torch.tensor([[2.0, -1.0]]), [0])
    with pytest.raises(InputError, match="finite"):
        fit_temperature(torch.tensor([[math.inf, 0.0]]), [0])
    with pytest.raises(InputError):
        fit_temperature(torch.zeros(0, 2), [])
