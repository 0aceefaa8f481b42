"""Recipe: fine-tune ``tiny-bert`` into ``tiny-sentiment``, a 2-class (negative, positive)
classifier for English and Chinese sentences, shipped in ``lmkit/weights/tiny-sentiment``.

Introduced in chapter 11. Run it with::

    python -m lmkit.recipes.tiny_sentiment --out runs/tiny-sentiment --threads 1
    python -m lmkit.recipes.tiny_sentiment --init runs/tiny-bert   # start from another tiny-bert

What it does, all seeded:

1. **Data.** Opinion sentences from ``StoryWorld(seed).sentiment`` (English, then Chinese), plus
   the training split of lmkit's hand-written reviews (:func:`lmkit.data.reviews.load_reviews`),
   repeated ``review_repeats`` times because there are few of them.
2. **Model.** A :class:`~lmkit.bert.model.BertForSequenceClassification` whose encoder starts from
   tiny-bert's weights (the pooler and classifier start fresh), trained by the
   :class:`~lmkit.training.trainer.Trainer` (AdamW, warmup + cosine), dropout 0.1.
3. **Measurements.** Accuracy on a held-out StoryWorld test set (``StoryWorld(test_seed)``), per
   language and on its negation and contrast subsets and on the sentences that never occur in
   the training data, and on the hand-written review test splits (English and Chinese).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from lmkit.bert.model import BertConfig, BertForMaskedLM, BertForSequenceClassification
from lmkit.data.reviews import load_reviews
from lmkit.data.story_corpus import LANGS
from lmkit.data.story_world import StoryWorld
from lmkit.device import pick_device, seed_everything
from lmkit.errors import CheckpointError, ConfigError
from lmkit.nn.padding import pad_right
from lmkit.recipes import _skeleton
from lmkit.recipes._bert_inputs import encode_texts, length_batches
from lmkit.recipes._cards import machine_sentence, render_card
from lmkit.recipes._training import fit_on_stream
from lmkit.tokenizers import load_tokenizer
from lmkit.training.checkpoint import load_model

LABELS = ("negative", "positive")  # index = StoryWorld / reviews label (0 negative, 1 positive)
DEFAULT_INIT = Path(__file__).resolve().parents[1] / "weights" / "tiny-bert"


@dataclass(frozen=True)
class TinySentimentRecipe(_skeleton.RecipeSettings):
    """Every setting of the tiny-sentiment recipe; the defaults made the shipped model."""

    seed: int = 0  # training sentences, weights of the new layers, batch order
    test_seed: int = 3  # the held-out StoryWorld test set
    train_per_lang: int = 8000
    test_per_lang: int = 1000
    review_repeats: int = 4
    batch_size: int = 32
    steps: int = 2500
    lr: float = 3e-4
    min_lr: float = 3e-5
    warmup_steps: int = 100
    weight_decay: float = 0.01
    dropout: float = 0.1
    eval_interval: int = 500

    SMOKE: ClassVar[dict[str, Any]] = {
        "train_per_lang": 40, "test_per_lang": 20, "review_repeats": 1, "batch_size": 8,
        "steps": 4, "warmup_steps": 1, "eval_interval": 2,
    }  # fmt: skip
    MAY_BE_ZERO: ClassVar[tuple[str, ...]] = ("review_repeats",)

    def check(self) -> None:
        if self.warmup_steps > self.steps or not 0 < self.min_lr <= self.lr:
            raise ConfigError("Need warmup_steps <= steps and 0 < min_lr <= lr.")
        if not self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}.")




# ------------------------------------------------------------------------------ pieces
def init_from_tiny_bert(
    folder: str | Path, labels: Sequence[str] = LABELS, dropout: float = 0.1
) -> tuple[BertForSequenceClassification, Any]:
    """A classifier whose encoder is the (masked-LM) tiny-bert in ``folder``, and its tokenizer."""
    folder = Path(folder)
    mlm = load_model(folder)
    if not isinstance(mlm, BertForMaskedLM):
        raise CheckpointError(f"{folder} does not hold a BERT masked-LM (tiny-bert) model.")
    tokenizer = load_tokenizer(folder / "tokenizer.json")
    config = BertConfig.from_dict(
        {**mlm.config.to_dict(), "labels": list(labels), "dropout": dropout}
    )
    model = BertForSequenceClassification(config)
    missing, unexpected = model.bert.load_state_dict(mlm.bert.state_dict(), strict=False)
    if unexpected or any(not k.startswith("pooler.") for k in missing):
        raise CheckpointError(f"tiny-bert's encoder does not fit: {missing}, {unexpected}.")
    return model, tokenizer


def labelled_batches(
    sequences: Sequence[Sequence[int]], labels: Sequence[int], pad_id: int, batch_size: int,
    seed: int,
) -> Iterator[dict[str, torch.Tensor]]:  # fmt: skip
    """Endless length-grouped batches of (ids, mask, labels) in a seeded order."""
    rng = random.Random(seed)
    lengths = [len(s) for s in sequences]
    while True:
        for index in length_batches(lengths, batch_size, rng):
            ids, mask = pad_right([sequences[i] for i in index], pad_id)
            target = torch.tensor([labels[i] for i in index], dtype=torch.long)
            yield {"input_ids": ids, "attention_mask": mask, "labels": target}


@torch.no_grad()
def predict_labels(
    model: BertForSequenceClassification, tokenizer: Any, texts: Sequence[str], batch_size: int = 64
) -> list[int]:
    """The predicted class id of every text (cut to the model's length), in order."""
    model.eval()
    device = next(model.parameters()).device
    encoded = encode_texts(tokenizer, texts, model.config.max_position)
    out: list[int] = []
    for start in range(0, len(encoded), batch_size):
        ids, mask = pad_right(encoded[start : start + batch_size], tokenizer.pad_id)
        out += model(ids.to(device), mask.to(device)).logits.argmax(-1).tolist()
    return out


def accuracy_report(
    predictions: Sequence[int], labels: Sequence[int], keep: Sequence[bool] | None = None
) -> dict[str, float]:
    """``{"accuracy", "n"}`` over the examples where ``keep`` is True (all by default)."""
    pairs = [(p, y) for k, (p, y) in enumerate(zip(predictions, labels, strict=True))
             if keep is None or keep[k]]  # fmt: skip
    n = len(pairs)
    return {"accuracy": sum(p == y for p, y in pairs) / n if n else float("nan"), "n": n}


def story_world_report(
    model: BertForSequenceClassification, tokenizer: Any, lang: str, n: int, seed: int,
    seen: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any]:  # fmt: skip
    """Accuracy on ``StoryWorld(seed).sentiment(n, lang)``: all, negation, contrast, and the
    sentences not in ``seen`` (the training texts)."""
    examples = StoryWorld(seed).sentiment(n, lang)
    predictions = predict_labels(model, tokenizer, [e.text for e in examples])
    labels = [e.label for e in examples]
    return {
        "all": accuracy_report(predictions, labels),
        "negation": accuracy_report(predictions, labels, ["negation" in e.tags for e in examples]),
        "contrast": accuracy_report(predictions, labels, ["contrast" in e.tags for e in examples]),
        "unseen": accuracy_report(predictions, labels, [e.text not in seen for e in examples]),
    }


# ------------------------------------------------------------------------------ the run
def train_tiny_sentiment(
    recipe: TinySentimentRecipe | None = None,
    out_dir: str | Path = "runs/tiny-sentiment",
    *,
    init: str | Path = DEFAULT_INIT,
    device: str = "auto",
    log: Callable[[str], None] | None = print,
) -> tuple[BertForSequenceClassification, Any, dict[str, Any]]:
    """Fine-tune tiny-bert (from ``init``) and write the model folder; returns (model,
    tokenizer, metrics). Introduced in chapter 11."""
    recipe = TinySentimentRecipe() if recipe is None else recipe
    if not isinstance(recipe, TinySentimentRecipe):
        raise ConfigError(f"recipe must be a TinySentimentRecipe, got {type(recipe).__name__}.")
    out = _skeleton.check_out_dir(out_dir)
    target = pick_device(device)
    say = log or (lambda _m: None)
    started, load_before = time.perf_counter(), _skeleton.load_average()

    seed_everything(recipe.seed)  # the pooler and classifier start from this seed
    model, tokenizer = init_from_tiny_bert(init, LABELS, recipe.dropout)
    world = StoryWorld(recipe.seed)
    story_examples = {lang: world.sentiment(recipe.train_per_lang, lang) for lang in LANGS}
    reviews = {lang: load_reviews(lang, "train") for lang in LANGS}
    texts = [e.text for lang in LANGS for e in story_examples[lang]]
    labels = [e.label for lang in LANGS for e in story_examples[lang]]
    for _ in range(recipe.review_repeats):
        texts += [r.text for lang in LANGS for r in reviews[lang]]
        labels += [r.label for lang in LANGS for r in reviews[lang]]
    sequences = encode_texts(tokenizer, texts, model.config.max_position)
    seen = frozenset(texts)
    model.to(target)

    def during_training(model: BertForSequenceClassification) -> dict[str, float]:
        return {
            f"test_accuracy_{lang}": story_world_report(
                model, tokenizer, lang, min(200, recipe.test_per_lang), recipe.test_seed
            )["all"]["accuracy"]
            for lang in LANGS
        }

    n_params = sum(p.numel() for p in model.parameters())
    say(f"fine-tuning {n_params:,} parameters on {len(texts):,} examples, {recipe.steps} steps")
    fit_started = time.perf_counter()
    history = fit_on_stream(
        model, labelled_batches(sequences, labels, tokenizer.pad_id, recipe.batch_size, recipe.seed),
        batch_size=recipe.batch_size, steps=recipe.steps, lr=recipe.lr, min_lr=recipe.min_lr,
        warmup_steps=recipe.warmup_steps, weight_decay=recipe.weight_decay,
        eval_interval=recipe.eval_interval, evaluate=during_training, device=target, log=say,
    )  # fmt: skip
    train_seconds = time.perf_counter() - fit_started
    model = model.cpu().eval()

    say("measuring")
    evaluation: dict[str, Any] = {
        "story_world": {
            lang: story_world_report(
                model, tokenizer, lang, recipe.test_per_lang, recipe.test_seed, seen
            )
            for lang in LANGS
        },
        "reviews": {},
    }
    for lang in LANGS:
        test = load_reviews(lang, "test")
        predictions = predict_labels(model, tokenizer, [r.text for r in test])
        evaluation["reviews"][lang] = accuracy_report(predictions, [r.label for r in test])
    sw = evaluation["story_world"]
    total = sum(sw[lang]["all"]["n"] for lang in LANGS)
    evaluation["story_world_accuracy"] = (
        sum(sw[lang]["all"]["accuracy"] * sw[lang]["all"]["n"] for lang in LANGS) / total
    )
    metrics: dict[str, Any] = {
        "model": "tiny-sentiment",
        "kind": "classifier",
        "labels": list(LABELS),
        "recipe": recipe.to_dict(),
        "init": "tiny-bert" if Path(init).resolve() == DEFAULT_INIT else str(init),
        "data": {
            "story_world_train": {lang: len(story_examples[lang]) for lang in LANGS},
            "reviews_train": {lang: len(reviews[lang]) for lang in LANGS},
            "review_repeats": recipe.review_repeats,
            "train_examples": len(texts),
            "distinct_train_texts": len(seen),
            "positive_share": sum(labels) / len(labels),
        },
        "model_config": model.config.to_dict(),
        "parameters": n_params,
        "training": _skeleton.training_record(
            steps=recipe.steps,
            seen=("examples_seen", recipe.steps * recipe.batch_size),
            epochs=recipe.steps * recipe.batch_size / len(texts),
            train_seconds=train_seconds,
            load_before=load_before,
            device=target,
            history=history,
        ),
        "evaluation": evaluation,
        "evaluation_protocol": (
            "StoryWorld test: StoryWorld(test_seed).sentiment(test_per_lang, lang) for en, zh "
            "(a seed the training data never used); negation/contrast = the examples with that "
            "tag; unseen = the examples whose exact text is not among the training texts. "
            "Reviews: the fixed test splits of lmkit.data.reviews. Accuracy = argmax of the "
            "logits equals the label."
        ),
        "tolerance": {
            "story_world_accuracy_points": 1.5,
            "reviews_accuracy_points": 5.0,
            "note": "Expected spread when the recipe is re-run on other hardware or versions.",
        },
    }
    _skeleton.write_folder(out, model, tokenizer, metrics, model_card, started)
    say(f"wrote {out}")
    return model, tokenizer, metrics


def model_card(metrics: dict[str, Any]) -> str:
    """The ``MODEL_CARD.md`` text for a ``metrics.json`` dict of :func:`train_tiny_sentiment`."""
    return render_card(
        "tiny-sentiment",
        {
            **metrics,
            "label_list": ", ".join(metrics["labels"]),
            "weights_mb": metrics["weights_bytes"] / 1e6,
            "machine_sentence": machine_sentence(metrics["training"]),
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lmkit.recipes.tiny_sentiment``: fine-tune and write the model folder."""

    def init_argument(parser: Any) -> None:
        parser.add_argument("--init", default=str(DEFAULT_INIT), help="tiny-bert folder")

    args = _skeleton.parse_recipe_args(
        argv, "lmkit.recipes.tiny_sentiment", "Fine-tune tiny-bert into tiny-sentiment.",
        add_arguments=init_argument,
    )  # fmt: skip
    recipe = _skeleton.recipe_from_args(TinySentimentRecipe, args)
    train_tiny_sentiment(
        recipe, args.out, init=args.init, device=args.device, log=None if args.quiet else print
    )
    return 0


__all__ = [
    "LABELS",
    "TinySentimentRecipe",
    "accuracy_report",
    "init_from_tiny_bert",
    "labelled_batches",
    "main",
    "model_card",
    "predict_labels",
    "story_world_report",
    "train_tiny_sentiment",
]

if __name__ == "__main__":
    sys.exit(main())
