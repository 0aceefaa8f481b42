"""Chapter 11 exercises: answers by hand and from scikit-learn pass; typical slips get the
feedback designed for them."""

from __future__ import annotations

import torch
from exercise_asserts import fails_with
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from lmkit.exercises import check


def _counts(pred, label, c):
    tp = int(((pred == c) & (label == c)).sum())
    fp = int(((pred == c) & (label != c)).sum())
    fn = int(((pred != c) & (label == c)).sum())
    return tp, fp, fn


def _prf(pred, label, positive, *, swap=False, mean=False):
    tp, fp, fn = _counts(pred, label, positive)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    if mean:
        f = (p + r) / 2
    return (r, p, f) if swap else (p, r, f)


def test_precision_recall_f1():
    assert check("ch11.precision_recall_f1", _prf, seed=0, quiet=True)

    def with_sklearn(pred, label, positive):
        p, r, f, _ = precision_recall_fscore_support(
            label.numpy(), pred.numpy(), labels=[positive], zero_division=0
        )
        return float(p[0]), float(r[0]), float(f[0])

    assert check("ch11.precision_recall_f1", with_sklearn, seed=1, quiet=True)
    fails_with("ch11.precision_recall_f1", lambda p, y, c: _prf(p, y, c, swap=True), "swapped")
    fails_with(
        "ch11.precision_recall_f1", lambda p, y, c: _prf(p, y, c, mean=True), "harmonic mean"
    )
    fails_with("ch11.precision_recall_f1", lambda p, y, c: _prf(p, y, 1 - c), "you scored class")


def _confusion(pred, label, n, *, transpose=False):
    m = torch.zeros(n, n, dtype=torch.long)
    for p, t in zip(pred.tolist(), label.tolist(), strict=True):
        m[t, p] += 1
    return m.T if transpose else m


def test_confusion_matrix():
    assert check("ch11.confusion_matrix", _confusion, seed=0, quiet=True)

    def with_sklearn(pred, label, n):
        return torch.as_tensor(confusion_matrix(label, pred, labels=list(range(n))))

    assert check("ch11.confusion_matrix", with_sklearn, seed=2, quiet=True)
    fails_with(
        "ch11.confusion_matrix", lambda p, y, n: _confusion(p, y, n, transpose=True), "transposed"
    )
    fails_with(
        "ch11.confusion_matrix",
        lambda p, y, n: _confusion(p, y, n).double() / _confusion(p, y, n).sum(1, keepdim=True),
        "normalised",
    )


def test_macro_f1():
    def by_hand(pred, label, n):
        return sum(_prf(pred, label, c)[2] for c in range(n)) / n

    assert check("ch11.macro_f1", by_hand, seed=0, quiet=True)
    assert check(
        "ch11.macro_f1",
        lambda p, y, n: float(f1_score(y, p, average="macro", labels=list(range(n)))),
        seed=3,
        quiet=True,
    )
    fails_with("ch11.macro_f1", lambda p, y, n: float((p == y).double().mean()), "micro F1")
    fails_with(
        "ch11.macro_f1",
        lambda p, y, n: float(f1_score(y, p, average="weighted", labels=list(range(n)))),
        "support-weighted",
    )


def _ece(probs, labels, n_bins, *, unweighted=False, signed=False):
    conf, pred = probs.max(-1)
    correct = (pred == labels).double()
    index = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)
    total, gaps = 0.0, []
    for b in range(n_bins):
        m = index == b
        if m.any():
            gap = correct[m].mean() - conf[m].mean()
            gap = gap if signed else gap.abs()
            gaps.append(float(gap))
            total += float(m.sum()) / len(probs) * float(gap)
    return sum(gaps) / len(gaps) if unweighted else total


def test_ece():
    assert check("ch11.ece", _ece, seed=0, quiet=True)
    fails_with("ch11.ece", lambda p, y, n: _ece(p, y, n, unweighted=True), "without their weights")
    fails_with("ch11.ece", lambda p, y, n: _ece(p, y, n, signed=True), "absolute value")


def test_temperature_softmax():
    assert check(
        "ch11.temperature_softmax", lambda z, t: torch.softmax(z / t, -1), seed=0, quiet=True
    )
    fails_with("ch11.temperature_softmax", lambda z, t: torch.softmax(z * t, -1), "multiplied")
    fails_with("ch11.temperature_softmax", lambda z, t: torch.softmax(z / t, 0), "over the batch")


def test_unanswered_exercises_fail_without_raising():
    for name in (
        "precision_recall_f1",
        "confusion_matrix",
        "macro_f1",
        "ece",
        "temperature_softmax",
    ):
        assert not check(f"ch11.{name}", lambda *a: None, seed=0, quiet=True)
