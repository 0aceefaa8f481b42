"""Recipe: tune ``tiny-gpt-instruct``, a LoRA adapter that makes the shipped ``tiny-gpt`` answer
story-world instructions, shipped in ``lmkit/weights/tiny-gpt-instruct``.

Introduced in chapter 12. Run it with::

    python -m lmkit.recipes.tiny_gpt_instruct --out runs/tiny-gpt-instruct

It needs no GPU and takes a few minutes on a CPU. What it does, all seeded:

1. **Data.** :func:`lmkit.data.instructions.make_instructions` writes questions about a story
   and one-line summaries, in English and Chinese (:data:`TASKS`), from the story world; a held-out
   share (:func:`~lmkit.data.instructions.split_instructions`, no story in both) is validation.
   Translations are left out, as in chapter 12 (they need longer runs; not measured here).
2. **Rank.** For every ``r`` in ``ranks`` (alpha = ``alpha_per_rank`` · r, the adapted layers
   :data:`lmkit.nn.lora.GPT_TARGETS`): a short run of ``select_steps`` steps, then the
   response-token loss on the validation set. The lowest loss (then the smaller r) wins.
3. **Training.** A fresh adapter of that rank, ``steps`` AdamW steps of lmkit's
   :class:`~lmkit.training.trainer.Trainer` on the next-token loss over response tokens only
   (the prompt's labels are -100; the same number as :func:`lmkit.training.losses.response_loss`),
   warmup then cosine decay.
4. **Measurements** on the *shipped* files read back with :func:`lmkit.hub.load`: exact match per
   task on ``eval_per_task`` held-out instructions of each task, greedy answers
   (:func:`~lmkit.data.instructions.respond`), next to the base ``tiny-gpt``'s.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from lmkit.data.instructions import (
    IGNORE_INDEX,
    PROMPT_TEMPLATE,
    Encoded,
    Instruction,
    collate,
    encode_instruction,
    exact_match,
    instruction_batches,
    make_instructions,
    respond,
    split_instructions,
)
from lmkit.errors import ConfigError
from lmkit.gpt.adapter import save_folder
from lmkit.hub import load
from lmkit.nn.lora import GPT_TARGETS, add_lora, trainable_parameters
from lmkit.recipes import _skeleton
from lmkit.recipes._cards import machine_sentence, render_card, table_cell
from lmkit.training.batch_stream import BatchStream
from lmkit.training.config import TrainConfig
from lmkit.training.losses import response_loss
from lmkit.training.trainer import Trainer

BASE_MODEL = "tiny-gpt"
TASKS = ("qa_en", "qa_zh", "summary_en", "summary_zh")
MODEL = "tiny-gpt-instruct"


@dataclass(frozen=True)
class TinyGptInstructRecipe(_skeleton.RecipeSettings):
    """Every setting of the tiny-gpt-instruct recipe; the defaults made the shipped adapter."""

    seed: int = 0  # adapter initialisation and batch order
    data_seed: int = 12  # the story world that writes the instructions
    examples: int = 3200
    val_fraction: float = 0.06
    ranks: tuple[int, ...] = (4, 16)
    alpha_per_rank: float = 2.0
    select_steps: int = 60
    steps: int = 800
    batch_size: int = 16
    lr: float = 5e-3
    warmup_steps: int = 10
    eval_per_task: int = 50

    SMOKE: ClassVar[dict[str, Any]] = {
        "examples": 120, "val_fraction": 0.2, "ranks": (2,), "select_steps": 2, "steps": 3,
        "batch_size": 4, "warmup_steps": 1, "eval_per_task": 2,
    }  # fmt: skip

    def check(self) -> None:
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}.")
        if not self.ranks or any(not isinstance(r, int) or r < 1 for r in self.ranks):
            raise ConfigError(f"ranks must be integers >= 1, got {self.ranks!r}.")
        if not 0 < self.lr < 1:
            raise ConfigError(f"lr must be in (0, 1), got {self.lr}.")


# ------------------------------------------------------------------------------ pieces
def instruction_sets(
    recipe: TinyGptInstructRecipe, tokenizer: Any, block_size: int
) -> tuple[list[Encoded], list[Encoded], list[Instruction]]:
    """(training, validation) encoded examples that fit the context, and the held-out
    instructions graded at the end (the first ``eval_per_task`` validation ones of each task)."""
    examples = make_instructions(recipe.examples, seed=recipe.data_seed, tasks=TASKS)
    train, val = split_instructions(examples, recipe.val_fraction, seed=0)
    eot = tokenizer.eos_id

    def encode(items: Sequence[Instruction]) -> list[Encoded]:
        out = [encode_instruction(tokenizer, e, eot) for e in items]
        return [e for e in out if len(e.ids) <= block_size + 1]

    graded = [
        e for task in TASKS for e in [v for v in val if v.task == task][: recipe.eval_per_task]
    ]
    return encode(train), encode(val), graded


@torch.no_grad()
def validation_loss(model: torch.nn.Module, val: Sequence[Encoded], pad_id: int) -> float:
    """Mean response-token cross-entropy over ``val`` (batches of 32)."""
    total = count = 0.0
    for start in range(0, len(val), 32):
        x, y = collate(val[start : start + 32], pad_id)
        n = int((y != IGNORE_INDEX).sum())
        total += float(response_loss(model(x).logits, y)) * n
        count += n
    return total / count


def train_adapter(
    recipe: TinyGptInstructRecipe, train: Sequence[Encoded], r: int, steps: int, quiet: bool
) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    """A fresh ``tiny-gpt`` with LoRA adapters of rank ``r``, trained ``steps`` steps."""
    torch.manual_seed(recipe.seed)
    loaded = load(BASE_MODEL, device="cpu")
    model = add_lora(loaded.model, r=r, alpha=recipe.alpha_per_rank * r, targets=GPT_TARGETS)
    # the one training loop (lmkit.training.Trainer): warmup + cosine to lr/10, clipping at 1.0
    config = TrainConfig(
        max_steps=steps, batch_size=recipe.batch_size, lr=recipe.lr, min_lr=recipe.lr * 0.1,
        warmup_steps=min(recipe.warmup_steps, steps), weight_decay=0.0, eval_interval=steps,
        log_interval=min(20, steps), device="cpu", seed=recipe.seed, progress_bar=not quiet,
    )  # fmt: skip
    batches = instruction_batches(train, recipe.batch_size, loaded.tokenizer.eos_id, recipe.seed)
    trainer = Trainer(model, config, BatchStream(batches, recipe.batch_size))
    trainer.fit()
    history = [{"step": r["step"], "loss": round(r["loss"], 4)} for r in trainer.history]
    return model.eval(), history


def grade(model: torch.nn.Module, tokenizer: Any, graded: Sequence[Instruction]) -> dict:
    """Exact match per task (and on all graded instructions), with the greedy answers."""
    answers = [respond(model, tokenizer, e, tokenizer.eos_id) for e in graded]
    exact = {}
    for task in TASKS:
        pairs = [(a, e) for a, e in zip(answers, graded, strict=True) if e.task == task]
        if pairs:
            exact[task] = exact_match([a for a, _ in pairs], [e for _, e in pairs])
    return {"exact": exact, "all": exact_match(answers, graded), "answers": answers}


# ------------------------------------------------------------------------------ the recipe
def train_tiny_gpt_instruct(
    recipe: TinyGptInstructRecipe, out_dir: str | Path, *, quiet: bool = False
) -> dict[str, Any]:
    """Run every step of the recipe, write the adapter folder, return its metrics."""
    out = _skeleton.check_out_dir(out_dir)
    started = time.perf_counter()
    log: Callable[[str], None] = (
        (lambda _m: None) if quiet else (lambda m: print(m, file=sys.stderr))
    )
    base = load(BASE_MODEL, device="cpu")
    tok, block = base.tokenizer, base.model.config.block_size
    train, val, graded = instruction_sets(recipe, tok, block)
    load_before = _skeleton.load_average()
    train_started = time.perf_counter()
    selection = []
    for r in recipe.ranks:
        model, _ = train_adapter(recipe, train, r, recipe.select_steps, quiet)
        row = {"r": r, "alpha": recipe.alpha_per_rank * r,
               "trainable_parameters": trainable_parameters(model),
               "val_loss": round(validation_loss(model, val, tok.eos_id), 4)}  # fmt: skip
        selection.append(row)
        log(f"rank selection: {row}")
    chosen = min(selection, key=lambda row: (row["val_loss"], row["r"]))
    model, history = train_adapter(recipe, train, chosen["r"], recipe.steps, quiet)
    final_val = validation_loss(model, val, tok.eos_id)
    train_seconds = time.perf_counter() - train_started
    save_folder(
        model, out, base_model=BASE_MODEL, r=chosen["r"], alpha=chosen["alpha"],
        targets=GPT_TARGETS, prompt_template=PROMPT_TEMPLATE,
    )  # fmt: skip
    shipped = load(out, device="cpu")  # measure what ships, read back from the files
    base_grade, tuned_grade = grade(base.model, tok, graded), grade(shipped.model, tok, graded)
    # the first graded instruction of every task, answered by both models
    answered = zip(graded, base_grade["answers"], tuned_grade["answers"], strict=True)
    examples = [
        {"task": e.task, "instruction": e.instruction, "input": e.input, "right": e.response,
         "base": b, "instruct": t}
        for i, (e, b, t) in enumerate(answered) if i % recipe.eval_per_task == 0
    ]  # fmt: skip
    metrics = {
        "model": MODEL,
        "base_model": BASE_MODEL,
        "recipe": recipe.to_dict(),
        "tasks": list(TASKS),
        "prompt_template": PROMPT_TEMPLATE,
        "data": {
            "train": len(train),
            "val": len(val),
            "graded": {t: sum(e.task == t for e in graded) for t in TASKS},
        },
        "rank_selection": selection,
        "chosen": chosen,
        "val_loss": {
            "base": round(validation_loss(base.model, val, tok.eos_id), 4),
            "instruct": round(final_val, 4),
        },
        "exact_match": {"base": base_grade["exact"], "instruct": tuned_grade["exact"]},
        "exact_match_all": {"base": base_grade["all"], "instruct": tuned_grade["all"]},
        "examples": examples,
        "adapter_bytes": (out / "adapter.safetensors").stat().st_size,
        "training": _skeleton.training_record(
            steps=recipe.steps,
            seen=("examples_seen", recipe.steps * recipe.batch_size),
            epochs=round(recipe.steps * recipe.batch_size / len(train), 2),
            train_seconds=train_seconds,
            load_before=load_before,
            device=torch.device("cpu"),
            history=history,
        ),
    }
    _skeleton.write_metrics_and_card(out, metrics, model_card, started)
    log(f"wrote {out}: exact match {metrics['exact_match']}")
    return metrics


# ------------------------------------------------------------------------------ the card
_TASK_NAMES = {
    "qa_en": "questions (English)", "qa_zh": "questions (Chinese)",
    "summary_en": "summaries (English)", "summary_zh": "summaries (Chinese)",
}  # fmt: skip


def model_card(metrics: dict[str, Any]) -> str:
    """The ``MODEL_CARD.md`` text for a ``metrics.json`` dict of :func:`train_tiny_gpt_instruct`."""
    em = metrics["exact_match"]
    exact_rows = "\n".join(
        f"| {_TASK_NAMES[t]} | {metrics['data']['graded'][t]} | {em['base'][t]:.2f} | "
        f"{em['instruct'][t]:.2f} |"
        for t in metrics["tasks"]
    )
    rank_rows = "\n".join(
        f"| {row['r']}{' **(shipped)**' if row['r'] == metrics['chosen']['r'] else ''} | "
        f"{row['alpha']:g} | {row['trainable_parameters']:,} | {row['val_loss']:.3f} |"
        for row in metrics["rank_selection"]
    )
    example_rows = "\n".join(
        f"| {table_cell(e['instruction'])} | {table_cell(e['right'])} | {table_cell(e['base'])} | "
        f"{table_cell(e['instruct'])} |"
        for e in metrics["examples"]
    )
    return render_card(
        MODEL,
        {
            **metrics,
            "adapter_kb": metrics["adapter_bytes"] / 1e3,
            "n_graded": sum(metrics["data"]["graded"].values()),
            "template_shown": metrics["prompt_template"].replace("\n", "\\n"),
            "exact_rows": exact_rows,
            "rank_rows": rank_rows,
            "example_rows": example_rows,
            "machine_sentence": machine_sentence(metrics["training"]),
        },
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = _skeleton.parse_recipe_args(
        argv, __name__, "Tune the tiny-gpt-instruct LoRA adapter.", device=None
    )
    recipe = _skeleton.recipe_from_args(TinyGptInstructRecipe, args)
    train_tiny_gpt_instruct(recipe, args.out, quiet=args.quiet)


if __name__ == "__main__":
    main()
