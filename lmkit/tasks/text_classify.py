"""Classify raw text with any lmkit classifier: one text, a list, or an uploaded file.

Introduced in chapter 11 and used by the app's Classify page. Everything here works with any
model that follows lmkit's classifier interface (``AGENTS.md``): ``model(input_ids,
attention_mask).logits`` of shape (B, n_labels), ``model.labels``, and a tokenizer whose
``encode(text)`` gives the ids the model expects ([CLS]/[SEP] included).

- :func:`predict_proba`: probabilities (N, n_labels) for a list of texts, in batches;
- :func:`predict_batch`: the same, plus which texts were truncated and their token counts;
- :func:`classify`: one text → :class:`Classification` (label, probabilities, truncation);
- :class:`FileJob`: an uploaded file (a CSV with a text column, or plain text with one text per
  line, read by :mod:`lmkit.tasks.csv_batch`) classified a slice at a time, within a token
  budget and a time bound, with progress, cancel and the results CSV at any point;
- :func:`classify_csv`: the same in one call, returning the CSV with the predicted label and one
  probability column per label.

A text longer than the model accepts is cut to the model's maximum length (keeping a final
special token such as ``[SEP]`` at the end), and the result says so. Empty texts, and texts
with nothing visible (only whitespace, zero-width or other format characters), raise
:class:`~lmkit.errors.InputError`: there is nothing to classify.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lmkit.errors import InputError
from lmkit.nn.padding import pad_right
from lmkit.tasks.csv_batch import (
    TEXT_COLUMN_NAMES,
    is_blank,
    plan_batches,
    read_upload,
    write_results,
)
from lmkit.validators import check_int, check_number, is_int

__all__ = [
    "TEXT_COLUMN_NAMES",
    "BatchPrediction",
    "Classification",
    "FileJob",
    "classifier_parts",
    "classify",
    "classify_csv",
    "encode_for_model",
    "is_blank",
    "model_max_length",
    "predict_batch",
    "predict_proba",
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


def _pad_id(tokenizer: Any) -> int:
    pad_id = getattr(tokenizer, "pad_id", None)
    return 0 if pad_id is None else pad_id


@torch.no_grad()
def _probabilities(model: Any, rows: list[list[int]], pad_id: int) -> torch.Tensor:
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
    pad_id = _pad_id(tokenizer)
    chunks = [
        _probabilities(model, [ids for ids, _, _ in encoded[start : start + batch_size]], pad_id)
        for start in range(0, len(encoded), batch_size)
    ]
    return BatchPrediction(
        tuple(model.labels),
        torch.cat(chunks),
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
_READ_SHARE = 0.1  # the part of a job's progress bar that reading (tokenizing) fills


class FileJob:
    """An uploaded file being classified a slice at a time. Introduced in chapter 11.

    The file is read at once (:func:`lmkit.tasks.csv_batch.read_upload`; ``notes`` say what was
    found). :meth:`advance` then works for about ``seconds`` and returns, so a caller (the app's
    Classify page) can draw progress, let other work run in between, or stop: first it tokenizes
    the texts, refusing the file with :class:`InputError` as soon as they make more than
    ``max_tokens`` tokens (counted as the model reads them, each cut to the model's maximum
    length); then it classifies them in batches of at most ``batch_size`` texts and
    ``max_batch_tokens`` padded tokens. ``max_seconds`` bounds the work of the whole job: past
    it, the job stops (``stopped == "time"``); :meth:`cancel` stops it from any thread
    (``stopped == "cancelled"``). :meth:`to_csv` gives the results so far at any time.
    """

    def __init__(
        self, loaded: Any, data: bytes, *, max_bytes: int, max_rows: int,
        text_column: str | None = None, max_tokens: int | None = None,
        max_seconds: float | None = None, batch_size: int = 32, max_batch_tokens: int = 2048,
    ) -> None:  # fmt: skip
        self.model, self.tokenizer = classifier_parts(loaded)
        self.max_tokens = (
            None if max_tokens is None else check_int("max_tokens", max_tokens, minimum=1)
        )
        self.max_seconds = (
            None if max_seconds is None else check_number("max_seconds", max_seconds, 0, above=True)
        )
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.max_batch_tokens = check_int("max_batch_tokens", max_batch_tokens, minimum=1)
        self.table = read_upload(
            data, max_bytes=max_bytes, max_rows=max_rows, text_column=text_column
        )
        self.rows = self.table.todo  # the table rows that hold a text
        if not self.rows:
            raise InputError(
                "The file has no text to classify: the column "
                f"{self.table.text_column!r} is empty (or invisible) in every row."
            )
        self.notes = list(self.table.notes)
        if len(self.rows) < len(self.table.rows):
            self.notes.append(
                f"{len(self.table.rows) - len(self.rows):,} row(s) have no visible text; their "
                "result cells stay empty."
            )
        self.labels = tuple(self.model.labels)
        self.limit = model_max_length(self.model)
        self.tokens = 0  # tokens the model reads, summed over the texts read so far
        self.seconds = 0.0  # work so far, summed over slices
        self.stopped: str | None = None
        self.lock = threading.RLock()
        self._encoded: list[tuple[list[int], bool, int]] = []
        self._batches: list[list[int]] | None = None  # positions in self.rows, once read
        self._next = 0
        self._results: dict[int, tuple[list[float], bool]] = {}

    # ------------------------------------------------------------------ progress
    @property
    def total(self) -> int:  # texts to classify
        return len(self.rows)

    @property
    def done(self) -> int:  # texts classified so far
        return len(self._results)

    @property
    def finished(self) -> bool:
        """True once every text is classified, or the job stopped."""
        return self.stopped is not None or (
            self._batches is not None and self._next >= len(self._batches)
        )

    @property
    def fraction(self) -> float:
        """Progress in [0, 1]: reading counts for a tenth, classifying for the rest."""
        reading = len(self._encoded) / self.total
        return min(1.0, _READ_SHARE * reading + (1 - _READ_SHARE) * self.done / self.total)

    def cancel(self) -> None:
        """Stop the job at its next batch (safe to call from another thread)."""
        if not self.finished:
            self.stopped = "cancelled"

    # ------------------------------------------------------------------ work
    def advance(self, seconds: float = 1.0) -> int:
        """Work for about ``seconds`` (at least one batch, or a few texts while reading) within
        ``max_seconds``; return how many texts were classified."""
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds >= 0:
            raise InputError(f"seconds must be a number >= 0, got {seconds!r}.")
        with self.lock:
            if self.finished:
                return 0
            before, start = self.done, time.perf_counter()
            until = start + seconds
            try:
                while True:
                    if self._batches is not None:
                        self._classify_next()
                    else:
                        self._tokenize(until)
                    now = time.perf_counter()
                    spent = self.seconds + now - start
                    if self.max_seconds is not None and spent >= self.max_seconds:
                        self.stopped = None if self.finished else "time"
                    if self.finished or now >= until:
                        break
            finally:
                self.seconds += time.perf_counter() - start
            return self.done - before

    def _tokenize(self, until: float) -> None:
        column = self.table.text_index
        while len(self._encoded) < self.total:
            text = self.table.rows[self.rows[len(self._encoded)]][column]
            encoded = encode_for_model(self.tokenizer, text, self.limit)
            self._encoded.append(encoded)
            self.tokens += len(encoded[0])
            if self.max_tokens is not None and self.tokens > self.max_tokens:
                self._refuse()
            if len(self._encoded) % 16 == 0 and time.perf_counter() >= until:
                return
        lengths = [len(ids) for ids, _, _ in self._encoded]
        self._batches = plan_batches(lengths, self.batch_size, self.max_batch_tokens)

    def _refuse(self) -> None:
        fit_rows = self.rows[len(self._encoded) - 1]  # rows before the text that went over
        each = f"; each text counts at most {self.limit} tokens, as many as the model reads" if (
            self.limit) else ""  # fmt: skip
        self.stopped = "refused"
        raise InputError(
            f"The file's texts make more than {self.max_tokens:,} tokens, the limit per file{each}. "
            f"The first {fit_rows:,} of its {len(self.table.rows):,} rows fit within the limit: "
            "split the file or shorten the texts."
        )

    def _classify_next(self) -> None:
        batch = self._batches[self._next]
        rows = [self._encoded[p][0] for p in batch]
        probabilities = _probabilities(self.model, rows, _pad_id(self.tokenizer))
        for p, probs in zip(batch, probabilities.tolist(), strict=True):
            self._results[p] = (probs, self._encoded[p][1])
        self._next += 1

    def to_csv(self) -> bytes:
        """The results so far as a CSV: the file's columns plus ``predicted_label``, one
        ``p_<label>`` column per label and ``truncated``, empty for rows without a text or not
        classified yet; cells a spreadsheet would run as formulas get a leading ``'``, listed in a
        last ``escaped`` column (:func:`lmkit.tasks.csv_batch.write_csv`)."""
        with self.lock:  # a slice still running in another thread may be adding results
            results = {self.rows[p]: result for p, result in self._results.items()}
        return write_results(self.table, self.labels, results)


def classify_csv(
    loaded: Any, data: bytes, *, max_bytes: int, max_rows: int, text_column: str | None = None,
    batch_size: int = 32, max_tokens: int | None = None, max_seconds: float | None = None,
    progress: Callable[[FileJob], None] | None = None,
) -> bytes:  # fmt: skip
    """Classify every text of an uploaded file and return a UTF-8 CSV with the results.

    ``data`` is a CSV whose first line is a header naming a text column (``text_column``, or
    one of :data:`TEXT_COLUMN_NAMES`; delimiters ``,``, tab or ``;``, or Excel's ``sep=`` line),
    or plain text with one text per line (see :mod:`lmkit.tasks.csv_batch`). The output keeps
    the input columns and adds ``predicted_label``, one ``p_<label>`` column per label and
    ``truncated`` (and ``escaped``, see :meth:`FileJob.to_csv`). Rows with no visible text keep
    empty result cells. ``progress(job)`` is called after every slice of work. Raises
    :class:`InputError` for files over ``max_bytes``, ``max_rows`` rows or ``max_tokens``
    tokens, bytes that are not UTF-8, a missing text column, broken quoting, files with no
    text, and work past ``max_seconds``. Introduced in chapter 11.
    """
    job = FileJob(
        loaded, data, max_bytes=max_bytes, max_rows=max_rows, text_column=text_column,
        max_tokens=max_tokens, max_seconds=max_seconds, batch_size=batch_size,
    )  # fmt: skip
    while not job.finished:
        job.advance(seconds=math.inf if progress is None else 1.0)
        if progress is not None:
            progress(job)
    if job.stopped == "time":
        raise InputError(
            f"Classifying the file took longer than max_seconds={max_seconds}: {job.done:,} of "
            f"{job.total:,} texts were done. Use FileJob to keep partial results."
        )
    return job.to_csv()
