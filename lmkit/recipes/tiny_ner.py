"""Recipe: tune ``tiny-ner``, a LoRA adapter and a tagging head that make the shipped
``tiny-bert`` find people (PER), places (LOC) and organisations (ORG), in
``lmkit/weights/tiny-ner``.

Introduced in chapter 13. Run it with::

    python -m lmkit.recipes.tiny_ner --out runs/tiny-ner

It needs no GPU and takes a few minutes on one CPU thread. What it does, all seeded:

1. **Data.** Stories with exact entity spans from ``StoryWorld(data_seed).ner``, English and
   Chinese mixed half and half; BIO tags on the first token of every word, -100 elsewhere
   (:func:`lmkit.tasks.ner.align_labels`). A development set comes from another world
   (``dev_seed``), the held-out test set from a third (``val_seed``).
2. **Rank.** For every ``r`` in ``ranks``: a short run of ``select_steps`` steps, then span F1
   on the development set; the best F1 wins (the smaller r when within 0.01).
3. **Training.** A fresh adapter of that rank on every attention and feed-forward Linear of
   tiny-bert, plus the linear head, ``steps`` AdamW steps of lmkit's Trainer.
4. **Measurements** on the *shipped* files read back with :func:`lmkit.hub.load`: exact-span
   precision, recall and F1 per language and per label on the held-out stories, and on the
   hand-written out-of-world sentences of ``lmkit/data/out_of_world.json``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from lmkit.data.story_world import NerExample, StoryWorld
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
from lmkit.tasks.ner import IGNORE_INDEX, align_labels, bio_tag_set, span_prf, tag_entities
from lmkit.tasks.token_offsets import encode_with_offsets, word_starts

MODEL = "tiny-ner"
MODEL_TYPE = "bert-lora-tagger"
ENTITY_LABELS = ("PER", "LOC", "ORG")


@dataclass(frozen=True)
class TinyNerRecipe(TaskAdapterSettings):
    """Every setting of the tiny-ner recipe; the defaults made the shipped adapter."""

    data_seed: int = 31
    dev_seed: int = 32
    val_seed: int = 33
    stories_per_lang: int = 1500
    dev_per_lang: int = 100
    eval_per_lang: int = 300
    select_steps: int = 120
    steps: int = 700

    SMOKE: ClassVar[dict[str, Any]] = {
        "stories_per_lang": 20, "dev_per_lang": 3, "eval_per_lang": 3, "ranks": (2,),
        "select_steps": 2, "steps": 3, "batch_size": 4, "warmup_steps": 1,
    }  # fmt: skip


def stories(seed: int, per_lang: int) -> list[NerExample]:
    """``per_lang`` English then ``per_lang`` Chinese stories of ``StoryWorld(seed)``."""
    world = StoryWorld(seed)
    return [e for lang in LANGS for e in world.ner(per_lang, lang)]


def encode_example(tokenizer: Any, example: NerExample, tag_ids: dict[str, int]) -> dict:
    """``[CLS] text [SEP]`` ids and first-sub-word labels (-100 on [CLS], [SEP], other pieces)."""
    ids, offsets = encode_with_offsets(tokenizer, example.text)
    labels = align_labels(offsets, word_starts(example.text, offsets), example.spans, tag_ids)
    return {
        "input_ids": [tokenizer.cls_id, *ids, tokenizer.sep_id],
        "labels": [IGNORE_INDEX, *labels, IGNORE_INDEX],
    }


def out_of_world_examples(lang: str) -> list[NerExample]:
    """The hand-written sentences of one language, entities turned into character spans."""
    data = json.loads(OUT_OF_WORLD.read_text(encoding="utf-8"))["ner"][lang]
    out = []
    for item in data:
        spans, pos = [], 0
        for surface, label in item["entities"]:
            start = item["text"].index(surface, pos)
            pos = start + len(surface)
            spans.append((start, pos, label))
        out.append(NerExample(item["text"], tuple(spans)))
    return out


def grade(model: Any, tokenizer: Any, examples: Sequence[NerExample]) -> dict[str, Any]:
    """:func:`~lmkit.tasks.ner.span_prf` of the model's entities against the gold spans."""
    pred = [
        [(e.start, e.end, e.label) for e in tag_entities(model, tokenizer, x.text)]
        for x in examples
    ]
    scores = span_prf([list(x.spans) for x in examples], pred)
    return _rounded(scores)


def _rounded(scores: dict[str, Any]) -> dict[str, Any]:
    return {k: _rounded(v) if isinstance(v, dict) else round(v, 4) for k, v in scores.items()}


def train_tiny_ner(recipe: TinyNerRecipe, out_dir: str | Path, *, quiet: bool = False) -> dict:
    """Run every step of the recipe, write the adapter folder, return its metrics."""
    out = _skeleton.check_out_dir(out_dir)
    started = time.perf_counter()
    log = (lambda _m: None) if quiet else (lambda m: print(m, file=sys.stderr))
    tokenizer = load(BASE_MODEL, device="cpu").tokenizer
    tags = bio_tag_set(ENTITY_LABELS)
    tag_ids = {t: i for i, t in enumerate(tags)}
    rows = [
        encode_example(tokenizer, e, tag_ids)
        for e in stories(recipe.data_seed, recipe.stories_per_lang)
    ]
    rows = [r for r in rows if len(r["input_ids"]) <= 128]
    dev = stories(recipe.dev_seed, recipe.dev_per_lang)
    pad = {"input_ids": tokenizer.pad_id, "labels": IGNORE_INDEX}
    load_before = _skeleton.load_average()
    train_started = time.perf_counter()
    model, history, selection, chosen = select_and_train(
        MODEL_TYPE,
        rows,
        pad,
        recipe,
        lambda m: grade(m, tokenizer, dev)["f1"],
        labels=tags,
        quiet=quiet,
    )
    train_seconds = time.perf_counter() - train_started
    shipped = ship(model, out, MODEL_TYPE, chosen)
    training = training_section(
        recipe, out, "stories_seen", len(rows), train_seconds, load_before, history
    )
    held_out = StoryWorld(recipe.val_seed)
    metrics: dict[str, Any] = {
        "model": MODEL,
        "base_model": BASE_MODEL,
        "recipe": recipe.to_dict(),
        "tags": list(tags),
        "data": {
            "train_stories": len(rows),
            "dev_stories": len(dev),
            "eval_per_lang": recipe.eval_per_lang,
        },
        "rank_selection": selection,
        "chosen": chosen,
        "held_out": {
            lang: grade(shipped.model, tokenizer, held_out.ner(recipe.eval_per_lang, lang))
            for lang in LANGS
        },
        "out_of_world": {
            lang: grade(shipped.model, tokenizer, out_of_world_examples(lang)) for lang in LANGS
        },
        "examples": [
            {
                "text": x.text,
                "gold": [[x.text[s:e], lab] for s, e, lab in x.spans],
                "found": [
                    [e.text, e.label, e.score]
                    for e in tag_entities(shipped.model, tokenizer, x.text)
                ],
            }
            for lang in LANGS
            for x in out_of_world_examples(lang)
        ],
        **training,
    }
    _skeleton.write_metrics_and_card(out, metrics, model_card, started)
    log(f"wrote {out}: held-out F1 {[metrics['held_out'][lang]['f1'] for lang in LANGS]}")
    return metrics


def _score_rows(scores: dict[str, dict[str, Any]]) -> str:
    rows = []
    for lang in LANGS:
        s = scores[lang]
        rows.append(
            f"| {lang} | all | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
        )
        for label, p in s["per_label"].items():
            rows.append(
                f"| {lang} | {label} | {p['precision']:.3f} | {p['recall']:.3f} | {p['f1']:.3f} | {p['support']} |"
            )
    return "\n".join(rows)


def model_card(metrics: dict[str, Any]) -> str:
    """The ``MODEL_CARD.md`` text for a ``metrics.json`` dict of :func:`train_tiny_ner`."""
    rank_rows = "\n".join(
        f"| {row['r']}{' **(shipped)**' if row['r'] == metrics['chosen']['r'] else ''} | "
        f"{row['alpha']:g} | {row['trainable_parameters']:,} | {row['dev_f1']:.3f} |"
        for row in metrics["rank_selection"]
    )

    def entities(items: list) -> str:
        return table_cell(", ".join(f"{e[0]} ({e[1]})" for e in items) or "none")

    example_rows = "\n".join(
        f"| {table_cell(e['text'])} | {entities(e['gold'])} | {entities(e['found'])} |"
        for e in metrics["examples"]
    )
    return render_card(
        MODEL,
        {
            **metrics,
            "adapter_kb": metrics["adapter_bytes"] / 1e3,
            "held_out_rows": _score_rows(metrics["held_out"]),
            "out_of_world_rows": _score_rows(metrics["out_of_world"]),
            "rank_rows": rank_rows,
            "example_rows": example_rows,
            "machine_sentence": machine_sentence(metrics["training"]),
        },
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = _skeleton.parse_recipe_args(
        argv, __name__, "Tune the tiny-ner LoRA tagger.", device=None
    )
    recipe = _skeleton.recipe_from_args(TinyNerRecipe, args)
    train_tiny_ner(recipe, args.out, quiet=args.quiet)


if __name__ == "__main__":
    main()
