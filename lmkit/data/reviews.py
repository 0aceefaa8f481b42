"""Hand-written review sentences for sentiment classification, in English and Chinese.

The two files ``reviews_en.tsv`` (about 4,700 reviews) and ``reviews_zh.tsv`` (about 3,600)
ship inside the package, so a classification chapter works with no download. Every sentence was
written for lmkit (none is copied from IMDB, SST-2, Yelp, ChnSentiCorp or any other dataset) and
has a clear positive or negative label. They were written in batches, each with its own brief,
and the id says which (:attr:`Review.source`):

- ``original`` (``en-0001``…, ``zh-0001``…): short, plain opinions about films, books, phones,
  restaurants, hotels, apps and more, split about 70/30 into train and test;
- English ``critics``/``critics2`` (film critics' snippets and capsule reviews), ``viewers`` and
  ``audience`` (film-goers, readers, fans), ``arts`` (books, TV, stage, music, games),
  ``products``, ``services`` (food, travel, care, support) and ``hard`` (negation, contrast,
  sarcasm, verdicts given only through facts); Chinese ``culture`` (films, books, travel),
  ``products`` (shopping, delivery, apps, services) and ``plain`` (short everyday verdicts,
  with 很/太/不 as common on one side as on the other) and ``negation`` (不干净 negative, 不贵
  positive): all training reviews, one-word verdicts to
  four-sentence reviews, casual and formal;
- ``heldout``: test reviews by a writer who wrote no training data, the fairest measure of how
  a model does on text it has never seen the like of.

The train/test split is stored in the files, so every reader gets the same split. For the large
classic sets see :mod:`lmkit.data.remote` (IMDB, SST-2).

File format: UTF-8, tab-separated, a header line ``id<TAB>split<TAB>label<TAB>text``, then one
review per line; ``label`` is ``pos`` or ``neg`` and ``split`` is ``train`` or ``test``.
Introduced in chapter 11 (classification).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from lmkit.errors import ConfigError, InputError

Lang = Literal["en", "zh"]
Split = Literal["train", "test", "all"]

LANGS: tuple[str, ...] = ("en", "zh")
SPLITS: tuple[str, ...] = ("train", "test", "all")
HEADER = ("id", "split", "label", "text")
LABELS = {"pos": 1, "neg": 0}
LABEL_NAMES = {1: "positive", 0: "negative"}


@dataclass(frozen=True)
class Review:
    """One labelled sentence. ``label`` is 1 for positive and 0 for negative."""

    id: str
    text: str
    label: int
    split: str
    lang: str

    @property
    def source(self) -> str:
        """Which set of writing it belongs to, from the id: ``en-critics-0042`` → ``"critics"``;
        the first 660 English and 352 Chinese reviews (``en-0001``) are ``"original"``."""
        parts = self.id.split("-")
        return parts[1] if len(parts) == 3 else "original"


def review_file_name(lang: str) -> str:
    """The package-data file holding the reviews of ``lang``."""
    return f"reviews_{lang}.tsv"


def parse_reviews(content: str, lang: str, source: str) -> list[Review]:
    """Parse and validate the text of a review TSV; ``source`` names it in error messages."""
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file ends with a newline
    if not lines or tuple(lines[0].rstrip("\r").split("\t")) != HEADER:
        raise InputError(
            f"{source}, line 1: expected the header {'<TAB>'.join(HEADER)!r}, "
            f"got {lines[0][:60] if lines else ''!r}."
        )
    reviews: list[Review] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 4:
            raise InputError(
                f"{source}, line {number}: expected 4 tab-separated fields "
                f"(id, split, label, text), found {len(fields)}. Texts may not contain tabs."
            )
        review_id, split, label, text = fields
        if not review_id or review_id in seen:
            first = f" (first used on line {seen[review_id]})" if review_id in seen else ""
            raise InputError(
                f"{source}, line {number}: id {review_id!r} is empty or repeated{first}."
            )
        if split not in ("train", "test"):
            raise InputError(
                f"{source}, line {number}: split must be 'train' or 'test', got {split!r}."
            )
        if label not in LABELS:
            raise InputError(
                f"{source}, line {number}: label must be 'pos' or 'neg', got {label!r}."
            )
        if not text.strip():
            raise InputError(f"{source}, line {number}: the review text is empty.")
        seen[review_id] = number
        reviews.append(Review(review_id, text, LABELS[label], split, lang))
    if not reviews:
        raise InputError(f"{source}: the file has a header but no reviews.")
    return reviews


@functools.lru_cache(maxsize=len(LANGS))
def _load_all(lang: str) -> tuple[Review, ...]:
    name = review_file_name(lang)
    resource = resources.files("lmkit.data").joinpath(name)
    try:
        content = resource.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(
            f"The review file {name} is missing from the lmkit package. Reinstall lmkit "
            "(pip install --force-reinstall lmkit) to restore it."
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{name} is not valid UTF-8 ({exc}). Reinstall lmkit.") from exc
    return tuple(parse_reviews(content, lang, f"lmkit/data/{name}"))


def load_reviews(lang: Lang = "en", split: Split = "all") -> list[Review]:
    """The hand-written reviews of ``lang`` (``"en"`` or ``"zh"``) in ``split``, in file order.

    ``split="train"`` or ``"test"`` gives the fixed split stored in the file; ``"all"`` gives
    both. Introduced in chapter 11.
    """
    if lang not in LANGS:
        raise ConfigError(f"lang must be one of {LANGS}, got {lang!r}.")
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS}, got {split!r}.")
    reviews = _load_all(lang)
    return [r for r in reviews if split == "all" or r.split == split]


__all__ = ["LABEL_NAMES", "Review", "load_reviews", "parse_reviews"]
