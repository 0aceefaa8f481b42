"""Classify a whole uploaded file: a CSV with a text column, or plain text with one text per line.

Introduced in chapter 11 and used by the app's Classify page.

- :class:`FileJob`: the file (read by :mod:`lmkit.tasks.csv_batch`) classified a slice at a
  time, within a token budget and a time bound, with progress, cancel and the results CSV at
  any point;
- :func:`classify_csv`: the same in one call, returning the CSV with the predicted label and one
  probability column per label.

Single texts and lists of texts: :mod:`lmkit.tasks.text_classify`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from lmkit.errors import InputError
from lmkit.tasks.csv_batch import plan_batches, read_upload, write_results
from lmkit.tasks.text_classify import (
    UNREADABLE_SHARE,
    batch_probabilities,
    classifier_parts,
    encode_for_model,
    model_max_length,
    padding_id,
    unknown_share,
)
from lmkit.validators import check_int, check_number

__all__ = ["FileJob", "classify_csv"]


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
        unreadable = sum(
            unknown_share(self.tokenizer, ids) > UNREADABLE_SHARE for ids, _, _ in self._encoded
        )
        if unreadable:
            self.notes.append(
                f"{unreadable:,} text(s) are mostly unknown to this model (over "
                f"{UNREADABLE_SHARE:.0%} of their tokens are [UNK]: it cannot read their "
                "language), so their labels are guesses."
            )

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
        probabilities = batch_probabilities(self.model, rows, padding_id(self.tokenizer))
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
