"""How the recipes train: the :class:`~lmkit.training.trainer.Trainer` with the settings each
shipped model was made with, and a history of one record per evaluation for metrics.json.

Introduced in chapter 11. The story-world BERT recipes train on a stream of dict batches with
AdamW (betas 0.9/0.999, decay on matrices), warmup + cosine, clipping at 1.0 over
``model.parameters()`` in fp32, and leave the random generators as the recipe seeded them
(dropout continues the stream the weight initialisation started), so a re-run gives the
shipped weights bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from lmkit.training.batch_stream import BatchStream
from lmkit.training.config import TrainConfig
from lmkit.training.trainer import Trainer

__all__ = ["PerEvaluation", "fit_on_stream"]


class PerEvaluation:
    """A Trainer callback that keeps one record per evaluation: ``step`` (1-based), ``loss``
    (mean over the steps since the previous evaluation), ``lr`` and the evaluator's results.

    Its :meth:`evaluator` wraps the recipe's evaluation so the callback knows which records
    carry results; ``log`` receives a line per evaluation.
    """

    def __init__(self, evaluate: Callable[[nn.Module], Mapping[str, Any]], steps: int,
                 log: Callable[[str], None]) -> None:  # fmt: skip
        self.records: list[dict[str, Any]] = []
        self._evaluate, self._steps, self._log = evaluate, steps, log
        self._results: dict[str, Any] | None = None
        self._loss_sum, self._count = 0.0, 0

    def evaluator(self, model: nn.Module) -> dict[str, Any]:
        self._results = dict(self._evaluate(model))
        return self._results

    def __call__(self, trainer: Trainer, record: dict[str, Any]) -> bool:
        self._loss_sum, self._count = self._loss_sum + record["loss"], self._count + 1
        if self._results is not None:
            kept = {"step": record["step"] + 1, "loss": self._loss_sum / self._count,
                    "lr": record["lr"], **self._results}  # fmt: skip
            self.records.append(kept)
            self._log(f"step {kept['step']}/{self._steps} ({record['elapsed']:.0f} s): {kept}")
            self._results, self._loss_sum, self._count = None, 0.0, 0
        return False


def fit_on_stream(
    model: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    *,
    batch_size: int,
    steps: int,
    lr: float,
    min_lr: float,
    warmup_steps: int,
    weight_decay: float,
    eval_interval: int,
    evaluate: Callable[[nn.Module], Mapping[str, Any]],
    device: torch.device,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Train ``model`` on ``model(**batch).loss`` for ``steps`` steps; see the module docstring.

    Returns the :class:`PerEvaluation` records (every ``eval_interval`` steps and at the end).
    """
    config = TrainConfig(
        max_steps=steps, lr=lr, min_lr=min_lr, warmup_steps=warmup_steps,
        weight_decay=weight_decay, betas=(0.9, 0.999), eps=1e-8, fused=False,
        grad_clip=1.0, grad_norm_order="model", eval_interval=eval_interval, log_interval=1,
        amp="off", device=str(device), seed=None, progress_bar=False,
    )  # fmt: skip
    kept = PerEvaluation(evaluate, steps, log)
    stream = BatchStream(batches, batch_size)
    Trainer(model, config, stream, callbacks=[kept], evaluator=kept.evaluator).fit()
    return kept.records
