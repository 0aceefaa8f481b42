"""Plain, unambiguous reviews written for this test, in English and Chinese, classified right
by the model the app picks for its language (minilm-sentiment, zh-sentiment).

The reviews (``tests/data/plain_reviews.tsv``) were written after the models, by a writer who
wrote no training data, plus the probes that found the old minilm-sentiment's failures ("This
movie was a complete waste of time." was positive, p = 1.00). None is in any training set.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

import pytest

from lmkit import hub
from lmkit.data.reviews import load_reviews
from lmkit.tasks.text_classify import classifier_for, classify, predict_proba, text_language

PLAIN = Path(__file__).resolve().parents[1] / "data" / "plain_reviews.tsv"


def _rows() -> list[dict[str, str]]:
    with open(PLAIN, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def _normalise(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).lower())


def test_the_set_is_big_balanced_and_in_no_training_data():
    rows = _rows()
    assert len(rows) >= 60
    for lang in ("en", "zh"):
        labels = [r["label"] for r in rows if r["lang"] == lang]
        assert len(labels) >= 40 and abs(labels.count("pos") - labels.count("neg")) <= 4
    written = {_normalise(r.text) for lang in ("en", "zh") for r in load_reviews(lang, "all")}
    assert not [r["text"] for r in rows if _normalise(r["text"]) in written]


def test_the_app_picks_the_model_made_for_each_language():
    assert classifier_for("en") == "minilm-sentiment"
    assert classifier_for("zh") == "zh-sentiment"
    assert classifier_for("fr") is None
    for row in _rows():
        assert text_language(row["text"]) == row["lang"], row["text"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_plain_reviews_are_classified_right(lang):
    loaded = hub.load(classifier_for(lang), device="cpu")
    rows = [r for r in _rows() if r["lang"] == lang]
    probabilities = predict_proba(loaded, [r["text"] for r in rows])
    labels = list(loaded.model.labels)
    wrong = [
        (r["text"], r["label"], round(float(p[labels.index("positive")]), 3))
        for r, p in zip(rows, probabilities, strict=True)
        if labels[int(p.argmax())] != {"pos": "positive", "neg": "negative"}[r["label"]]
    ]
    # The probes (the last rows) are all right; of the rest at most one in twenty may be
    # wrong, and never confidently: measured 42 of 44 English (the two misses, "It wasn't boring
    # for a single second." and "Don't buy this charger, it broke in a week.", at p = .40 and .56)
    # and 41 of 41 Chinese.
    probes = {r["text"] for r in _rows()[-5:]}
    assert not [w for w in wrong if w[0] in probes], wrong
    assert len(wrong) <= 0.05 * len(rows), wrong
    assert all(0.3 < w[2] < 0.7 for w in wrong), wrong


def test_chinese_text_is_unreadable_for_the_english_model():
    loaded = hub.load("minilm-sentiment", device="cpu")
    result = classify(loaded, "这部电影很无聊，我看了一半就走了。")
    assert not result.readable and result.unknown_share > 0.5
    assert classify(loaded, "This movie was a complete waste of time.").readable
