"""The two training stages of minilm-sentiment, each one :class:`~lmkit.training.trainer.Trainer`
run on the cached lower-layer states (:mod:`lmkit.recipes._minilm_cache`).

Introduced in chapter 11. Both stages use a constant learning rate, no clipping, fp32 and
AdamW (betas 0.9/0.999) decaying *every* parameter, biases and LayerNorms included, as the
shipped model was made; the random generators are left as the recipe seeded them, so the
encoder's dropout continues the stream the head's initialisation started.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from lmkit.minilm.classifier import MiniLMClassifier
from lmkit.recipes._minilm_cache import HeadOnFeatures, TopLayersOnCache, epoch_batches
from lmkit.training.batch_stream import BatchStream
from lmkit.training.config import TrainConfig
from lmkit.training.trainer import Trainer

__all__ = ["fine_tune", "train_head"]


def _constant_lr(steps: int, lr: float, weight_decay: float, eval_interval: int = 1) -> TrainConfig:
    return TrainConfig(
        max_steps=steps, lr=lr, schedule="constant", warmup_steps=0, weight_decay=weight_decay,
        betas=(0.9, 0.999), eps=1e-8, fused=False, grad_clip=None, eval_interval=eval_interval,
        log_interval=1, amp="off", device="cpu", seed=None, progress_bar=False,
    )  # fmt: skip


def train_head(
    head: nn.Module, batch: Mapping[str, torch.Tensor], *, steps: int, lr: float
) -> None:
    """Stage 1: ``steps`` full-batch AdamW steps (weight decay 0.01) of a linear head on the
    frozen encoder's features; ``batch`` holds ``features``, ``labels`` and ``weights``."""
    if steps:
        Trainer(
            HeadOnFeatures(head),
            _constant_lr(steps, lr, weight_decay=0.01),
            BatchStream(itertools.repeat(batch), len(batch["labels"])),
            param_groups=[{"params": head.parameters()}],
        ).fit()


def fine_tune(
    model: MiniLMClassifier,
    first_tuned: int,
    train: tuple[list[torch.Tensor], torch.Tensor, torch.Tensor],
    *,
    lr: float,
    lr_head: float,
    weight_decay: float,
    batch_size: int,
    epochs: int,
    seed: int,
    end_of_epoch: Callable[[nn.Module], Mapping[str, Any]],
) -> list[float]:
    """Stage 2: ``epochs`` passes over ``train`` (states, labels, weights) training the layers
    from ``first_tuned`` up at ``lr`` and the head at ``lr_head``; ``end_of_epoch`` is called
    after each pass. Returns each epoch's mean loss (weighted by batch size)."""
    states, labels, weights = train
    steps_per_epoch = math.ceil(len(states) / batch_size)
    tuned = model.encoder.encoder.layer[first_tuned:]
    trainer = Trainer(
        TopLayersOnCache(model, first_tuned),
        _constant_lr(epochs * steps_per_epoch, lr_head, weight_decay, steps_per_epoch),
        BatchStream(epoch_batches(states, labels, weights, batch_size, seed, epochs), batch_size),
        evaluator=end_of_epoch,
        # the head follows the config's rate (lr_head); the tuned layers keep their own
        param_groups=[
            {"params": tuned.parameters(), "lr": lr},
            {"params": model.head.parameters()},
        ],
    )
    per_step = trainer.fit()
    sizes = [min(batch_size, len(states) - i) for i in range(0, len(states), batch_size)]
    losses = []
    for epoch in range(epochs):
        total, seen = 0.0, 0
        records = per_step[epoch * steps_per_epoch : (epoch + 1) * steps_per_epoch]
        for record, size in zip(records, sizes, strict=True):
            total, seen = total + record["loss"] * size, seen + size
        losses.append(total / seen)
    return losses
