"""The minilm-sentiment recipe's cache: the frozen lower MiniLM layers run once per sentence,
and the two small models the Trainer trains on what they produced.

Introduced in chapter 11. The encoder's lower layers never change, so their output (the input
of the first fine-tuned layer) is computed once and kept; a training step then runs only the
top layers and the head (:class:`TopLayersOnCache`), or, for the frozen-encoder baseline, only
the head on mean-pooled features (:class:`HeadOnFeatures`). Both return ``(logits, loss)`` with
the loss weighted per example, which is what :class:`~lmkit.training.trainer.Trainer` needs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.basics.classify import classification_report, pad_token_ids
from lmkit.minilm.classifier import LABELS, MiniLMClassifier
from lmkit.minilm.embeddings import mean_pool

__all__ = [
    "HeadOnFeatures",
    "TopLayersOnCache",
    "cached_logits",
    "epoch_batches",
    "lower_states",
    "pooled_frozen",
    "predict_texts",
    "report",
    "run_top",
]


def _batch(ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    padded, lengths = pad_token_ids(ids, pad_id=0)
    mask = (torch.arange(padded.shape[1])[None, :] < lengths[:, None]).long()
    return padded, mask


@torch.no_grad()
def lower_states(
    model: MiniLMClassifier, ids: list[list[int]], layers: Sequence[int]
) -> dict[int, list[torch.Tensor]]:
    """For each of ``layers``, per sentence, the (T, 384) input of that encoder layer (6 = the
    encoder's output), no padding kept; the encoder runs once for all of them."""
    states: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    for start in range(0, len(ids), 64):
        padded, mask = _batch(ids[start : start + 64])
        out = model.encoder(input_ids=padded, attention_mask=mask, output_hidden_states=True)
        lengths = mask.sum(-1).tolist()
        for layer in layers:
            hidden = out.hidden_states[layer]
            states[layer].extend(hidden[j, : lengths[j]].clone() for j in range(len(padded)))
    return states


def _pad_states(states: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached states right-padded to (B, T, 384) and their float mask (B, T)."""
    length = max(s.shape[0] for s in states)
    x = states[0].new_zeros(len(states), length, states[0].shape[1])
    mask = torch.zeros(len(states), length)
    for j, s in enumerate(states):
        x[j, : len(s)], mask[j, : len(s)] = s, 1
    return x, mask


def _top_logits(
    model: MiniLMClassifier, x: torch.Tensor, mask: torch.Tensor, first_tuned: int
) -> torch.Tensor:
    # An additive mask (B, 1, 1, T): eager and SDPA attention both accept it.
    additive = (1 - mask[:, None, None, :]) * torch.finfo(x.dtype).min
    for layer in model.encoder.encoder.layer[first_tuned:]:
        x = layer(x, additive)
    return model.head(mean_pool(x, mask))


def run_top(model: MiniLMClassifier, states: list[torch.Tensor], first_tuned: int) -> torch.Tensor:
    """Logits from cached lower-layer states: the top layers, mean pooling, the head."""
    return _top_logits(model, *_pad_states(states), first_tuned)


def pooled_frozen(
    model: MiniLMClassifier, states: list[torch.Tensor], first_tuned: int
) -> torch.Tensor:
    """Mean-pooled output of the frozen encoder, from cached lower-layer states."""
    head, model.head = model.head, nn.Identity()
    try:
        return run_top(model, states, first_tuned)
    finally:
        model.head = head


@torch.no_grad()
def cached_logits(
    model: MiniLMClassifier, states: list[torch.Tensor], first_tuned: int, *, pooled: bool = False
) -> torch.Tensor:
    """Logits (or, ``pooled``, the frozen encoder's mean-pooled output) of cached states,
    64 at a time, in eval mode."""
    model.eval()
    run = pooled_frozen if pooled else run_top
    return torch.cat(
        [run(model, states[i : i + 64], first_tuned) for i in range(0, len(states), 64)]
    )


def _weighted_loss(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    return (F.cross_entropy(logits, labels, reduction="none") * weights).mean()


class TopLayersOnCache(nn.Module):
    """The tuned top layers and the head of ``model`` on padded cached states."""

    def __init__(self, model: MiniLMClassifier, first_tuned: int) -> None:
        super().__init__()
        self.classifier, self.first_tuned = model, first_tuned

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        logits = _top_logits(self.classifier, hidden, mask, self.first_tuned)
        return logits, _weighted_loss(logits, labels, weights)


class HeadOnFeatures(nn.Module):
    """A linear head on fixed mean-pooled features (the frozen-encoder baseline)."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, features: torch.Tensor, labels: torch.Tensor,
                weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        logits = self.head(features)
        return logits, _weighted_loss(logits, labels, weights)


def epoch_batches(
    states: list[torch.Tensor], labels: torch.Tensor, weights: torch.Tensor, batch_size: int,
    seed: int, epochs: int,
) -> Iterator[dict[str, torch.Tensor]]:  # fmt: skip
    """``epochs`` passes over the cached states in seeded random orders, as dict batches."""
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(states), generator=order)
        for start in range(0, len(perm), batch_size):
            idx = perm[start : start + batch_size]
            hidden, mask = _pad_states([states[i] for i in idx])
            yield {"hidden": hidden, "mask": mask, "labels": labels[idx], "weights": weights[idx]}


@torch.no_grad()
def predict_texts(model: MiniLMClassifier, tokenizer: Any, texts: Sequence[str]) -> torch.Tensor:
    """Class probabilities (N, 2) for texts, through the tokenizer like any user input."""
    model.eval()
    ids = [tokenizer.encode(t)[: model.max_length] for t in texts]
    probs = []
    for start in range(0, len(ids), 64):
        padded, mask = _batch(ids[start : start + 64])
        probs.append(torch.softmax(model(padded, mask).logits, dim=-1))
    return torch.cat(probs)


def report(probs: torch.Tensor, labels: Sequence[int]) -> dict[str, Any]:
    """Accuracy, macro F1 and the confusion matrix as JSON-ready data."""
    result = classification_report(probs.argmax(-1), torch.tensor(labels), list(LABELS))
    result["confusion"] = result["confusion"].tolist()
    result["n"] = len(labels)
    return result
