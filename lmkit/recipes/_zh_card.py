"""zh-sentiment's model card: the tables it shows and the fields it fills from ``metrics.json``.

Introduced in chapter 11; kept apart from :mod:`lmkit.recipes.zh_sentiment` so that the recipe
reads as the steps of training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lmkit.basics.naive_bayes import N_SPECIAL
from lmkit.recipes._cards import machine_sentence, render_card, table_cell
from lmkit.tokenizers.char_ngram import char_ngrams

__all__ = ["model_card"]


def _grid_table(rows: Sequence[dict[str, Any]], chosen: dict[str, Any]) -> str:
    lines = [
        "| ngram_range | negation marking | alpha | n-grams | cross-validated accuracy | "
        "cross-validated log-loss | validation accuracy | validation log-loss |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        keys = ("ngram_range", "negation_span", "alpha")
        shipped = all(row[k] == chosen[k] for k in keys)
        span = row["negation_span"]
        lines.append(
            f"| (1, {row['ngram_range'][1]}){' **(shipped)**' if shipped else ''} | "
            f"{f'{span} characters' if span else 'off'} | "
            f"{row['alpha']:g} | {row['vocab_size'] - N_SPECIAL:,} | {row['cv_accuracy']:.3f} | "
            f"{row['cv_log_loss']:.3f} | {row['val_accuracy']:.3f} | {row['val_log_loss']:.3f} |"
        )
    return "\n".join(lines)


def _examples_table(examples: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| text | predicted | P(positive) | strongest n-grams (log P(n-gram \\| positive) − "
        "log P(n-gram \\| negative)) |",
        "|---|---|---|---|",
    ]
    for e in examples:
        evidence = ", ".join(f"{gram} {weight:+.2f}" for gram, weight in e["evidence"]) or "none"
        lines.append(
            f"| {table_cell(e['text'])} | {e['label']} | {e['p']['positive']:.3f} | "
            f"{table_cell(evidence)} |"
        )
    return "\n".join(lines)


def model_card(metrics: dict[str, Any]) -> str:
    """The ``MODEL_CARD.md`` text for a ``metrics.json`` dict of :func:`train_zh_sentiment`."""
    return render_card(
        "zh-sentiment",
        {
            **metrics,
            "label_list": ", ".join(metrics["labels"]),
            "weights_mb": metrics["weights_bytes"] / 1e6,
            "tokenizer_mb": metrics["tokenizer_bytes"] / 1e6,
            "n_ngrams": metrics["vocab_size"] - N_SPECIAL,
            "vocab_rule": "seen"
            if metrics["recipe"]["min_count"] == 1
            else f"seen at least {metrics['recipe']['min_count']} times",
            "grid_table": _grid_table(metrics["grid"], metrics["chosen"]),
            "examples_table": _examples_table(metrics["examples"]),
            "ngram_example": ", ".join(
                char_ngrams("很好看", tuple(metrics["chosen"]["ngram_range"]))
            ),
            "negation_example": ", ".join(
                char_ngrams("不无聊", tuple(metrics["chosen"]["ngram_range"]), 3)
            ),
            # A text of L characters gives about n * L n-grams for ngram_range (1, n).
            "max_characters": metrics["max_length"] // metrics["chosen"]["ngram_range"][1],
            "machine_sentence": machine_sentence(metrics["training"]),
        },
    )
