"""Calibration: does a classifier that says "90 % sure" turn out right 9 times in 10?

Introduced in chapter 11. A model trained with cross-entropy until it fits its training set
usually ends up *over*-confident on new text: its top probability is higher than its accuracy.

- :func:`reliability_bins` sorts predictions by confidence (the top probability) into equal-width
  bins and gives each bin's count, mean confidence and accuracy: the reliability diagram.
- :func:`expected_calibration_error` (ECE) is the count-weighted mean gap between the two,
  ``sum_b (n_b / N) * |accuracy_b - confidence_b|``: 0 for a perfectly calibrated model.
- :func:`fit_temperature` is *temperature scaling* (Guo et al., 2017): one number ``T > 0`` that
  divides every logit, chosen to minimise the cross-entropy on a validation set. ``T > 1``
  softens over-confident probabilities. It never changes which label wins, so accuracy is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lmkit.errors import InputError
from lmkit.validators import check_int

__all__ = ["ReliabilityBins", "expected_calibration_error", "fit_temperature", "reliability_bins"]


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin counts, mean confidence and accuracy (NaN where a bin is empty)."""

    edges: tuple[float, ...]  # n_bins + 1 edges from 0 to 1
    counts: tuple[int, ...]
    confidence: tuple[float, ...]
    accuracy: tuple[float, ...]


def _check(probabilities: object, labels: object) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(probabilities, torch.Tensor) or probabilities.dim() != 2:
        raise InputError("probabilities must be a tensor of shape (N, n_labels).")
    labels = torch.as_tensor(labels)
    if labels.shape != probabilities.shape[:1] or len(labels) == 0:
        raise InputError(
            f"labels must be N = {probabilities.shape[0]} > 0 class ids, got shape "
            f"{tuple(labels.shape)}."
        )
    if labels.min() < 0 or labels.max() >= probabilities.shape[1]:
        raise InputError(f"labels must be class ids in 0..{probabilities.shape[1] - 1}.")
    rows = probabilities.double().sum(-1)
    if not torch.allclose(rows, torch.ones_like(rows), atol=1e-4) or probabilities.min() < 0:
        raise InputError("Each row of probabilities must be >= 0 and sum to 1 (apply softmax).")
    return probabilities.double(), labels.long()


def reliability_bins(probabilities: torch.Tensor, labels: object, n_bins: int = 15) -> ReliabilityBins:
    """Bin predictions by confidence into ``n_bins`` equal bins of (0, 1]; see the module."""
    probabilities, labels = _check(probabilities, labels)
    n_bins = check_int("n_bins", n_bins, minimum=1)
    confidence, predicted = probabilities.max(-1)
    correct = (predicted == labels).double()
    # Bin b holds confidences in (b/n, (b+1)/n]; a confidence of exactly 0 goes in bin 0.
    index = (torch.ceil(confidence * n_bins).long() - 1).clamp(0, n_bins - 1)
    counts, mean_conf, mean_acc = [], [], []
    for b in range(n_bins):
        members = index == b
        n = int(members.sum())
        counts.append(n)
        mean_conf.append(float(confidence[members].mean()) if n else math.nan)
        mean_acc.append(float(correct[members].mean()) if n else math.nan)
    edges = tuple(b / n_bins for b in range(n_bins + 1))
    return ReliabilityBins(edges, tuple(counts), tuple(mean_conf), tuple(mean_acc))


def expected_calibration_error(probabilities: torch.Tensor, labels: object, n_bins: int = 15) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over the reliability bins."""
    bins = reliability_bins(probabilities, labels, n_bins)
    total = sum(bins.counts)
    return sum(
        n / total * abs(acc - conf)
        for n, conf, acc in zip(bins.counts, bins.confidence, bins.accuracy, strict=True)
        if n
    )


def fit_temperature(logits: torch.Tensor, labels: object, *, steps: int = 200) -> float:
    """The temperature ``T`` minimising ``cross_entropy(logits / T, labels)``.

    Optimised over ``log T`` (so T stays positive) with L-BFGS from T = 1; ``logits`` (N, C)
    are detached first, so the model is untouched.
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or len(logits) == 0:
        raise InputError("logits must be a non-empty tensor of shape (N, n_labels).")
    logits = logits.detach().double()
    labels = torch.as_tensor(labels).long()
    if labels.shape != logits.shape[:1]:
        raise InputError(f"labels must have shape ({len(logits)},), got {tuple(labels.shape)}.")
    if not torch.isfinite(logits).all():
        raise InputError("logits must be finite.")
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=check_int("steps", steps, minimum=1),
                                  line_search_fn="strong_wolfe")  # fmt: skip

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    # A validation set the model gets all right with growing margins has no finite optimum;
    # keep T in a range where probabilities stay meaningful.
    return float(log_t.detach().exp().clamp(0.05, 20.0))
