"""What the BERT recipes share: the machine description, batching by length, the training
loop with warmup + cosine, and writing the model folder.

Introduced in chapter 11. ``tiny_gpt`` keeps its own copies (it came first); the recipes of
``tiny-bert`` and ``tiny-sentiment`` use these.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lmkit.device import describe_device
from lmkit.errors import ConfigError
from lmkit.tokenizers import Tokenizer
from lmkit.training.checkpoint import save_model
from lmkit.training.schedule import warmup_cosine


def load_average() -> list[float] | None:
    """The 1/5/15-minute load averages (None where the OS has none), rounded."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine(device: torch.device) -> dict[str, Any]:
    """Where a run happened: device, threads, CPUs, platform and library versions."""
    return {
        "device": describe_device(device),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def training_record(
    *,
    steps: int,
    seen: tuple[str, int],
    epochs: float,
    train_seconds: float,
    load_before: list[float] | None,
    device: torch.device,
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    """The ``"training"`` section of a recipe's metrics.json: how long, how much, where.

    ``seen`` names what a step consumes and how many were seen in all, e.g.
    ``("stories_seen", 96000)``; ``total_seconds`` is filled in once the files are written.
    """
    name, count = seen
    return {
        "steps": steps,
        name: count,
        "epochs": epochs,
        "train_seconds": round(train_seconds, 1),
        "total_seconds": None,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        **machine(device),
        "history": history,
    }


def machine_sentence(t: dict[str, Any]) -> str:
    """One sentence for a model card from :func:`machine` fields plus timing and load."""
    return (
        f"Training took {t['train_seconds']:.0f} s ({t['train_seconds'] / 60:.1f} min) on "
        f"{t['device']}, a machine with {t['cpu_count']} CPUs whose load average was "
        f"{t['load_average_before']} before and {t['load_average_after']} after (other jobs "
        f"shared it), with torch {t['torch']}."
    )


def length_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, pool: int = 50
) -> list[list[int]]:
    """Index batches of similar lengths (little padding), in a seeded random order.

    Examples are shuffled, cut into pools of ``pool`` batches, sorted by length inside each
    pool and cut into batches; the batches are then shuffled.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    size = batch_size * pool
    for start in range(0, len(order), size):
        chunk = sorted(order[start : start + size], key=lengths.__getitem__)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (B, T) and the attention mask (B, T), 1 = real token."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def adamw(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW that decays matrices only (not biases, LayerNorms or embeddings' rows of one)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr)


def train_loop(
    model: nn.Module,
    batches: Iterator[dict[str, torch.Tensor]],
    *,
    steps: int,
    lr: float,
    min_lr: float,
    warmup_steps: int,
    weight_decay: float,
    evaluate: Callable[[], dict[str, float]] | None = None,
    eval_interval: int = 0,
    log: Callable[[str], None] = lambda _m: None,
) -> list[dict[str, Any]]:
    """``steps`` AdamW steps on ``model(**batch).loss`` with warmup + cosine and clipping at 1.

    Returns a history of ``{"step", "loss", "lr"}`` records (mean loss since the last record)
    with the results of ``evaluate()`` every ``eval_interval`` steps and at the end.
    """
    if steps < 1 or warmup_steps > steps:
        raise ConfigError(f"Need 1 <= warmup_steps <= steps, got {warmup_steps} and {steps}.")
    optimizer = adamw(model, lr, weight_decay)
    history: list[dict[str, Any]] = []
    running, count, started = 0.0, 0, time.perf_counter()
    for step in range(steps):
        rate = warmup_cosine(
            step, max_lr=lr, min_lr=min_lr, warmup_steps=warmup_steps, decay_steps=steps
        )
        for group in optimizer.param_groups:
            group["lr"] = rate
        model.train()
        loss = model(**next(batches)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running, count = running + loss.item(), count + 1
        last = step == steps - 1
        if (eval_interval and (step + 1) % eval_interval == 0) or last:
            record: dict[str, Any] = {"step": step + 1, "loss": running / count, "lr": rate}
            if evaluate is not None:
                model.eval()
                record.update(evaluate())
            history.append(record)
            elapsed = time.perf_counter() - started
            log(f"step {step + 1}/{steps} ({elapsed:.0f} s): {record}")
            running, count = 0.0, 0
    model.eval()
    return history


def write_folder(
    out: Path,
    model: nn.Module,
    tokenizer: Tokenizer,
    metrics: dict[str, Any],
    card: Callable[[dict[str, Any]], str],
    started: float,
) -> None:
    """model.safetensors + config.json, tokenizer.json, metrics.json and MODEL_CARD.md.

    ``metrics["training"]["total_seconds"]`` is set from ``started`` (a ``time.perf_counter``).
    """
    out.mkdir(parents=True, exist_ok=True)
    metrics["training"]["total_seconds"] = round(time.perf_counter() - started, 1)
    save_model(model, out)
    tokenizer.save(out / "tokenizer.json")
    metrics["weights_bytes"] = (out / "model.safetensors").stat().st_size
    (out / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out / "MODEL_CARD.md").write_text(card(metrics), encoding="utf-8")


def parse_recipe_args(
    argv: Sequence[str] | None,
    prog: str,
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The recipes' shared command line (--out, --steps, --device, --threads, --smoke, --quiet);
    also sets the number of torch CPU threads."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=description)
    name = prog.rsplit(".", 1)[-1].replace("_", "-")
    parser.add_argument("--out", default=f"runs/{name}", help="output folder (created)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, auto…")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long test run")
    parser.add_argument("--quiet", action="store_true", help="no progress messages")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}.")
    torch.set_num_threads(args.threads)
    return args


def recipe_from_args(recipe_cls: Any, args: argparse.Namespace) -> Any:
    """The default (or ``--smoke``) recipe, with ``--steps`` and a warmup that fits in it."""
    overrides = {}
    if args.steps is not None:
        overrides = {"steps": args.steps, "warmup_steps": min(recipe_cls.warmup_steps, args.steps)}
    return recipe_cls.smoke(**overrides) if args.smoke else recipe_cls(**overrides)


def table_cell(text: str) -> str:
    """Text that stays inside one cell of a Markdown table."""
    return " ".join(str(text).split()).replace("|", "\\|") or "(empty)"


__all__ = [
    "adamw",
    "length_batches",
    "load_average",
    "machine",
    "machine_sentence",
    "pad_batch",
    "parse_recipe_args",
    "recipe_from_args",
    "table_cell",
    "train_loop",
    "write_folder",
]
