"""Recipe: count ``zh-sentiment``, a naive Bayes sentiment classifier for Chinese reviews over
character 1–3-grams, shipped in ``lmkit/weights/zh-sentiment``.

Introduced in chapter 11. Run it with::

    python -m lmkit.recipes.zh_sentiment --out runs/zh-sentiment

It needs no GPU and takes seconds. What it does, all seeded:

1. **Data.** The hand-written Chinese training reviews of :mod:`lmkit.data.reviews`; a seeded,
   label-balanced ``val_fraction`` of them is the validation set. The test split (the first
   writers' test reviews, ``"original"``, and a set by an independent writer, ``"heldout"``) is
   looked at only for the final measurement.
2. **Grid.** For every ``ngram_range`` (1, n) with n in ``max_ns`` and every smoothing
   ``alpha``: a :class:`~lmkit.tokenizers.char_ngram.CharNgramTokenizer` and
   :func:`~lmkit.basics.naive_bayes.fit_naive_bayes`, scored by ``folds``-fold cross-validation
   on the training part (tokenizer and counts made from the other folds each time) and on the
   validation set. The best by cross-validated accuracy (then log-loss, then the earlier,
   simpler entry), counted on the whole training part, ships.
3. **Calibration.** One temperature fitted on the validation logits (temperature scaling,
   :mod:`lmkit.basics.calibration`); the expected calibration error is reported before and after.
4. **Measurements** on the *shipped* files (float32 tables, read back by :func:`lmkit.hub.load`,
   raw text through :func:`lmkit.tasks.text_classify.predict_proba`): accuracy, macro F1 and ECE
   on the Chinese test split (all, by source), the validation set, and the English test split,
   which it cannot read (most of its n-grams are ``[UNK]``). Counting is exact: the same data
   gives the same tables and accuracies on any machine.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from lmkit.basics.calibration import expected_calibration_error, fit_temperature
from lmkit.basics.classify import classification_report
from lmkit.basics.naive_bayes import (
    LABELS,
    NaiveBayesClassifier,
    fit_naive_bayes,
    save_folder,
)
from lmkit.data.reviews import Review, load_reviews, review_file_name
from lmkit.errors import ConfigError
from lmkit.nn.padding import pad_right
from lmkit.recipes import _skeleton
from lmkit.recipes._zh_card import model_card
from lmkit.tokenizers.char_ngram import MAX_N, CharNgramTokenizer

# The card shows these: plain praise and complaint, a contrast, a double negation, sarcasm, and
# English, which the model cannot read.
SAMPLE_TEXTS = (
    "这部电影很无聊",
    "服务热情，菜也好吃，下次还来。",
    "手机用了三天就坏了，客服也不理人。",
    "剧情老套，但是演员演得真好。",
    "这家店的菜不是不好吃。",
    "真是太“好”了，排队两小时，吃了五分钟。",
    "The film was wonderful.",
)
# Sets measured at the end, in the card's order.
MEASURED = ("zh_test", "zh_heldout", "zh_original", "val", "en_test")


@dataclass(frozen=True)
class ZhSentimentRecipe(_skeleton.RecipeSettings):
    """Every setting of the zh-sentiment recipe; the defaults made the shipped model."""

    seed: int = 0  # the validation split
    val_fraction: float = 0.15
    max_ns: tuple[int, ...] = (1, 2, 3)  # the grid's ngram_range is (1, n)
    alphas: tuple[float, ...] = (0.1, 0.3, 0.5, 1.0)
    negation_spans: tuple[int, ...] = (0, 3)  # 0: no negation marking (see char_ngram)
    min_count: int = 1  # n-grams seen fewer times in the training part are [UNK]
    folds: int = 5  # cross-validation folds of the training part that choose the setting
    limit: int = 0  # use only the first `limit` training reviews (0 = all; for smoke tests)

    SMOKE: ClassVar[dict[str, Any]] = {"max_ns": (1, 2), "alphas": (0.5, 1.0), "folds": 2, "limit": 300}  # fmt: skip
    MAY_BE_ZERO: ClassVar[tuple[str, ...]] = ("limit", "negation_spans")

    def check(self) -> None:
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}.")
        if not self.max_ns or any(
            not isinstance(n, int) or not 1 <= n <= MAX_N for n in self.max_ns
        ):
            raise ConfigError(f"max_ns must be integers in 1..{MAX_N}, got {self.max_ns!r}.")
        if self.folds < 2:
            raise ConfigError(f"folds must be >= 2, got {self.folds}.")
        if not self.negation_spans or any(
            not isinstance(n, int) or not 0 <= n <= 20 for n in self.negation_spans
        ):
            raise ConfigError(f"negation_spans must be integers in 0..20, got {self.negation_spans!r}.")
        if not self.alphas or any(not a > 0 for a in self.alphas):
            raise ConfigError(f"alphas must be numbers > 0, got {self.alphas!r}.")


# ------------------------------------------------------------------------------ pieces
def split_reviews(
    reviews: Sequence[Review], val_fraction: float, seed: int
) -> tuple[list[Review], list[Review]]:
    """(train, validation): a seeded ``val_fraction`` of each label goes to validation."""
    order = list(range(len(reviews)))
    random.Random(seed).shuffle(order)
    val_ids: set[int] = set()
    for label in (0, 1):
        of_label = [i for i in order if reviews[i].label == label]
        val_ids.update(of_label[: round(len(of_label) * val_fraction)])
    train = [r for i, r in enumerate(reviews) if i not in val_ids]
    return train, [r for i, r in enumerate(reviews) if i in val_ids]


@torch.no_grad()
def logits_of(model: NaiveBayesClassifier, ids: Sequence[Sequence[int]]) -> torch.Tensor:
    """The model's logits (N, n_labels) for lists of token ids, as float64 on the CPU."""
    padded, mask = pad_right([list(x) for x in ids], 0)
    return model(padded, mask).logits.double()


def fold_of(reviews: Sequence[Review], folds: int, seed: int) -> list[int]:
    """A seeded fold number in 0..folds-1 for every review, each label dealt out evenly."""
    order = list(range(len(reviews)))
    random.Random(seed).shuffle(order)
    fold = [0] * len(reviews)
    for label in (0, 1):
        for k, i in enumerate(i for i in order if reviews[i].label == label):
            fold[i] = k % folds
    return fold


def _fit(
    reviews: Sequence[Review], max_n: int, span: int, recipe: ZhSentimentRecipe
) -> tuple[CharNgramTokenizer, dict[float, NaiveBayesClassifier]]:
    """A tokenizer trained on ``reviews`` and one model per alpha counted on them."""
    texts = [r.text for r in reviews]
    tokenizer = CharNgramTokenizer.train(texts, (1, max_n), recipe.min_count, span)
    ids = [tokenizer.encode(r.text) for r in reviews]
    labels = [r.label for r in reviews]
    return tokenizer, {
        alpha: fit_naive_bayes(ids, labels, tokenizer.vocab_size, len(LABELS), alpha)
        for alpha in recipe.alphas
    }


def _scores(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    accuracy = float((logits.argmax(-1) == labels).double().mean())
    return accuracy, float(F.cross_entropy(logits, labels))


def grid_search(
    recipe: ZhSentimentRecipe, train: Sequence[Review], val: Sequence[Review]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every (ngram_range, alpha) with its cross-validated and validation accuracy and
    log-loss, and the winner by cross-validation, with ``"tokenizer"``, ``"model"`` (counted on
    all of ``train``) and ``"val_logits"``. Cross-validation scores every training review (each
    fold by a tokenizer and counts made from the others), where the few hundred validation
    reviews alone separate the settings by a handful of reviews."""
    rows: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    folds = fold_of(train, recipe.folds, recipe.seed + 1)
    train_labels = torch.tensor([r.label for r in train])
    val_labels = torch.tensor([r.label for r in val])
    for span, max_n in itertools.product(recipe.negation_spans, recipe.max_ns):
        out_of_fold = {
            a: torch.zeros(len(train), len(LABELS), dtype=torch.float64) for a in recipe.alphas
        }
        for k in range(recipe.folds):
            held = [i for i, f in enumerate(folds) if f == k]
            tokenizer, models = _fit(
                [r for r, f in zip(train, folds, strict=True) if f != k], max_n, span, recipe
            )
            ids = [tokenizer.encode(train[i].text) for i in held]
            for alpha, model in models.items():
                out_of_fold[alpha][held] = logits_of(model, ids)
        tokenizer, models = _fit(train, max_n, span, recipe)
        val_ids = [tokenizer.encode(r.text) for r in val]
        for alpha, model in models.items():
            val_logits = logits_of(model, val_ids)
            cv_accuracy, cv_log_loss = _scores(out_of_fold[alpha], train_labels)
            val_accuracy, val_log_loss = _scores(val_logits, val_labels)
            row = {
                "ngram_range": [1, max_n],
                "negation_span": span,
                "alpha": alpha,
                "vocab_size": tokenizer.vocab_size,
                "cv_accuracy": cv_accuracy,
                "cv_log_loss": cv_log_loss,
                "val_accuracy": val_accuracy,
                "val_log_loss": val_log_loss,
            }
            rows.append(row)
            # Strictly better only: a tie keeps the earlier, smaller model.
            if best is None or (cv_accuracy, -cv_log_loss) > (
                best["cv_accuracy"], -best["cv_log_loss"],
            ):  # fmt: skip
                best = {**row, "tokenizer": tokenizer, "model": model, "val_logits": val_logits}
    assert best is not None  # the recipe's check demands a non-empty grid
    return rows, best


def measure(loaded: Any, reviews: Sequence[Review]) -> dict[str, Any]:
    """Accuracy, macro F1, ECE after and before the temperature, and the [UNK] share."""
    from lmkit.tasks.text_classify import predict_proba

    texts, labels = [r.text for r in reviews], torch.tensor([r.label for r in reviews])
    model, tokenizer = loaded.model, loaded.tokenizer
    after = predict_proba(loaded, texts).double()
    temperature = model.temperature
    model.temperature = 1.0  # the raw naive Bayes posterior, for the "before" number
    try:
        before = predict_proba(loaded, texts).double()
    finally:
        model.temperature = temperature
    result = classification_report(after.argmax(-1), labels, list(LABELS))
    ids = [i for t in texts for i in tokenizer.encode(t)]
    return {
        "n": len(reviews),
        "accuracy": result["accuracy"],
        "macro_f1": result["macro_f1"],
        "confusion": result["confusion"].tolist(),
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
        "log_loss": float(F.nll_loss(after.clamp_min(1e-300).log(), labels)),
        "unk_share": sum(i == tokenizer.unk_id for i in ids) / max(1, len(ids)),
    }


# ------------------------------------------------------------------------------ the run
def train_zh_sentiment(
    recipe: ZhSentimentRecipe | None = None,
    out_dir: str | Path = "runs/zh-sentiment",
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Choose, count, calibrate and write the model folder; returns its metrics. Chapter 11."""
    from lmkit.hub import load
    from lmkit.tasks.text_classify import classify

    recipe = ZhSentimentRecipe() if recipe is None else recipe
    if not isinstance(recipe, ZhSentimentRecipe):
        raise ConfigError(f"recipe must be a ZhSentimentRecipe, got {type(recipe).__name__}.")
    out = _skeleton.check_out_dir(out_dir)
    say = log or (lambda _m: None)
    started, load_before = time.perf_counter(), _skeleton.load_average()

    reviews = load_reviews("zh", "train")
    reviews = reviews[: recipe.limit] if recipe.limit else reviews
    train, val = split_reviews(reviews, recipe.val_fraction, recipe.seed)
    say(f"grid over {len(recipe.max_ns) * len(recipe.alphas)} settings on {len(train)} reviews")
    rows, best = grid_search(recipe, train, val)
    tokenizer, model = best["tokenizer"], best["model"]
    temperature = fit_temperature(best["val_logits"], [r.label for r in val])
    model.temperature = temperature
    train_seconds = time.perf_counter() - started
    say(
        f"chose ngram_range {best['ngram_range']}, negation_span {best['negation_span']}, alpha "
        f"{best['alpha']}, T = {temperature:.3f}"
    )

    save_folder(model, tokenizer, out, languages=("zh",))
    loaded = load(out, device="cpu")  # measure the files as shipped, not the model in memory
    test = load_reviews("zh", "test")
    sets = {
        "zh_test": test,
        "zh_heldout": [r for r in test if r.source == "heldout"],
        "zh_original": [r for r in test if r.source == "original"],
        "val": val,
        "en_test": load_reviews("en", "test"),
    }
    evaluation = {name: measure(loaded, sets[name]) for name in MEASURED}

    examples = [
        {"text": text, "label": r.label, "p": r.probabilities, "evidence": evidence(loaded, text)}
        for text, r in ((t, classify(loaded, t)) for t in SAMPLE_TEXTS)
    ]
    metrics: dict[str, Any] = {
        "model": "zh-sentiment",
        "kind": "classifier",
        "labels": list(LABELS),
        "recipe": recipe.to_dict(),
        "data": {
            "train": len(train),
            "val": len(val),
            "train_by_source": _by_source(train),
            "test_by_source": _by_source(test),
            "positive_share": sum(r.label for r in train) / len(train),
            "reviews_sha256": data_fingerprint(),
        },
        "grid": rows,
        "chosen": {k: best[k] for k in ("ngram_range", "negation_span", "alpha")},
        "temperature": temperature,
        "vocab_size": tokenizer.vocab_size,
        "max_length": loaded.model.max_length,
        "parameters": loaded.model.log_likelihood.numel() + loaded.model.log_prior.numel(),
        "weights_bytes": (out / "model.safetensors").stat().st_size,
        "tokenizer_bytes": (out / "tokenizer.json").stat().st_size,
        "training": {
            "train_seconds": round(train_seconds, 2),
            "total_seconds": None,
            "load_average_before": load_before,
            "load_average_after": _skeleton.load_average(),
            **_skeleton.machine(torch.device("cpu")),
        },
        "evaluation": evaluation,
        "examples": examples,
        "evaluation_protocol": (
            "The shipped folder read back with lmkit.load, raw text through "
            "lmkit.tasks.text_classify.predict_proba. zh_test: the Chinese test split; "
            "zh_heldout / zh_original: its reviews by the independent writer / by the first "
            "writers; val: the validation slice of the training split that fitted the "
            "temperature; en_test: the English test split. Accuracy = the most probable "
            "label equals the label; ECE over 15 equal confidence bins."
        ),
    }
    _skeleton.write_metrics_and_card(out, metrics, model_card, started)
    say(f"wrote {out}")
    return metrics


def data_fingerprint() -> dict[str, str]:
    """The SHA-256 of each review file the recipe reads: a changed file means re-run it."""
    files = resources.files("lmkit.data")
    return {
        lang: hashlib.sha256(files.joinpath(review_file_name(lang)).read_bytes()).hexdigest()
        for lang in ("zh", "en")
    }


def _by_source(reviews: Sequence[Review]) -> dict[str, int]:
    return dict(sorted(Counter(r.source for r in reviews).items()))


def evidence(loaded: Any, text: str, top: int = 4) -> list[list[Any]]:
    """The ``top`` distinct known n-grams of ``text`` that push hardest either way, each with
    log P(n-gram | positive) − log P(n-gram | negative) (before the temperature)."""
    table = loaded.model.log_likelihood.detach().double().cpu()
    weights = {}
    for i in set(loaded.tokenizer.encode(text)) - {loaded.tokenizer.unk_id}:
        weights[loaded.tokenizer.id_to_token(i)] = float(table[i, 1] - table[i, 0])
    ranked = sorted(weights.items(), key=lambda item: (-abs(item[1]), item[0]))[:top]
    return [[gram, round(weight, 2)] for gram, weight in ranked]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lmkit.recipes.zh_sentiment``: count, calibrate and write the model folder."""
    args = _skeleton.parse_recipe_args(
        argv, "lmkit.recipes.zh_sentiment", "Count zh-sentiment, a naive Bayes classifier.",
        steps=False, device=None,
    )  # fmt: skip
    recipe = _skeleton.recipe_from_args(ZhSentimentRecipe, args)
    train_zh_sentiment(recipe, args.out, log=None if args.quiet else print)
    return 0


__all__ = [
    "MEASURED",
    "SAMPLE_TEXTS",
    "ZhSentimentRecipe",
    "data_fingerprint",
    "evidence",
    "fold_of",
    "grid_search",
    "logits_of",
    "main",
    "measure",
    "model_card",
    "split_reviews",
    "train_zh_sentiment",
]

if __name__ == "__main__":
    sys.exit(main())
