"""Micro-batching: gather requests that arrive within a few milliseconds into one forward pass.

Introduced in chapter 14. Continuous batching (:mod:`lmkit.serving.engine`) is for work made of
many steps. A classifier answers in *one* forward pass, so there is nothing to join between
steps; instead a :class:`BatchWorker` waits a moment after the first request arrives
(``max_wait_s``, a few ms), takes everything that came in meanwhile (up to ``max_batch``) and
runs it as one padded batch. Thirty visitors pressing **Classify** together then cost one or two
forward passes of 30 rows, not 30 passes of one row. The price is at most ``max_wait_s`` of extra
latency for a request that arrives alone.

If a whole batch fails (one text in it is bad, say), each of its items is run again alone, so
only the bad request gets the error and the others still get their answers.
:class:`ClassificationBatcher` is a BatchWorker for :func:`lmkit.tasks.text_classify.predict_batch`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from lmkit.errors import ConfigError, InputError
from lmkit.serving.handle import EngineClosedError, GenerationFailed, ServerBusyError
from lmkit.serving.worker import WorkerThread
from lmkit.tasks.text_classify import Classification, predict_batch
from lmkit.validators import check_int, check_number

__all__ = ["BatchWorker", "ClassificationBatcher"]


def _as_served_error(exc: Exception) -> Exception:
    """Bad input keeps its own error (it says what to fix); anything else is a failure."""
    return exc if isinstance(exc, InputError) else GenerationFailed.wrap(exc)


class BatchWorker(WorkerThread):
    """One thread that runs ``process(items) -> results`` on batches of submitted items.

    ``submit(item)`` returns a :class:`concurrent.futures.Future` at once. ``process`` gets a
    list of up to ``max_batch`` items and must return one result per item, in order. Beyond
    ``max_waiting`` queued items ``submit`` raises :class:`ServerBusyError`. Introduced in
    chapter 14.
    """

    def __init__(
        self,
        process: Callable[[list[Any]], Sequence[Any]],
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.005,
        max_waiting: int = 256,
        name: str = "lmkit-batch-worker",
    ) -> None:
        if not callable(process):
            raise ConfigError(f"process must be callable, got {type(process).__name__}.")
        super().__init__(name)
        self.process = process
        self.max_batch = check_int("max_batch", max_batch, minimum=1)
        self.max_wait_s = check_number("max_wait_s", max_wait_s, minimum=0, maximum=1)
        self.max_waiting = check_int("max_waiting", max_waiting, minimum=1)
        self._queue: list[tuple[Any, Future]] = []
        self.batches_run = 0  # for tests and benchmarks
        self.largest_batch = 0
        self._start()

    def submit(self, item: Any) -> Future:
        """Queue ``item``; the Future gives its result, or the error of processing it."""
        future: Future = Future()
        with self._wake:
            if self._closed:
                raise EngineClosedError("This batch worker has been closed.")
            if len(self._queue) >= self.max_waiting:
                raise ServerBusyError(
                    f"The server is busy: {len(self._queue)} requests are waiting. Please try "
                    "again in a moment."
                )
            self._queue.append((item, future))
            self._wake.notify()
        return future

    def _take_batch(self) -> list[tuple[Any, Future]] | None:
        with self._wake:
            while not self._closed and not self._queue:
                self._wake.wait()
            if self._closed:
                return None
            # The first request is here: give others a moment to join its batch.
            deadline = time.monotonic() + self.max_wait_s
            while len(self._queue) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._wake.wait(left)
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            return batch

    def _loop(self) -> None:
        try:
            while (batch := self._take_batch()) is not None:
                self._run(batch)
        finally:
            with self._wake:
                leftover, self._queue = self._queue, []
            for _, future in leftover:
                future.set_exception(EngineClosedError("The batch worker was closed."))

    def _run(self, batch: list[tuple[Any, Future]]) -> None:
        live = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        self.batches_run += 1
        self.largest_batch = max(self.largest_batch, len(live))
        try:
            results = list(self.process([item for item, _ in live]))
            if len(results) != len(live):
                raise GenerationFailed(
                    f"process returned {len(results)} results for {len(live)} items."
                )
        except Exception as exc:
            if len(live) == 1:
                live[0][1].set_exception(_as_served_error(exc))
            else:  # find the culprit: every item alone
                for pair in live:
                    self._run_alone(*pair)
            return
        for (_, future), result in zip(live, results, strict=True):
            future.set_result(result)

    def _run_alone(self, item: Any, future: Future) -> None:
        try:
            (result,) = self.process([item])
        except Exception as exc:
            future.set_exception(_as_served_error(exc))
            return
        future.set_result(result)


class ClassificationBatcher(BatchWorker):
    """Classify texts for many callers, a padded batch at a time; results as
    :func:`lmkit.tasks.text_classify.classify` gives them. Introduced in chapter 14."""

    def __init__(self, loaded: Any, **options: Any) -> None:
        self.loaded, self.model = loaded, loaded.model
        super().__init__(self._classify_batch, name="lmkit-classify", **options)

    def _classify_batch(self, texts: list[str]) -> list[Classification]:
        return predict_batch(self.loaded, texts, batch_size=len(texts)).rows()

    def classify(self, text: str, timeout: float | None = 60.0) -> Classification:
        """Classify one text (waits for its batch); raises what ``classify`` would raise."""
        return self.submit(text).result(timeout)
