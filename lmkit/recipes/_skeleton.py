"""The skeleton every recipe follows: one command line, a checked output folder, the record
of where and how long training ran, and the files of the model folder.

Introduced in chapter 9. A recipe is a frozen dataclass of settings (its defaults made the
shipped model, ``smoke()`` a seconds-long version for tests), a ``train_…`` function that
writes the model folder, and a ``main`` that turns the shared command line below into the
recipe and runs it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from lmkit.device import describe_device
from lmkit.errors import ConfigError
from lmkit.tokenizers import Tokenizer
from lmkit.training.checkpoint import save_model
from lmkit.validators import check_int, check_number

__all__ = [
    "check_out_dir",
    "load_average",
    "machine",
    "parse_recipe_args",
    "recipe_from_args",
    "training_record",
    "write_folder",
    "write_metrics_and_card",
]


class RecipeSettings:
    """What every recipe's frozen settings dataclass shares: the common field check, then the
    recipe's own :meth:`check`; :meth:`smoke` (a seconds-long version that runs every step, for
    tests) from ``SMOKE``; and :meth:`to_dict` for metrics.json and the card."""

    SMOKE: ClassVar[dict[str, Any]] = {}
    MAY_BE_ZERO: ClassVar[tuple[str, ...]] = ()  # count fields that may be 0

    def __post_init__(self) -> None:
        check_recipe_fields(self, self.MAY_BE_ZERO)
        self.check()

    def check(self) -> None:
        """Rules of this recipe beyond the common field check (none by default)."""

    @classmethod
    def smoke(cls, **overrides: Any) -> Any:
        """A seconds-long version that runs every step of the recipe, for tests."""
        return cls(**{**cls.SMOKE, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """All settings as a JSON-ready dict."""
        return dataclasses.asdict(self)


def check_recipe_fields(recipe: Any, may_be_zero: Sequence[str] = ()) -> None:
    """The one check every recipe's settings go through: integer fields are counts (>= 1; seeds
    and the fields in ``may_be_zero`` may be 0), everything else finite numbers >= 0 (tuples
    item by item). Recipe-specific rules (lr bounds and the like) follow in each recipe."""
    for f in dataclasses.fields(recipe):
        value = getattr(recipe, f.name)
        if f.type in ("int", int):
            zero_ok = f.name.endswith("seed") or f.name in may_be_zero
            check_int(f.name, value, 0 if zero_ok else 1)
        else:
            for item in value if isinstance(value, tuple) else (value,):
                check_number(f.name, item, 0)


def parse_recipe_args(
    argv: Sequence[str] | None,
    module: str,
    description: str,
    *,
    steps: bool = True,
    device: str | None = "cpu",
    threads: int | None = 1,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The recipes' shared command line: ``--out --seed --threads --smoke --quiet``, plus
    ``--steps`` (when ``steps``), ``--device`` (default ``device``; none when ``None``) and
    whatever ``add_arguments`` adds. ``--threads`` (default ``threads``; ``None`` leaves
    torch's choice) sets the number of torch CPU threads."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    name = module.rsplit(".", 1)[-1].replace("_", "-")
    parser.add_argument("--out", default=f"runs/{name}", help="output folder (created)")
    if steps:
        parser.add_argument("--steps", type=int, default=None, help="optimizer steps")
    if device is not None:
        parser.add_argument("--device", default=device, help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--seed", type=int, default=None, help="training seed")
    parser.add_argument("--threads", type=int, default=threads, help="torch CPU threads")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long mechanics test")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {args.threads}.")
        torch.set_num_threads(args.threads)
    return args


def recipe_from_args(recipe_cls: Any, args: argparse.Namespace) -> Any:
    """The default (or ``--smoke``) recipe with every option that names one of its settings
    (``--steps``, ``--seed``, ``--epochs``…); a warmup longer than ``--steps`` is cut to it."""
    base = recipe_cls.smoke() if args.smoke else recipe_cls()
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(recipe_cls)
        if getattr(args, f.name, None) is not None
    }
    if "steps" in overrides and hasattr(base, "warmup_steps"):
        overrides["warmup_steps"] = min(base.warmup_steps, overrides["steps"])
    return dataclasses.replace(base, **overrides)


def check_out_dir(out_dir: object) -> Path:
    """``out_dir`` as a Path; a clear error for an empty name or an existing file."""
    if not isinstance(out_dir, (str, os.PathLike)) or not str(out_dir).strip():
        raise ConfigError(f"out_dir must be a folder path, got {out_dir!r}.")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; out_dir must be a folder (it is created if needed).")
    return out


def load_average() -> list[float] | None:
    """The 1/5/15-minute load averages (None where the OS has none), rounded."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # not on Windows
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


def write_metrics_and_card(
    out: Path, metrics: dict[str, Any], card: Callable[[dict[str, Any]], str], started: float
) -> None:
    """metrics.json and MODEL_CARD.md; ``metrics["training"]["total_seconds"]`` is set from
    ``started`` (a ``time.perf_counter()``) first."""
    out.mkdir(parents=True, exist_ok=True)
    metrics["training"]["total_seconds"] = round(time.perf_counter() - started, 1)
    (out / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out / "MODEL_CARD.md").write_text(card(metrics), encoding="utf-8")


def write_folder(
    out: Path,
    model: nn.Module,
    tokenizer: Tokenizer,
    metrics: dict[str, Any],
    card: Callable[[dict[str, Any]], str],
    started: float,
) -> None:
    """model.safetensors + config.json, tokenizer.json, metrics.json and MODEL_CARD.md.

    ``metrics["weights_bytes"]`` is set to the size of model.safetensors.
    """
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out)
    tokenizer.save(out / "tokenizer.json")
    metrics["weights_bytes"] = (out / "model.safetensors").stat().st_size
    write_metrics_and_card(out, metrics, card, started)
