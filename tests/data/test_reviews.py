"""The hand-written review sets: size, balance, fixed splits, no duplicates, not templated."""

from __future__ import annotations

import collections
import csv
import itertools
import re
import statistics
import unicodedata
from pathlib import Path

import pytest

from lmkit.data import reviews as reviews_module
from lmkit.data.reviews import Review, load_reviews, parse_reviews
from lmkit.errors import ConfigError, InputError

MIN_COUNT = {"en": 4500, "zh": 2000}
# Who wrote what: the first writers (ids like en-0001) wrote train and test; the later writers
# wrote training reviews only; an independent writer wrote the "heldout" test reviews.
TRAIN_SOURCES = {
    "en": {"original", "critics", "critics2", "viewers", "audience", "arts", "hard", "products",
           "services"},
    "zh": {"original", "culture", "products", "plain", "negation"},
}  # fmt: skip
DATA_DIR = Path(reviews_module.__file__).parent


def _normalise(text: str) -> str:
    """Lowercase, NFKC, and drop everything that is not a letter or digit."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).lower())


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _read_raw(lang: str) -> list[dict[str, str]]:
    """Read the TSV with the csv module: independent of the code under test."""
    with open(DATA_DIR / f"reviews_{lang}.tsv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_enough_reviews_and_labels_are_balanced(lang):
    reviews = load_reviews(lang)
    assert len(reviews) >= MIN_COUNT[lang]
    for split in ("all", "train", "test"):
        subset = load_reviews(lang, split)
        share = sum(r.label for r in subset) / len(subset)
        assert 0.45 <= share <= 0.55, (lang, split, share)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_loader_agrees_with_an_independent_read_of_the_file(lang):
    raw = _read_raw(lang)
    loaded = load_reviews(lang)
    assert [(r.id, r.split, r.text) for r in loaded] == [
        (row["id"], row["split"], row["text"]) for row in raw
    ]
    assert [r.label for r in loaded] == [1 if row["label"] == "pos" else 0 for row in raw]
    assert all(isinstance(r, Review) and r.lang == lang for r in loaded)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_ids_are_unique_and_texts_are_clean(lang):
    reviews = load_reviews(lang)
    ids = [r.id for r in reviews]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(f"{lang}-") for i in ids)
    for review in reviews:
        assert review.text == review.text.strip()
        assert "\t" not in review.text and "\n" not in review.text and "\r" not in review.text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_duplicates_even_after_normalising(lang):
    texts = [r.text for r in load_reviews(lang)]
    assert len(set(texts)) == len(texts)
    normalised = collections.Counter(_normalise(t) for t in texts)
    repeated = [t for t, n in normalised.items() if n > 1]
    assert not repeated, repeated


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_splits_are_fixed_and_the_heldout_writer_is_test_only(lang):
    train, test = load_reviews(lang, "train"), load_reviews(lang, "test")
    assert {r.id for r in train}.isdisjoint({r.id for r in test})
    assert len(train) + len(test) == len(load_reviews(lang, "all"))
    # The split is stored in the file, so it is what an independent reader of the file sees.
    stored = {row["id"]: row["split"] for row in _read_raw(lang)}
    assert all(stored[r.id] == "train" for r in train)
    assert all(stored[r.id] == "test" for r in test)
    assert {r.source for r in train} == TRAIN_SOURCES[lang]
    assert {r.source for r in test} == {"original", "heldout"}
    assert sum(r.source == "heldout" for r in test) >= 290
    for label in (0, 1):
        n_train = sum(r.label == label for r in train)
        n_test = sum(r.label == label for r in test)
        assert 0.65 <= n_train / (n_train + n_test) <= 0.92, (label, n_train, n_test)


def test_the_source_comes_from_the_id():
    assert Review("en-critics-0042", "x", 1, "train", "en").source == "critics"
    assert Review("en-0042", "x", 1, "train", "en").source == "original"


def test_chinese_set_is_mostly_cjk_and_english_set_has_none():
    reviews = load_reviews("zh")
    mostly_latin = []
    for review in reviews:
        letters = [ch for ch in review.text if ch.isalnum()]
        if sum(map(_is_cjk, letters)) / len(letters) < 0.6:
            mostly_latin.append(review.text)
    # a few are pure net slang ("yyds"), which Chinese reviewers do write
    assert len(mostly_latin) <= 0.01 * len(reviews), mostly_latin
    for review in load_reviews("en"):
        assert not any(_is_cjk(ch) for ch in review.text), review.text


def test_lengths_vary():
    words = [len(r.text.split()) for r in load_reviews("en")]
    assert min(words) >= 1 and max(words) <= 70
    assert sum(w <= 2 for w in words) >= 100 and sum(w >= 40 for w in words) >= 30
    assert statistics.pstdev(words) >= 3.0
    assert sum(w <= 6 for w in words) >= 0.1 * len(words)
    assert sum(w >= 15 for w in words) >= 0.1 * len(words)
    chars = [len(r.text) for r in load_reviews("zh")]
    assert min(chars) <= 6 and max(chars) >= 40
    assert statistics.pstdev(chars) >= 4.0
    assert len(set(chars)) >= 30


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_not_templated_no_common_openings(lang):
    texts = [r.text for r in load_reviews(lang)]
    if lang == "en":
        prefixes = [
            " ".join(re.findall(r"[a-z']+", t.lower())[:4]) for t in texts if len(t.split()) >= 4
        ]
    else:
        prefixes = [_normalise(t)[:4] for t in texts if len(_normalise(t)) >= 4]
    most_common = collections.Counter(prefixes).most_common(3)
    # A template would open hundreds of lines alike; people share a phrase now and then
    # ("not bad at all").
    assert most_common[0][1] <= max(12, 0.004 * len(texts)), most_common


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_not_templated_no_pair_shares_most_of_its_word_pairs(lang):
    """Two sentences built on one frame with swapped words share most of their bigrams."""

    def bigrams(text: str) -> set[tuple[str, str]]:
        units = re.findall(r"[a-z']+", text.lower()) if lang == "en" else list(_normalise(text))
        return set(itertools.pairwise(units))

    items = [(r.text, bigrams(r.text)) for r in load_reviews(lang)]
    items = [(t, b) for t, b in items if len(b) >= 4]
    # Only pairs that share a rare bigram can be near-copies; an inverted index finds them
    # without comparing all ~10 million pairs.
    postings: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
    for index, (_, grams) in enumerate(items):
        for gram in grams:
            postings[gram].append(index)
    candidates = {
        pair for ids in postings.values() if len(ids) <= 50 for pair in itertools.combinations(ids, 2)
    }
    worst = max(
        (len(items[i][1] & items[j][1]) / len(items[i][1] | items[j][1]), items[i][0], items[j][0])
        for i, j in candidates
    )
    assert worst[0] < 0.45, worst


def test_clear_polarity_cues_mostly_match_the_labels():
    """A cheap check for a file written with its labels swapped: words reviewers mostly use on one
    side. Mostly: the hard cases use them the other way on purpose ("hardly a masterpiece")."""
    cues = {
        ("en", 0): ("worst", "waste of", "refund", "avoid", "ripoff", "i regret"),
        ("en", 1): ("highly recommend", "worth every penny", "masterpiece", "loved"),
        ("zh", 0): ("差评", "踩雷", "避雷", "退货", "后悔死"),
        ("zh", 1): ("好评", "强烈推荐", "回购", "物超所值"),
    }
    for (lang, label), words in cues.items():
        # the negation set flips such words on purpose (不踩雷 is praise)
        for source in TRAIN_SOURCES[lang] - {"negation"} | {"heldout"}:
            reviews = [r for r in load_reviews(lang) if r.source == source]
            hits = [r for r in reviews if any(w in r.text.lower() for w in words)]
            if len(hits) >= 5:
                share = sum(r.label == label for r in hits) / len(hits)
                assert share >= 0.6, (lang, source, words, share)


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="lang must be one of"):
        load_reviews("fr")
    with pytest.raises(ConfigError, match="split must be one of"):
        load_reviews("en", "validation")


HEADER = "id\tsplit\tlabel\ttext\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x-1\ttrain\tpos\n", r"demo\.tsv, line 2: expected 4 tab-separated fields"),
        ("x-1\ttrain\tpos\tok\textra\n", r"line 2: expected 4 tab-separated fields"),
        ("x-1\ttrain\tpos\tgood\nx-2\tdev\tneg\tbad\n", r"line 3: split must be"),
        ("x-1\ttrain\tmaybe\tfine\n", r"line 2: label must be 'pos' or 'neg'"),
        ("x-1\ttrain\tpos\ta\nx-1\ttest\tneg\tb\n", r"line 3: id 'x-1' is empty or repeated"),
        ("x-1\ttrain\tpos\t   \n", r"line 2: the review text is empty"),
        ("", r"no reviews"),
    ],
)
def test_malformed_lines_name_the_file_and_line(body, message):
    with pytest.raises(InputError, match=message):
        parse_reviews(HEADER + body, "en", "demo.tsv")


def test_missing_header_is_reported():
    with pytest.raises(InputError, match=r"demo\.tsv, line 1: expected the header"):
        parse_reviews("x-1\ttrain\tpos\tfine\n", "en", "demo.tsv")


def test_parse_reviews_accepts_a_well_formed_file():
    parsed = parse_reviews(
        HEADER + "a-1\ttest\tneg\tNot great.\r\na-2\ttrain\tpos\tLovely.\n", "en", "x"
    )
    assert parsed == [
        Review("a-1", "Not great.", 0, "test", "en"),
        Review("a-2", "Lovely.", 1, "train", "en"),
    ]
