"""Classify raw text with any lmkit classifier: one text, a list, or an uploaded file.

Introduced in chapter 11 and used by the app's Classify page. Everything here works with any
model that follows lmkit's classifier interface (``AGENTS.md``): ``model(input_ids,
attention_mask).logits`` of shape (B, n_labels), ``model.labels``, and a tokenizer whose
``encode(text)`` gives the ids the model expects ([CLS]/[SEP] included).

- :func:`predict_proba`: probabilities (N, n_labels) for a list of texts, in batches;
- :func:`predict_batch`: the same, plus which texts were truncated and their token counts;
- :func:`classify`: one text → :class:`Classification` (label, probabilities, truncation);
- whole uploaded files: :mod:`lmkit.tasks.classify_files`.

Every result also says how much of the text the model could not read: the share of its tokens
that are the tokenizer's unknown token (``[UNK]``). An English-only model such as MiniLM turns
most Chinese characters into ``[UNK]``; above :data:`UNREADABLE_SHARE` a caller should show
"this model cannot read this text" rather than a label (the app does).

A text longer than the model accepts is cut to the model's maximum length (keeping a final
special token such as ``[SEP]`` at the end), and the result says so. Empty texts, and texts
with nothing visible (only whitespace, zero-width or other format characters), raise
:class:`~lmkit.errors.InputError`: there is nothing to classify.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lmkit.errors import InputError
from lmkit.nn.padding import pad_right
from lmkit.tasks.csv_batch import TEXT_COLUMN_NAMES, is_blank
from lmkit.validators import check_int, is_int

UNREADABLE_SHARE = 0.5  # more [UNK] than this and the label says nothing about the text

__all__ = [
    "TEXT_COLUMN_NAMES",
    "UNREADABLE_SHARE",
    "BatchPrediction",
    "Classification",
    "batch_probabilities",
    "classifier_for",
    "classifier_parts",
    "classify",
    "encode_for_model",
    "is_blank",
    "model_max_length",
    "padding_id",
    "predict_batch",
    "predict_proba",
    "text_language",
    "unknown_share",
]


def classifier_parts(loaded: Any) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a loaded classifier; InputError for anything else."""
    model, tokenizer = getattr(loaded, "model", None), getattr(loaded, "tokenizer", None)
    if model is None or tokenizer is None or not hasattr(tokenizer, "encode"):
        raise InputError(
            "Pass what lmkit.load() returns (an object with .model and .tokenizer), got "
            f"{type(loaded).__name__}."
        )
    if getattr(model, "kind", None) != "classifier" or not getattr(model, "labels", None):
        raise InputError(
            f"{getattr(loaded, 'name', 'This model')!r} is not a classifier (it needs "
            "kind == 'classifier' and labels). Load a classifier, e.g. lmkit.load("
            '"minilm-sentiment").'
        )
    return model, tokenizer


def model_max_length(model: Any) -> int | None:
    """The most tokens ``model`` accepts: ``model.max_length``, else its config's context
    (``max_position`` / ``max_position_embeddings`` / ``block_size``), else ``None``."""
    config = getattr(model, "config", None)
    for value in (
        getattr(model, "max_length", None),
        getattr(config, "max_position", None),  # lmkit's BERT
        getattr(config, "max_position_embeddings", None),  # transformers
        getattr(config, "block_size", None),
    ):
        if is_int(value) and value > 0:
            return int(value)
    return None


def _check_text(text: object, index: int | None = None) -> str:
    where = "" if index is None else f" (text {index})"
    if not isinstance(text, str):
        raise InputError(f"Each text must be a str{where}, got {type(text).__name__}.")
    if is_blank(text):
        raise InputError(f"The text is empty{where}: type a sentence to classify.")
    return text


def encode_for_model(
    tokenizer: Any, text: str, max_length: int | None
) -> tuple[list[int], bool, int]:
    """``(ids, truncated, n_tokens_before_truncation)`` for one text.

    When the text is too long, the ids are cut to ``max_length``; if the full encoding ends with
    a special token (``[SEP]``), that token is kept as the last id, as the model was trained.
    """
    ids = list(tokenizer.encode(text))
    if not ids:
        raise InputError(f"The text {text[:40]!r} gives no tokens at all; nothing to classify.")
    full = len(ids)
    if max_length is None or full <= max_length:
        return ids, False, full
    specials = set(getattr(tokenizer, "special_tokens", {}).values())
    if ids[-1] in specials and max_length >= 2:
        return [*ids[: max_length - 1], ids[-1]], True, full
    return ids[:max_length], True, full


def unknown_share(tokenizer: Any, ids: Sequence[int]) -> float:
    """The share of ``ids`` that are the tokenizer's unknown token, special tokens not counted
    (0.0 for a tokenizer without one, such as a byte-level BPE, which can spell anything)."""
    unk = getattr(tokenizer, "unk_id", None)
    if unk is None:
        return 0.0
    specials = set(getattr(tokenizer, "special_tokens", {}).values()) - {unk}
    content = [i for i in ids if i not in specials]
    return sum(i == unk for i in content) / len(content) if content else 0.0


def _is_cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf" or "\uf900" <= char <= "\ufaff"


def text_language(text: str) -> str | None:
    """``"zh"`` when at least 30% of the letters are Chinese characters, ``"en"`` when the
    letters are Latin, else ``None`` (no letters, or another script). A rough guess, good
    enough to pick a sentiment model: real Chinese reviews mix in Latin words ("App", "yyds")."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    cjk = sum(map(_is_cjk, letters))
    if cjk >= 0.3 * len(letters):
        return "zh"
    latin = sum(c.isascii() or "\u00c0" <= c <= "\u024f" for c in letters)
    return "en" if latin >= 0.5 * len(letters) else None


def classifier_for(language: str) -> str | None:
    """The built-in classifier made for real text in ``language`` (``"en"``, ``"zh"``) whose
    files are installed, else ``None``; the app's Classify page picks with it."""
    from lmkit.hub import BUILTIN_MODELS, available_models

    for name in available_models("classifier"):
        if language in BUILTIN_MODELS[name].languages and BUILTIN_MODELS[name].path.is_dir():
            return name
    return None


@dataclass(frozen=True)
class BatchPrediction:
    """Probabilities (N, n_labels) of a list of texts, which were truncated, and token counts."""

    labels: tuple[str, ...]
    probabilities: torch.Tensor
    truncated: tuple[bool, ...]
    n_tokens: tuple[int, ...]  # before truncation
    unknown_share: tuple[float, ...]  # share of [UNK] tokens (see unknown_share)

    @property
    def predicted(self) -> list[str]:
        """The most probable label of every text."""
        return [self.labels[i] for i in self.probabilities.argmax(dim=-1).tolist()]

    def rows(self) -> list[Classification]:
        """One :class:`Classification` per text, in order."""
        return [
            Classification(
                label,
                dict(zip(self.labels, probs, strict=True)),
                self.truncated[i],
                self.n_tokens[i],
                self.unknown_share[i],
            )
            for i, (label, probs) in enumerate(
                zip(self.predicted, self.probabilities.tolist(), strict=True)
            )
        ]


def padding_id(tokenizer: Any) -> int:
    pad_id = getattr(tokenizer, "pad_id", None)
    return 0 if pad_id is None else pad_id


@torch.no_grad()
def batch_probabilities(model: Any, rows: list[list[int]], pad_id: int) -> torch.Tensor:
    """Softmax of the model's logits for a batch of id lists (padded to the longest), on CPU."""
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    ids, mask = pad_right(rows, pad_id)  # mask: 1 = real token
    was_training = model.training
    model.eval()
    try:
        logits = model(ids.to(device), mask.to(device)).logits
    finally:
        model.train(was_training)
    probabilities = torch.softmax(logits.float(), dim=-1).cpu()
    if probabilities.shape != (len(rows), len(model.labels)):
        raise InputError(
            f"The model returned logits of shape {tuple(probabilities.shape)}, expected "
            f"({len(rows)}, {len(model.labels)}) for {len(model.labels)} labels."
        )
    return probabilities


def predict_batch(loaded: Any, texts: Sequence[str], batch_size: int = 32) -> BatchPrediction:
    """Classify ``texts`` in batches of ``batch_size``; see :class:`BatchPrediction`."""
    model, tokenizer = classifier_parts(loaded)
    if isinstance(texts, str) or not isinstance(texts, Sequence) or len(texts) == 0:
        raise InputError("texts must be a non-empty list of strings (for one text use classify).")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    texts = [_check_text(t, i) for i, t in enumerate(texts)]
    limit = model_max_length(model)
    encoded = [encode_for_model(tokenizer, t, limit) for t in texts]
    pad_id = padding_id(tokenizer)
    chunks = [
        batch_probabilities(model, [ids for ids, _, _ in encoded[start : start + batch_size]], pad_id)
        for start in range(0, len(encoded), batch_size)
    ]
    return BatchPrediction(
        tuple(model.labels),
        torch.cat(chunks),
        tuple(t for _, t, _ in encoded),
        tuple(n for _, _, n in encoded),
        tuple(unknown_share(tokenizer, ids) for ids, _, _ in encoded),
    )


def predict_proba(loaded: Any, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
    """Class probabilities (N, n_labels), rows in the order of ``texts``, columns in the order of
    ``loaded.model.labels``. Introduced in chapter 11."""
    return predict_batch(loaded, texts, batch_size).probabilities


@dataclass(frozen=True)
class Classification:
    """One text's result: the label, every label's probability, and whether it was cut short."""

    label: str
    probabilities: dict[str, float]
    truncated: bool
    n_tokens: int  # tokens of the full text, before truncation
    unknown_share: float = 0.0  # share of its tokens the model does not know ([UNK])

    @property
    def readable(self) -> bool:
        """False when most of the text is unknown to the model: the label means nothing."""
        return self.unknown_share <= UNREADABLE_SHARE


def classify(loaded: Any, text: str) -> Classification:
    """Classify one text. Introduced in chapter 11."""
    return predict_batch(loaded, [_check_text(text)]).rows()[0]
