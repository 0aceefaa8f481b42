"""Chapter 11 exercises: precision/recall/F1 for one class, the confusion matrix, macro F1, the
expected calibration error and the temperature-scaled softmax.

Introduced in chapter 11. ``diagnose`` rebuilds the usual slips on the case that failed
(precision and recall swapped, F1 as the arithmetic mean, the confusion matrix transposed or
normalised, micro or weighted F1 for macro, ECE bins averaged without their counts or without
the absolute value, logits multiplied by T, softmax over the batch) and names the one matched.
"""

from __future__ import annotations

from typing import Any

import torch

from lmkit.basics.calibration import expected_calibration_error
from lmkit.basics.classify import confusion_matrix, precision_recall_f1
from lmkit.exercises.core import Case, Exercise, register
from lmkit.exercises.feedback import matching_slip


def _predictions(gen: torch.Generator, n: int, classes: int, skill: float = 0.7):
    """Labels and predictions that agree on about ``skill`` of the examples, with the errors
    spread unevenly so that FP differs from FN and rows from columns."""
    labels = torch.randint(0, classes, (n,), generator=gen)
    wrong = torch.rand(n, generator=gen) > skill
    shift = torch.randint(1, classes, (n,), generator=gen)
    predictions = torch.where(wrong, (labels + shift) % classes, labels)
    # one more kind of mistake: some of class 0 are called 1, never the reverse
    extra = (labels == 0) & (torch.rand(n, generator=gen) < 0.2)
    return torch.where(extra, torch.ones_like(predictions), predictions), labels


# ------------------------------------------------------------ 1. precision, recall, F1
def _prf(predictions: torch.Tensor, labels: torch.Tensor, positive: int) -> tuple[float, ...]:
    return precision_recall_f1(predictions, labels, average="binary", positive=positive)


def _prf_cases(gen: torch.Generator) -> list[Case]:
    p1, l1 = _predictions(gen, 60, 2)
    p2, l2 = _predictions(gen, 90, 3)
    return [
        Case((p1, l1, 1), "60 binary predictions, positive class 1"),
        Case((p2, l2, 2), "90 predictions over 3 classes, scored class 2"),
    ]


def _prf_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    predictions, labels, positive = args
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return "return a tuple (precision, recall, f1) of three numbers."
    p, r, f = expected
    other = 1 - positive if positive in (0, 1) else 0
    op, orr, of = _prf(predictions, labels, other)
    slips = [
        ((r, p, f), "precision and recall are swapped: precision = TP / (TP + FP), over what "
         "the model *called* positive; recall = TP / (TP + FN), over the *real* positives."),
        ((p, r, (p + r) / 2), "F1 is the harmonic mean 2PR / (P + R), not the arithmetic mean."),
        ((op, orr, of), f"you scored class {other}; score the class `positive` = {positive}."),
    ]  # fmt: skip
    for wrong, explanation in slips:
        try:
            if all(abs(float(a) - float(b)) < 1e-9 for a, b in zip(got, wrong, strict=True)):
                return explanation
        except (TypeError, ValueError):
            return "each of the three values must be a plain number (use float(...))."
    return None


register(
    Exercise(
        id="ch11.precision_recall_f1",
        title="precision, recall and F1 of one class from predictions and labels",
        kind="function",
        reference=_prf,
        make_cases=_prf_cases,
        hints=(
            "TP = ((pred == c) & (label == c)).sum(), FP = ((pred == c) & (label != c)).sum(), "
            "FN = ((pred != c) & (label == c)).sum(); 0 where a denominator is 0.",
        ),
        diagnose=_prf_diagnose,
    )
)


# ------------------------------------------------------------ 2. the confusion matrix
def _confusion(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return confusion_matrix(predictions, labels, num_classes)


def _confusion_cases(gen: torch.Generator) -> list[Case]:
    p1, l1 = _predictions(gen, 50, 2)
    p2, l2 = _predictions(gen, 120, 4, skill=0.5)
    return [
        Case((p1, l1, 2), "50 predictions, 2 classes"),
        Case((p2, l2, 4), "120 predictions, 4 classes"),
        Case((torch.tensor([0, 0, 1]), torch.tensor([0, 0, 1]), 3), "class 2 never occurs"),
    ]


def _confusion_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    if not isinstance(got, torch.Tensor):
        return "return a (num_classes, num_classes) tensor of counts."
    rows = expected.sum(1, keepdim=True).double().clamp(min=1)
    seen = int(max(args[0].max(), args[1].max())) + 1
    slips = [
        (expected.T, "the matrix is transposed: rows are the TRUE class and columns the "
         "PREDICTED class, m[label, prediction] += 1."),
        (expected.double() / rows, "you normalised the rows; return the counts."),
        (expected[:seen, :seen], "the matrix must have num_classes rows and columns, even "
         "for a class that never occurs."),
    ]  # fmt: skip
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch11.confusion_matrix",
        title="the confusion matrix: rows = true class, columns = predicted class",
        kind="function",
        reference=_confusion,
        make_cases=_confusion_cases,
        hints=(
            "start from torch.zeros(num_classes, num_classes, dtype=torch.long) and add 1 at "
            "[label, prediction] for every example.",
        ),
        diagnose=_confusion_diagnose,
    )
)


# ------------------------------------------------------------ 3. macro F1
def _macro_f1(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    return precision_recall_f1(predictions, labels, average="macro", num_classes=num_classes)[2]


def _macro_cases(gen: torch.Generator) -> list[Case]:
    p1, l1 = _predictions(gen, 80, 3, skill=0.6)
    p2, l2 = _predictions(gen, 100, 2, skill=0.8)
    keep = (l2 == 1) | (torch.rand(100, generator=gen) < 0.3)  # imbalanced: few negatives
    return [
        Case((p1, l1, 3), "80 predictions, 3 classes"),
        Case((p2[keep], l2[keep], 2), "imbalanced binary predictions"),
    ]


def _macro_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    predictions, labels, c = args
    slips = [
        (precision_recall_f1(predictions, labels, average="micro", num_classes=c)[2],
         "that is micro F1 (all decisions pooled, equal to accuracy). Macro F1 is the plain "
         "mean of the per-class F1 scores."),
        (precision_recall_f1(predictions, labels, average="weighted", num_classes=c)[2],
         "that is the support-weighted F1. Macro F1 gives every class the same weight."),
        (precision_recall_f1(predictions, labels, average="binary", positive=1, num_classes=c)[2],
         "that is the F1 of class 1 only; average the F1 of every class."),
    ]  # fmt: skip
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch11.macro_f1",
        title="macro F1: the mean of the per-class F1 scores",
        kind="function",
        reference=_macro_f1,
        make_cases=_macro_cases,
        hints=(
            "compute F1 for each class c in range(num_classes) as in the first exercise, "
            "then take their plain mean.",
        ),
        diagnose=_macro_diagnose,
    )
)


# ------------------------------------------------------------ 4. expected calibration error
def _ece(probabilities: torch.Tensor, labels: torch.Tensor, n_bins: int) -> float:
    return expected_calibration_error(probabilities, labels, n_bins)


def _ece_cases(gen: torch.Generator) -> list[Case]:
    def case(n: int, c: int, sharp: float, bins: int, label: str) -> Case:
        logits = torch.randn(n, c, generator=gen, dtype=torch.float64) * sharp
        probs = torch.softmax(logits, -1)
        labels = torch.where(
            torch.rand(n, generator=gen) < 0.7,
            probs.argmax(-1),
            torch.randint(0, c, (n,), generator=gen),
        )
        return Case((probs, labels, bins), label)

    return [
        case(200, 2, 3.0, 10, "200 binary predictions, 10 bins"),
        case(300, 3, 2.0, 15, "300 predictions over 3 classes, 15 bins"),
    ]


def _ece_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    probs, labels, n_bins = args
    conf, pred = probs.max(-1)
    correct = (pred == labels).double()
    index = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)
    gaps, signed, counts = [], [], []
    for b in range(n_bins):
        m = index == b
        if m.any():
            gaps.append(float((correct[m].mean() - conf[m].mean()).abs()))
            signed.append(float(correct[m].mean() - conf[m].mean()))
            counts.append(int(m.sum()))
    n = sum(counts)
    slips = [
        (sum(gaps) / len(gaps), "the bins are averaged without their weights: multiply each "
         "bin's gap by its share of the examples, n_b / N."),
        (sum(c / n * s for c, s in zip(counts, signed, strict=True)),
         "the gaps lost their absolute value, so over- and under-confident bins cancel."),
        (float((correct - conf).abs().mean()), "you took |correct − confidence| per example; "
         "ECE compares the MEAN accuracy and MEAN confidence inside each bin."),
    ]  # fmt: skip
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch11.ece",
        title="expected calibration error over equal-width confidence bins",
        kind="function",
        reference=_ece,
        make_cases=_ece_cases,
        hints=(
            "confidence, prediction = probabilities.max(-1); bin b holds confidences in "
            "(b/n_bins, (b+1)/n_bins] (index = ceil(conf * n_bins) - 1, clamped to 0); "
            "ECE = sum over bins of n_b / N * |accuracy_b - confidence_b|.",
        ),
        diagnose=_ece_diagnose,
    )
)


# ------------------------------------------------------------ 5. temperature-scaled softmax
def _temperature_softmax(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return torch.softmax(logits / temperature, dim=-1)


def _temperature_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(4, 2, generator=gen) * 3, 2.0), "4 rows of 2 logits, T = 2"),
        Case((torch.randn(5, 3, generator=gen) * 2, 0.5), "5 rows of 3 logits, T = 0.5"),
    ]


def _temperature_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    logits, t = args
    slips = [
        (torch.softmax(logits * t, -1), "you multiplied the logits by T; divide them: T > 1 "
         "must soften the probabilities."),
        (torch.softmax(logits / t, 0), "the softmax ran over the batch (dim 0); each row's "
         "classes must sum to 1 (dim=-1)."),
        (torch.softmax(logits, -1) / t, "T divides the logits before the softmax, not the "
         "probabilities after it."),
    ]  # fmt: skip
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch11.temperature_softmax",
        title="temperature scaling: softmax(logits / T) over the classes",
        kind="function",
        reference=_temperature_softmax,
        make_cases=_temperature_cases,
        hints=("divide, then softmax over the last dimension.",),
        diagnose=_temperature_diagnose,
    )
)
