"""Train and evaluate any text classifier: a small loop, and the metrics worth reporting.

Introduced in chapter 5 and reused by the later classification chapters. Nothing here knows
what the model is: a batch is whatever ``collate(examples)`` builds, ``(inputs, labels)``, and
the model is called as ``model(inputs)``, ``model(*inputs)`` (a tuple) or ``model(**inputs)``
(a dict, as Hugging Face models expect). The output may be logits ``(B, C)``, an object with
``.logits``, or a tuple whose first item is the logits.

Metrics follow the usual definitions (and scikit-learn's conventions, which the tests check):
for a class c, precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2PR / (P + R), with 0
where a denominator is 0. The confusion matrix has one row per *true* class and one column
per *predicted* class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.device import pick_device
from lmkit.errors import ConfigError, InputError
from lmkit.nn.padding import pad_right
from lmkit.validators import check_int, check_number

__all__ = [
    "AVERAGES",
    "accuracy",
    "classification_report",
    "confusion_matrix",
    "evaluate",
    "fit",
    "pad_token_ids",
    "precision_recall_f1",
    "predict",
    "token_collate",
]

AVERAGES = ("binary", "macro", "micro", "weighted", None)
Collate = Callable[[Sequence[Any]], tuple[Any, Any]]


# ----------------------------------------------------------------------------- metrics
def _labels_pair(predictions: object, labels: object) -> tuple[torch.Tensor, torch.Tensor]:
    tensors = []
    for name, value in (("predictions", predictions), ("labels", labels)):
        tensor = torch.as_tensor(value).detach().cpu() if value is not None else None
        if tensor is not None and tensor.numel() == 0:
            raise InputError(f"No examples: {name} is empty.")
        if (
            tensor is None
            or tensor.dim() != 1
            or tensor.is_floating_point()
            or tensor.dtype == torch.bool
        ):
            raise InputError(
                f"{name} must be a 1-D sequence of integer class ids, got "
                f"{getattr(tensor, 'dtype', type(value).__name__)} with shape "
                f"{tuple(tensor.shape) if tensor is not None else None}. For logits use "
                "logits.argmax(dim=-1)."
            )
        tensors.append(tensor.long())
    predictions, labels = tensors
    if len(predictions) != len(labels):
        raise InputError(
            f"{len(predictions)} predictions but {len(labels)} labels: they must pair up."
        )
    if min(predictions.min(), labels.min()) < 0:
        raise InputError("Class ids must be >= 0.")
    return predictions, labels


def accuracy(predictions: object, labels: object) -> float:
    """The share of predictions equal to their label. Introduced in chapter 5."""
    predictions, labels = _labels_pair(predictions, labels)
    return float((predictions == labels).double().mean())


def confusion_matrix(
    predictions: object, labels: object, num_classes: int | None = None
) -> torch.Tensor:
    """``m[true, predicted]`` counts, a LongTensor (C, C). Introduced in chapter 5."""
    predictions, labels = _labels_pair(predictions, labels)
    seen = int(max(predictions.max(), labels.max())) + 1
    if num_classes is None:
        num_classes = seen
    hint = f" The largest class id seen is {seen - 1}."
    num_classes = check_int("num_classes", num_classes, minimum=seen, hint=hint)
    flat = labels * num_classes + predictions
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def _safe_divide(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    # 0 where the denominator is 0 (no prediction / no example of that class), never NaN.
    return torch.where(den > 0, num / torch.where(den > 0, den, 1.0), torch.zeros_like(num))


def precision_recall_f1(
    predictions: object,
    labels: object,
    *,
    average: str | None = "macro",
    positive: int = 1,
    num_classes: int | None = None,
) -> tuple[Any, Any, Any]:
    """Precision, recall and F1.

    ``average``: ``"binary"`` scores only class ``positive``; ``"macro"`` is the plain mean over
    classes; ``"weighted"`` weights each class by its number of true examples; ``"micro"``
    pools all decisions (equal to accuracy for single-label data); ``None`` returns one value
    per class as float64 tensors. Introduced in chapter 5.
    """
    if average not in AVERAGES:
        raise ConfigError(f"average must be one of {AVERAGES}, got {average!r}.")
    matrix = confusion_matrix(predictions, labels, num_classes).double()
    tp = matrix.diagonal()
    predicted, actual = matrix.sum(0), matrix.sum(1)  # column sums, row sums
    if average == "micro":
        tp, predicted, actual = tp.sum(), predicted.sum(), actual.sum()
    precision, recall = _safe_divide(tp, predicted), _safe_divide(tp, actual)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    if average == "micro":
        return float(precision), float(recall), float(f1)
    if average is None:
        return precision, recall, f1
    if average == "binary":
        positive = check_int("positive", positive, maximum=len(tp) - 1, hint=" (a class id)")
        return float(precision[positive]), float(recall[positive]), float(f1[positive])
    weights = (
        actual / actual.sum() if average == "weighted" else torch.full_like(actual, 1 / len(actual))
    )
    return tuple(float((w * weights).sum()) for w in (precision, recall, f1))


def classification_report(
    predictions: object, labels: object, label_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Accuracy, per-class and macro precision/recall/F1, support and the confusion matrix.

    ``label_names[i]`` names class i; the number of names fixes the number of classes.
    Introduced in chapter 5.
    """
    num_classes = None if label_names is None else len(label_names)
    matrix = confusion_matrix(predictions, labels, num_classes)
    names = list(label_names) if label_names is not None else [str(i) for i in range(len(matrix))]
    precision, recall, f1 = precision_recall_f1(
        predictions, labels, average=None, num_classes=len(names)
    )
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(matrix[i].sum()),
        }
        for i, name in enumerate(names)
    }
    macro = precision_recall_f1(predictions, labels, average="macro", num_classes=len(names))
    return {
        "accuracy": accuracy(predictions, labels),
        "macro_precision": macro[0],
        "macro_recall": macro[1],
        "macro_f1": macro[2],
        "per_class": per_class,
        "confusion": matrix,
        "label_names": names,
    }


# ----------------------------------------------------------------------------- batching
def pad_token_ids(
    sequences: Sequence[Sequence[int]], pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists to one (B, T) LongTensor; also return their true lengths (B,).

    :func:`lmkit.nn.padding.pad_right` does the padding; this adds the rule that every text
    has at least one token. Introduced in chapter 5.
    """
    ids, mask = pad_right(sequences, pad_id)
    lengths = mask.sum(dim=1)
    if int(lengths.min()) == 0:
        raise InputError(
            f"Sequence {int(lengths.argmin())} is empty; every text needs at least one token "
            "(drop empty texts or give them an <unk> token)."
        )
    return ids, lengths


def token_collate(pad_id: int = 0) -> Collate:
    """A ``collate`` for examples ``(token_ids, label)``: ``((ids, lengths), labels)``."""

    def collate(examples: Sequence[Any]) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        try:
            ids, labels = zip(*examples, strict=True)
        except (TypeError, ValueError) as exc:
            raise InputError(
                "token_collate expects examples of the form (token_ids, label)."
            ) from exc
        return pad_token_ids(ids, pad_id), torch.as_tensor(labels, dtype=torch.long)

    return collate


# ----------------------------------------------------------------------------- the loop
def _to(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, Mapping):
        return {k: _to(v, device) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_to(v, device) for v in value)
    return value


def _call(model: nn.Module, inputs: Any) -> torch.Tensor:
    if isinstance(inputs, Mapping):
        output = model(**inputs)
    elif isinstance(inputs, (tuple, list)):
        output = model(*inputs)
    else:
        output = model(inputs)
    logits = getattr(output, "logits", output)
    if isinstance(logits, tuple):
        logits = logits[0]
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise InputError(
            "The model must return logits of shape (batch, num_classes) (or an object with "
            f".logits), got {getattr(logits, 'shape', type(logits).__name__)}."
        )
    return logits


def _batches(data: Sequence[Any], batch_size: int, order: torch.Tensor | None = None):
    order = torch.arange(len(data)) if order is None else order
    for start in range(0, len(data), batch_size):
        yield [data[int(i)] for i in order[start : start + batch_size]]


def _check_data(name: str, data: object, batch_size: object) -> None:
    if not isinstance(data, Sequence) or isinstance(data, (str, bytes)) or len(data) == 0:
        raise InputError(
            f"{name} must be a non-empty sequence of examples (a list), got {type(data).__name__}."
        )
    check_int("batch_size", batch_size, minimum=1)


@torch.no_grad()
def predict(
    model: nn.Module,
    data: Sequence[Any],
    collate: Collate,
    *,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted class ids (N,) and class probabilities (N, C) for every example, in order.

    The model runs in eval mode (no dropout) and is put back in its previous mode afterwards.
    Introduced in chapter 5.
    """
    _check_data("data", data, batch_size)
    device = pick_device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    probs = []
    try:
        for examples in _batches(data, batch_size):
            inputs, _ = collate(examples)
            probs.append(torch.softmax(_call(model, _to(inputs, device)).float(), dim=-1).cpu())
    finally:
        model.train(was_training)
    probs_all = torch.cat(probs)
    return probs_all.argmax(dim=-1), probs_all


def evaluate(
    model: nn.Module,
    data: Sequence[Any],
    collate: Collate,
    *,
    batch_size: int = 64,
    label_names: Sequence[str] | None = None,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """:func:`classification_report` on ``data`` plus the mean cross-entropy ``loss``."""
    predictions, probs = predict(model, data, collate, batch_size=batch_size, device=device)
    labels = torch.cat([torch.as_tensor(collate(b)[1]) for b in _batches(data, batch_size)]).long()
    if label_names is None:
        label_names = [str(i) for i in range(probs.shape[1])]
    if len(label_names) != probs.shape[1]:
        raise ConfigError(
            f"{len(label_names)} label names for a model with {probs.shape[1]} outputs."
        )
    report = classification_report(predictions, labels, label_names)
    report["loss"] = float(F.nll_loss(probs.clamp_min(1e-12).log(), labels))
    return report


def fit(
    model: nn.Module,
    train: Sequence[Any],
    collate: Collate,
    *,
    val: Sequence[Any] | None = None,
    epochs: int = 5,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    grad_clip: float | None = 1.0,
    seed: int = 0,
    device: str | torch.device | None = "auto",
    callback: Callable[[dict[str, Any]], bool | None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` with AdamW and cross-entropy for ``epochs`` passes over ``train``.

    Each epoch visits the examples in a new order drawn from ``seed``. Returns one record per
    epoch: ``epoch``, ``step`` (= epochs done, so :func:`lmkit.viz.loss_curve` can plot it),
    ``loss`` and ``train_accuracy`` (running means over the epoch), ``elapsed`` seconds and, with
    ``val``, ``val_loss``, ``val_accuracy`` and ``val_f1`` (macro). ``callback(record)`` may
    return True to stop early. Introduced in chapter 5.
    """
    if not isinstance(model, nn.Module) or not any(p.requires_grad for p in model.parameters()):
        raise InputError("model must be a torch.nn.Module with trainable parameters.")
    _check_data("train", train, batch_size)
    if val is not None:
        _check_data("val", val, batch_size)
    check_int("epochs", epochs, minimum=1)
    check_number("lr", lr, minimum=0, above=True)
    if grad_clip is not None and not grad_clip >= 0:
        raise ConfigError(f"grad_clip must be None/0 (off) or a number > 0, got {grad_clip!r}.")
    device = pick_device(device)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    order_gen = torch.Generator().manual_seed(seed)
    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for examples in _batches(
            train, batch_size, torch.randperm(len(train), generator=order_gen)
        ):
            inputs, labels = _to(collate(examples), device)
            logits = _call(model, inputs)
            loss = F.cross_entropy(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            loss_sum += loss.item() * len(labels)
            correct += int((logits.argmax(-1) == labels).sum())
            seen += len(labels)
        record: dict[str, Any] = {
            "epoch": epoch,
            "step": epoch,
            "loss": loss_sum / seen,
            "train_accuracy": correct / seen,
        }
        if val is not None:
            report = evaluate(model, val, collate, batch_size=batch_size)
            record.update(
                val_loss=report["loss"], val_accuracy=report["accuracy"], val_f1=report["macro_f1"]
            )
        record["elapsed"] = time.perf_counter() - start
        history.append(record)
        if callback is not None and callback(record):
            break
    return history
