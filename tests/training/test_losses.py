"""Fine-tuning losses (chapter 12): response-masked cross-entropy and DPO."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lmkit.errors import InputError
from lmkit.training.losses import dpo_loss, response_loss, sequence_log_probs


def test_response_loss_counts_only_unmasked_positions():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    targets = torch.tensor([[-100, -100, 3, 4, -100], [-100, 1, 2, -100, -100]])
    keep = targets != -100
    expected = F.cross_entropy(logits[keep], targets[keep])
    torch.testing.assert_close(response_loss(logits, targets), expected)
    with pytest.raises(InputError, match="no response token"):
        response_loss(logits, torch.full((2, 5), -100))


def test_sequence_log_probs_sum_per_row():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 4)
    targets = torch.tensor([[-100, 2, 1]])
    logp = logits.log_softmax(-1)
    expected = logp[0, 1, 2] + logp[0, 2, 1]
    torch.testing.assert_close(sequence_log_probs(logits, targets), expected.reshape(1))


def test_dpo_loss_by_hand_and_its_sign():
    loss = dpo_loss(
        torch.tensor([-5.0]),
        torch.tensor([-9.0]),
        torch.tensor([-6.0]),
        torch.tensor([-8.0]),
        beta=0.5,
    )
    z = 0.5 * ((-5 + 6) - (-9 + 8))
    assert math.isclose(float(loss), -math.log(1 / (1 + math.exp(-z))), rel_tol=1e-12)
    swapped = dpo_loss(
        torch.tensor([-9.0]),
        torch.tensor([-5.0]),
        torch.tensor([-8.0]),
        torch.tensor([-6.0]),
        beta=0.5,
    )
    assert float(swapped) > float(loss)
    equal = dpo_loss(torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.zeros(3))
    assert math.isclose(float(equal), math.log(2))
