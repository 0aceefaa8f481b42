"""Classify raw text with any lmkit classifier: one text, a list, or an uploaded file.

Introduced in chapter 11 and used by the app's Classify page. Everything here works with any
model that follows lmkit's classifier interface (``AGENTS.md``): ``model(input_ids,
attention_mask).logits`` of shape (B, n_labels), ``model.labels``, and a tokenizer whose
``encode(text)`` gives the ids the model expects ([CLS]/[SEP] included).

- :func:`predict_proba`: probabilities (N, n_labels) for a list of texts, in batches;
- :func:`predict_batch`: the same, plus which texts were truncated and their token counts;
- :func:`classify`: one text → :class:`Classification` (label, probabilities, truncation);
- :func:`classify_csv`: an uploaded file (a CSV with a text column, or plain text with one text
  per line) → the same CSV with the predicted label and one probability column per label.

A text longer than the model accepts is cut to the model's maximum length (keeping a final
special token such as ``[SEP]`` at the end), and the result says so. Empty or whitespace-only
texts raise :class:`~lmkit.errors.InputError`: there is nothing to classify.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lmkit.errors import InputError
from lmkit.nn.padding import pad_right
from lmkit.validators import check_int, is_int

__all__ = [
    "TEXT_COLUMN_NAMES",
    "BatchPrediction",
    "Classification",
    "classifier_parts",
    "classify",
    "classify_csv",
    "encode_for_model",
    "model_max_length",
    "predict_batch",
    "predict_proba",
]

# Column names taken as "the text" of an uploaded CSV, in order of preference.
TEXT_COLUMN_NAMES = ("text", "review", "sentence", "comment", "content", "body", "message")
_DELIMITERS = (",", "\t", ";")


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
    if not text.strip():
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


@dataclass(frozen=True)
class BatchPrediction:
    """Probabilities (N, n_labels) of a list of texts, which were truncated, and token counts."""

    labels: tuple[str, ...]
    probabilities: torch.Tensor
    truncated: tuple[bool, ...]
    n_tokens: tuple[int, ...]  # before truncation

    @property
    def predicted(self) -> list[str]:
        """The most probable label of every text."""
        return [self.labels[i] for i in self.probabilities.argmax(dim=-1).tolist()]


@torch.no_grad()
def predict_batch(loaded: Any, texts: Sequence[str], batch_size: int = 32) -> BatchPrediction:
    """Classify ``texts`` in batches of ``batch_size``; see :class:`BatchPrediction`."""
    model, tokenizer = classifier_parts(loaded)
    if isinstance(texts, str) or not isinstance(texts, Sequence) or len(texts) == 0:
        raise InputError("texts must be a non-empty list of strings (for one text use classify).")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    texts = [_check_text(t, i) for i, t in enumerate(texts)]
    limit = model_max_length(model)
    encoded = [encode_for_model(tokenizer, t, limit) for t in texts]
    pad_id = getattr(tokenizer, "pad_id", None)
    pad_id = 0 if pad_id is None else pad_id
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    was_training = model.training
    model.eval()
    chunks = []
    try:
        for start in range(0, len(encoded), batch_size):
            rows = [ids for ids, _, _ in encoded[start : start + batch_size]]
            ids, mask = pad_right(rows, pad_id)  # mask: 1 = real token
            logits = model(ids.to(device), mask.to(device)).logits
            chunks.append(torch.softmax(logits.float(), dim=-1).cpu())
    finally:
        model.train(was_training)
    probabilities = torch.cat(chunks)
    labels = tuple(model.labels)
    if probabilities.shape != (len(texts), len(labels)):
        raise InputError(
            f"The model returned logits of shape {tuple(probabilities.shape)}, expected "
            f"({len(texts)}, {len(labels)}) for {len(labels)} labels."
        )
    return BatchPrediction(
        labels,
        probabilities,
        tuple(t for _, t, _ in encoded),
        tuple(n for _, _, n in encoded),
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


def classify(loaded: Any, text: str) -> Classification:
    """Classify one text. Introduced in chapter 11."""
    result = predict_batch(loaded, [_check_text(text)])
    probs = result.probabilities[0].tolist()
    return Classification(
        result.predicted[0],
        dict(zip(result.labels, probs, strict=True)),
        result.truncated[0],
        result.n_tokens[0],
    )


# ------------------------------------------------------------------------------ files
def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"The file is not UTF-8 text (byte {exc.start} cannot be decoded). Save it as UTF-8 "
            "(a .csv or .txt file) and upload it again."
        ) from exc
    if "\x00" in text:
        raise InputError(
            "The file contains NUL bytes: it looks binary (or UTF-16). Upload a UTF-8 .csv or "
            ".txt file."
        )
    return text


def _pick_column(header: list[str], wanted: str | None) -> int | None:
    names = [h.strip().lower() for h in header]
    if wanted is not None:
        key = wanted.strip().lower()
        return names.index(key) if key in names else None
    for candidate in TEXT_COLUMN_NAMES:
        if candidate in names:
            return names.index(candidate)
    return None


def _read_table(text: str, text_column: str | None) -> tuple[list[str], list[list[str]], int]:
    """``(header, rows, text_index)``; plain text (no known header) is one text per line."""
    first_line = text.split("\n", 1)[0].rstrip("\r")
    for delimiter in _DELIMITERS:
        try:
            header = next(csv.reader([first_line], delimiter=delimiter), [])
        except csv.Error:
            continue
        index = _pick_column(header, text_column)
        if index is not None:
            break
    else:
        if text_column is not None:
            raise InputError(
                f"No column named {text_column!r} in the file's first line ({first_line[:80]!r}). "
                "Check the column name, or leave it empty to read one text per line."
            )
        lines = [line.rstrip("\r") for line in text.split("\n")]
        return ["text"], [[line] for line in lines if line.strip()], 0
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise InputError(f"The CSV file cannot be read: {exc}. Check its quoting.") from exc
    header, body = rows[0], [row for row in rows[1:] if any(cell.strip() for cell in row)]
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InputError(
                f"CSV row {number} has {len(row)} fields but the header has {len(header)}. "
                'Quote texts that contain the delimiter ("like, this").'
            )
    return header, body, index


def classify_csv(
    loaded: Any,
    data: bytes,
    *,
    max_bytes: int,
    max_rows: int,
    text_column: str | None = None,
    batch_size: int = 32,
) -> bytes:
    """Classify every text of an uploaded file and return a UTF-8 CSV with the results.

    ``data`` is a CSV whose first line is a header naming a text column (``text_column``, or
    one of :data:`TEXT_COLUMN_NAMES`; delimiters ``,``, tab or ``;``), or plain text with one
    text per line. The output keeps the input columns and adds ``predicted_label``, one
    ``p_<label>`` column per label and ``truncated``. Rows with an empty text keep empty result
    cells. Raises :class:`InputError` for files over ``max_bytes`` or ``max_rows`` rows, bytes
    that are not UTF-8, a missing text column, and files with no text. Introduced in chapter 11.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(f"data must be the file's bytes, got {type(data).__name__}.")
    max_bytes = check_int("max_bytes", max_bytes, minimum=1)
    max_rows = check_int("max_rows", max_rows, minimum=1)
    data = bytes(data)
    if len(data) > max_bytes:
        raise InputError(
            f"The file is {len(data):,} bytes; the limit is {max_bytes:,}. Upload a smaller file "
            "or split it."
        )
    model, _ = classifier_parts(loaded)
    text = _decode(data)
    if not text.strip():
        raise InputError("The file is empty: it holds no text to classify.")
    header, rows, index = _read_table(text, text_column)
    if len(rows) > max_rows:
        raise InputError(
            f"The file has {len(rows):,} texts; the limit is {max_rows:,}. Split it into smaller "
            "files."
        )
    if not rows:
        raise InputError("The file has a header line but no rows: there is no text to classify.")
    todo = [i for i, row in enumerate(rows) if row[index].strip()]
    if not todo:
        raise InputError(
            f"The file has no text to classify: the column {header[index]!r} is empty in every row."
        )
    result = predict_batch(loaded, [rows[i][index] for i in todo], batch_size)
    labels = tuple(model.labels)
    taken = set(header)
    added = [_free_name("predicted_label", taken)]
    added += [_free_name(f"p_{label}", taken) for label in labels]
    added.append(_free_name("truncated", taken))
    out_rows = [[*row, *([""] * len(added))] for row in rows]
    predicted = result.predicted
    for k, i in enumerate(todo):
        probs = [f"{p:.6f}" for p in result.probabilities[k].tolist()]
        out_rows[i][len(header) :] = [predicted[k], *probs, str(result.truncated[k]).lower()]
    buffer = io.StringIO()
    # "\r\n" (RFC 4180) also makes the writer quote cells holding a bare "\r".
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_inert(cell) for cell in [*header, *added]])
    writer.writerows([_inert(cell) for cell in row] for row in out_rows)
    return buffer.getvalue().encode("utf-8")


# A spreadsheet runs a cell that starts with one of these as a formula ("CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: str) -> str:
    """``cell``, with a leading apostrophe if a spreadsheet would read it as a formula.

    The results file goes back to a visitor who will likely open it in a spreadsheet, and its
    text cells came from an upload, so a cell like ``=HYPERLINK(...)`` must stay text.
    Numbers we wrote ourselves (probabilities) never start with these characters.
    """
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``… if the input already has such a column."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate
