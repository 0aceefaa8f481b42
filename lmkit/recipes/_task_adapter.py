"""What the tiny-ner and tiny-qa recipes share: padded dict batches in a seeded, length-grouped
order, and one LoRA fine-tuning run of a task model on tiny-bert with lmkit's Trainer.

Introduced in chapter 13.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lmkit.bert.adapter import (
    ADAPTER_FILE,
    BERT_TARGETS,
    HEAD_FILE,
    save_folder,
    task_model_from_base,
)
from lmkit.errors import ConfigError
from lmkit.hub import load
from lmkit.nn.lora import add_lora, trainable_parameters
from lmkit.recipes import _skeleton
from lmkit.recipes._bert_inputs import length_batches
from lmkit.training.batch_stream import BatchStream
from lmkit.training.config import TrainConfig
from lmkit.training.trainer import Trainer

__all__ = [
    "BASE_MODEL", "LANGS", "OUT_OF_WORLD", "TaskAdapterSettings", "collate", "endless_batches",
    "select_and_train", "ship", "train_task_adapter", "training_section",
]  # fmt: skip

BASE_MODEL = "tiny-bert"
LANGS = ("en", "zh")
# sentences written by hand with real names and places, for the cards' out-of-world rows
OUT_OF_WORLD = Path(__file__).resolve().parents[1] / "data" / "out_of_world.json"


@dataclass(frozen=True)
class TaskAdapterSettings(_skeleton.RecipeSettings):
    """The settings both task recipes share (each adds its data sizes, seeds and steps)."""

    seed: int = 0  # adapter and head initialisation, batch order
    ranks: tuple[int, ...] = (2, 8)  # LoRA ranks tried, the best on the development set kept
    alpha_per_rank: float = 2.0
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 30

    def check(self) -> None:
        if not self.ranks or any(not isinstance(r, int) or r < 1 for r in self.ranks):
            raise ConfigError(f"ranks must be integers >= 1, got {self.ranks!r}.")
        if not 0 < self.lr < 1:
            raise ConfigError(f"lr must be in (0, 1), got {self.lr}.")


def collate(rows: Sequence[Mapping[str, Any]], pad: Mapping[str, int]) -> dict[str, torch.Tensor]:
    """Right-pad the list fields of ``rows`` (``pad`` gives each field's filler) into tensors;
    scalar fields are stacked; ``attention_mask`` is 1 on real tokens."""
    longest = max(len(r["input_ids"]) for r in rows)
    batch: dict[str, torch.Tensor] = {}
    for key in rows[0]:
        if isinstance(rows[0][key], list):
            batch[key] = torch.tensor([r[key] + [pad[key]] * (longest - len(r[key])) for r in rows])
        else:
            batch[key] = torch.tensor([r[key] for r in rows])
    batch["attention_mask"] = torch.tensor(
        [[1] * len(r["input_ids"]) + [0] * (longest - len(r["input_ids"])) for r in rows]
    )
    return batch


def endless_batches(
    rows: Sequence[Mapping[str, Any]], batch_size: int, pad: Mapping[str, int], seed: int
) -> Iterator[dict[str, torch.Tensor]]:
    """Epoch after epoch of length-grouped batches, reshuffled from ``random.Random(seed)``."""
    rng = random.Random(seed)
    lengths = [len(r["input_ids"]) for r in rows]
    while True:
        for index in length_batches(lengths, batch_size, rng):
            yield collate([rows[i] for i in index], pad)


def train_task_adapter(
    model_type: str,
    rows: Sequence[Mapping[str, Any]],
    pad: Mapping[str, int],
    *,
    labels: Sequence[str] = (),
    r: int,
    alpha: float,
    steps: int,
    batch_size: int,
    lr: float,
    warmup_steps: int,
    seed: int,
    quiet: bool,
) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    """A fresh task model on tiny-bert's encoder with LoRA of rank ``r`` on every attention and
    feed-forward Linear (:data:`~lmkit.bert.adapter.BERT_TARGETS`) and a trainable head,
    trained ``steps`` AdamW steps (warmup, cosine to lr/10, clipping at 1.0)."""
    torch.manual_seed(seed)
    base = load(BASE_MODEL, device="cpu")
    model = task_model_from_base(model_type, base.model, labels)
    add_lora(model.bert, r=r, alpha=alpha, targets=BERT_TARGETS)  # the head stays trainable
    config = TrainConfig(
        max_steps=steps, batch_size=batch_size, lr=lr, min_lr=lr * 0.1,
        warmup_steps=min(warmup_steps, steps), weight_decay=0.0, eval_interval=steps,
        log_interval=min(25, steps), device="cpu", seed=seed, progress_bar=not quiet,
    )  # fmt: skip
    stream = BatchStream(endless_batches(rows, batch_size, pad, seed), batch_size)
    trainer = Trainer(model, config, stream)
    trainer.fit()
    history = [{"step": h["step"], "loss": round(h["loss"], 4)} for h in trainer.history]
    return model.eval(), history


def select_and_train(
    model_type: str,
    rows: Sequence[Mapping[str, Any]],
    pad: Mapping[str, int],
    recipe: Any,
    dev_f1: Callable[[torch.nn.Module], float],
    *,
    labels: Sequence[str] = (),
    quiet: bool,
) -> tuple[torch.nn.Module, list[dict[str, float]], list[dict[str, Any]], dict[str, Any]]:
    """Rank selection, then the real run: for every ``r`` in ``recipe.ranks`` a run of
    ``recipe.select_steps`` steps scored by ``dev_f1``; the best rank (the smaller one when
    within 0.01) trains ``recipe.steps`` steps from a fresh start. Returns the model, its
    loss history, the selection table and the chosen row."""
    settings = {
        "labels": labels, "batch_size": recipe.batch_size, "lr": recipe.lr,
        "warmup_steps": recipe.warmup_steps, "seed": recipe.seed, "quiet": quiet,
    }  # fmt: skip
    selection = []
    for r in recipe.ranks:
        alpha = recipe.alpha_per_rank * r
        model, _ = train_task_adapter(
            model_type, rows, pad, r=r, alpha=alpha, steps=recipe.select_steps, **settings
        )
        selection.append({"r": r, "alpha": alpha, "trainable_parameters": trainable_parameters(model),
                          "dev_f1": round(dev_f1(model), 4)})  # fmt: skip
    top = max(row["dev_f1"] for row in selection)
    chosen = min((row for row in selection if row["dev_f1"] >= top - 0.01), key=lambda x: x["r"])
    model, history = train_task_adapter(
        model_type, rows, pad, r=chosen["r"], alpha=chosen["alpha"], steps=recipe.steps, **settings
    )
    return model, history, selection, chosen


def ship(model: torch.nn.Module, out: Path, model_type: str, chosen: Mapping[str, Any]) -> Any:
    """Write the adapter folder and read it back with :func:`lmkit.hub.load`: the metrics are
    measured on what ships."""
    save_folder(
        model, out, model_type=model_type, base_model=BASE_MODEL, r=chosen["r"],
        alpha=chosen["alpha"], targets=BERT_TARGETS,
    )  # fmt: skip
    return load(out, device="cpu")


def training_section(
    recipe: Any,
    out: Path,
    seen: str,
    n_rows: int,
    train_seconds: float,
    load_before: Any,
    history: list[dict[str, float]],
) -> dict[str, Any]:
    """``adapter_bytes`` (of the written folder) and ``training`` for metrics.json."""
    return {
        "adapter_bytes": sum((out / f).stat().st_size for f in (ADAPTER_FILE, HEAD_FILE)),
        "training": _skeleton.training_record(
            steps=recipe.steps, seen=(seen, recipe.steps * recipe.batch_size),
            epochs=round(recipe.steps * recipe.batch_size / n_rows, 2),
            train_seconds=train_seconds, load_before=load_before,
            device=torch.device("cpu"), history=history,
        ),
    }  # fmt: skip
