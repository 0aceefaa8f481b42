"""Losses for fine-tuning a language model: response-masked cross-entropy and DPO.

Introduced in chapter 12. :func:`response_loss` is the supervised fine-tuning (SFT) loss: the
mean next-token cross-entropy over the positions whose target is a response token (targets
-100 elsewhere), which is what an lmkit GPT computes when given such targets.
:func:`sequence_log_probs` sums ``log p(y_t | y_<t, x)`` over those positions for each row: the
``log π(y | x)`` of a whole response. :func:`dpo_loss` is direct preference optimisation:
``-log σ(β [(log πθ(y_w|x) - log π_ref(y_w|x)) - (log πθ(y_l|x) - log π_ref(y_l|x))])``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmkit.errors import ConfigError, InputError
from lmkit.gpt.inputs import IGNORE_INDEX

__all__ = ["IGNORE_INDEX", "dpo_loss", "response_loss", "sequence_log_probs"]


def _check(logits: torch.Tensor, targets: torch.Tensor) -> None:
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise InputError(
            f"logits must be (B, T, V) and targets (B, T), got {tuple(logits.shape)} and "
            f"{tuple(targets.shape)}."
        )


def response_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over positions with ``targets != -100`` (already shifted by one)."""
    _check(logits, targets)
    if not (targets != IGNORE_INDEX).any():
        raise InputError("every target is -100: there is no response token to learn.")
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=IGNORE_INDEX
    )


def sequence_log_probs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``Σ_t log p(targets_t)`` over the positions that are not -100, one number per row (B,)."""
    _check(logits, targets)
    keep = targets != IGNORE_INDEX
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return (picked * keep).sum(-1)


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float = 0.1,
) -> torch.Tensor:
    """Mean DPO loss over pairs, from sequence log-probabilities (each a tensor of shape (N,)).

    ``-log σ(β · [(πθ_w - π_ref_w) - (πθ_l - π_ref_l)])``, computed as ``softplus(-z)`` so it
    stays finite for large margins.
    """
    if not isinstance(beta, (int, float)) or isinstance(beta, bool) or beta <= 0:
        raise ConfigError(f"beta must be a number > 0, got {beta!r}.")
    tensors = [
        torch.as_tensor(t, dtype=torch.float64)
        for t in (policy_chosen, policy_rejected, ref_chosen, ref_rejected)
    ]
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise InputError(f"the four log-probability tensors must have one shape, got {shapes}.")
    pc, pr, rc, rr = tensors
    z = beta * ((pc - rc) - (pr - rr))
    return F.softplus(-z).mean()
