"""Recipe: tune ``tiny-qa``, a LoRA adapter and a start/end head that make the shipped
``tiny-bert`` point at the answer to a question in a story, in ``lmkit/weights/tiny-qa``.

Introduced in chapter 13. Run it with::

    python -m lmkit.recipes.tiny_qa --out runs/tiny-qa

It needs no GPU and takes a few minutes on one CPU thread. What it does, all seeded:

1. **Data.** Questions with the answer's character span from ``StoryWorld(data_seed).qa``,
   English and Chinese half and half, encoded as ``[CLS] question [SEP] context [SEP]``
   (:func:`lmkit.tasks.extractive_qa.encode_qa`); the labels are the positions of the answer's
   first and last token in the window that holds it. A development set comes from another
   world (``dev_seed``), the held-out test set from a third (``val_seed``).
2. **Rank.** For every ``r`` in ``ranks``: a short run of ``select_steps`` steps, then token F1
   on the development set; the best F1 wins (the smaller r when within 0.01).
3. **Training.** A fresh adapter of that rank on every attention and feed-forward Linear of
   tiny-bert, plus the start/end head, ``steps`` AdamW steps of lmkit's Trainer.
4. **Measurements** on the *shipped* files read back with :func:`lmkit.hub.load`: SQuAD exact
   match and F1 per language on held-out questions and on the hand-written out-of-world
   questions of ``lmkit/data/out_of_world.json``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from lmkit.data.story_world import QAExample, StoryWorld
from lmkit.hub import load
from lmkit.recipes import _skeleton
from lmkit.recipes._cards import machine_sentence, render_card, table_cell
from lmkit.recipes._task_adapter import (
    BASE_MODEL,
    LANGS,
    OUT_OF_WORLD,
    TaskAdapterSettings,
    select_and_train,
    ship,
    training_section,
)
from lmkit.tasks.extractive_qa import answer_question, encode_qa, exact_match, token_f1

MODEL = "tiny-qa"
MODEL_TYPE = "bert-lora-qa"
MAX_ANSWER_TOKENS = 12


@dataclass(frozen=True)
class TinyQaRecipe(TaskAdapterSettings):
    """Every setting of the tiny-qa recipe; the defaults made the shipped adapter."""

    data_seed: int = 41
    dev_seed: int = 42
    val_seed: int = 43
    questions_per_lang: int = 3000
    dev_per_lang: int = 100
    eval_per_lang: int = 300
    select_steps: int = 100
    steps: int = 800

    SMOKE: ClassVar[dict[str, Any]] = {
        "questions_per_lang": 20, "dev_per_lang": 3, "eval_per_lang": 3, "ranks": (2,),
        "select_steps": 2, "steps": 3, "batch_size": 4, "warmup_steps": 1,
    }  # fmt: skip


def questions(seed: int, per_lang: int) -> list[QAExample]:
    """``per_lang`` English then ``per_lang`` Chinese questions of ``StoryWorld(seed)``."""
    world = StoryWorld(seed)
    return [e for lang in LANGS for e in world.qa(per_lang, lang)]


def encode_example(tokenizer: Any, example: QAExample, max_len: int) -> dict | None:
    """The first window that holds the whole answer, with the positions of its first and last
    token; ``None`` if no window does."""
    start, end = example.answer_start, example.answer_start + len(example.answer)
    for window in encode_qa(tokenizer, example.question, example.context, max_len):
        inside = [
            i
            for i, o in enumerate(window.context_offsets)
            if o and o[0] < o[1] and start <= o[0] < end
        ]
        if (
            inside
            and window.context_offsets[inside[0]][0] == start
            and window.context_offsets[inside[-1]][1] >= end
        ):
            return {
                "input_ids": window.ids, "token_type_ids": window.token_type_ids,
                "start_positions": inside[0], "end_positions": inside[-1],
            }  # fmt: skip
    return None


def out_of_world_examples(lang: str) -> list[QAExample]:
    """The hand-written questions of one language."""
    data = json.loads(OUT_OF_WORLD.read_text(encoding="utf-8"))["qa"][lang]
    return [
        QAExample(x["context"], x["question"], x["answer"], x["context"].index(x["answer"]))
        for x in data
    ]


def grade(model: Any, tokenizer: Any, examples: Sequence[QAExample]) -> dict[str, Any]:
    """Mean exact match and F1 of the model's answers, and the answers."""
    answers = [
        answer_question(model, tokenizer, x.question, x.context, MAX_ANSWER_TOKENS).text
        for x in examples
    ]
    n = len(examples)
    return {
        "exact_match": round(
            sum(exact_match(a, x.answer) for a, x in zip(answers, examples, strict=True)) / n, 4
        ),
        "f1": round(
            sum(token_f1(a, x.answer) for a, x in zip(answers, examples, strict=True)) / n, 4
        ),
        "n": n,
        "answers": answers,
    }


def train_tiny_qa(recipe: TinyQaRecipe, out_dir: str | Path, *, quiet: bool = False) -> dict:
    """Run every step of the recipe, write the adapter folder, return its metrics."""
    out = _skeleton.check_out_dir(out_dir)
    started = time.perf_counter()
    log = (lambda _m: None) if quiet else (lambda m: print(m, file=sys.stderr))
    base = load(BASE_MODEL, device="cpu")
    tokenizer, max_len = base.tokenizer, base.model.config.max_position
    encoded = [
        encode_example(tokenizer, e, max_len)
        for e in questions(recipe.data_seed, recipe.questions_per_lang)
    ]
    rows = [r for r in encoded if r is not None]
    dev = questions(recipe.dev_seed, recipe.dev_per_lang)
    pad = {"input_ids": tokenizer.pad_id, "token_type_ids": 0}
    load_before = _skeleton.load_average()
    train_started = time.perf_counter()
    model, history, selection, chosen = select_and_train(
        MODEL_TYPE, rows, pad, recipe, lambda m: grade(m, tokenizer, dev)["f1"], quiet=quiet
    )
    train_seconds = time.perf_counter() - train_started
    shipped = ship(model, out, MODEL_TYPE, chosen)
    training = training_section(
        recipe, out, "questions_seen", len(rows), train_seconds, load_before, history
    )
    held_out = StoryWorld(recipe.val_seed)
    held = {
        lang: grade(shipped.model, tokenizer, held_out.qa(recipe.eval_per_lang, lang))
        for lang in LANGS
    }
    outside = {lang: grade(shipped.model, tokenizer, out_of_world_examples(lang)) for lang in LANGS}
    metrics: dict[str, Any] = {
        "model": MODEL,
        "base_model": BASE_MODEL,
        "recipe": recipe.to_dict(),
        "max_answer_tokens": MAX_ANSWER_TOKENS,
        "data": {
            "train_questions": len(rows),
            "dropped": len(encoded) - len(rows),
            "dev_questions": len(dev),
        },
        "rank_selection": selection,
        "chosen": chosen,
        "held_out": {
            lang: {k: v for k, v in s.items() if k != "answers"} for lang, s in held.items()
        },
        "out_of_world": {
            lang: {k: v for k, v in s.items() if k != "answers"} for lang, s in outside.items()
        },
        "examples": [
            {"context": x.context, "question": x.question, "right": x.answer, "answer": a}
            for lang in LANGS
            for x, a in zip(out_of_world_examples(lang), outside[lang]["answers"], strict=True)
        ],
        **training,
    }
    _skeleton.write_metrics_and_card(out, metrics, model_card, started)
    log(f"wrote {out}: held-out {metrics['held_out']}")
    return metrics


def model_card(metrics: dict[str, Any]) -> str:
    """The ``MODEL_CARD.md`` text for a ``metrics.json`` dict of :func:`train_tiny_qa`."""
    rank_rows = "\n".join(
        f"| {row['r']}{' **(shipped)**' if row['r'] == metrics['chosen']['r'] else ''} | "
        f"{row['alpha']:g} | {row['trainable_parameters']:,} | {row['dev_f1']:.3f} |"
        for row in metrics["rank_selection"]
    )
    score_rows = "\n".join(
        f"| {where} | {lang} | {s['n']} | {s['exact_match']:.3f} | {s['f1']:.3f} |"
        for where, key in (("held-out story world", "held_out"), ("out of world", "out_of_world"))
        for lang, s in metrics[key].items()
    )
    example_rows = "\n".join(
        f"| {table_cell(e['context'])} | {table_cell(e['question'])} | {table_cell(e['right'])} | "
        f"{table_cell(e['answer'])} |"
        for e in metrics["examples"]
    )
    return render_card(
        MODEL,
        {
            **metrics,
            "adapter_kb": metrics["adapter_bytes"] / 1e3,
            "score_rows": score_rows,
            "rank_rows": rank_rows,
            "example_rows": example_rows,
            "machine_sentence": machine_sentence(metrics["training"]),
        },
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = _skeleton.parse_recipe_args(
        argv, __name__, "Tune the tiny-qa LoRA span finder.", device=None
    )
    recipe = _skeleton.recipe_from_args(TinyQaRecipe, args)
    train_tiny_qa(recipe, args.out, quiet=args.quiet)


if __name__ == "__main__":
    main()
