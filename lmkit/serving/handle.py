"""The caller's side of a served request: a handle that streams tokens, then gives the result.

Introduced in chapter 14. :class:`RequestHandle` is what
:meth:`lmkit.serving.engine.GenerationEngine.submit` returns. The engine's worker thread puts
each new :class:`~lmkit.decoding.generation.TokenStep` into the handle's queue; the caller
reads them as they come (:meth:`RequestHandle.steps`, :meth:`RequestHandle.text_pieces`) or
waits for the end (:meth:`RequestHandle.result`). The errors a served request can end with
live here too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lmkit.decoding.generation import TokenStep
from lmkit.errors import LmkitError

__all__ = [
    "EngineClosedError",
    "GenerationFailed",
    "GenerationResult",
    "RequestCancelled",
    "RequestHandle",
    "ServerBusyError",
]


class ServerBusyError(LmkitError, RuntimeError):
    """The engine's waiting queue is full; try again in a moment. Introduced in chapter 14."""


class EngineClosedError(LmkitError, RuntimeError):
    """The engine was closed before (or while) the request ran. Introduced in chapter 14."""


class RequestCancelled(LmkitError, RuntimeError):
    """The request was cancelled with :meth:`RequestHandle.cancel`. Introduced in chapter 14."""


class GenerationFailed(LmkitError, RuntimeError):
    """The model (or a token callback) raised while serving the request; ``__cause__`` is the
    original exception. Introduced in chapter 14."""

    @classmethod
    def wrap(cls, exc: BaseException) -> GenerationFailed:
        if isinstance(exc, LmkitError):
            error = cls(f"Generation failed: {exc}")
        else:
            error = cls(
                f"Generation failed: {type(exc).__name__}: {exc}. The details are in this "
                "error's __cause__."
            )
        error.__cause__ = exc
        return error


@dataclass(frozen=True)
class GenerationResult:
    """A finished request: the prompt's ids, the new ids, one TokenStep per new token, and why it
    stopped (``"eos"`` or ``"length"``). ``sequence`` is what ``generate`` returns for the
    prompt, as a list. Introduced in chapter 14."""

    prompt_ids: list[int]
    new_ids: list[int]
    steps: list[TokenStep]
    finish_reason: str

    @property
    def sequence(self) -> list[int]:
        return self.prompt_ids + self.new_ids


_END = object()  # marks the end of a handle's stream


class RequestHandle:
    """One request's stream and result; made by the engine, read by the caller.

    Iterating a handle (or :meth:`steps`) yields TokenSteps until the request ends, then
    raises the request's error if it failed. :meth:`cancel` asks the engine to drop it at the
    next step. Introduced in chapter 14.
    """

    def __init__(
        self,
        tokenizer: Any = None,
        on_token: Callable[[TokenStep], Any] | None = None,
        eos_id: int | None = None,
    ) -> None:
        self._tokenizer, self._on_token, self._eos_id = tokenizer, on_token, eos_id
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._done = threading.Event()
        self._cancelled = threading.Event()
        self._result: GenerationResult | None = None
        self._error: BaseException | None = None

    # ------------------------------------------------------------------------ for the caller
    def cancel(self) -> None:
        """Stop this request at the engine's next step (its result is then RequestCancelled)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def done(self) -> bool:
        """Whether the request has ended (finished, failed or been cancelled)."""
        return self._done.is_set()

    def steps(
        self, timeout: float | None = None, every: float | None = None
    ) -> Iterator[TokenStep]:
        """Yield each new TokenStep as it is made; ``timeout``: seconds to wait for each one.

        With ``every`` (seconds) the caller's thread wakes at most that often and gets every
        step that arrived meanwhile: on a busy server, 30 threads waking once per token would
        keep the engine's own thread from running. Raises the request's error at the end if it
        failed, and :class:`TimeoutError` (the request is then cancelled) when no token came in
        time.
        """
        while True:
            if every is not None:
                self._done.wait(every)  # sleeps without the GIL; wakes at once at the end
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                self.cancel()
                raise TimeoutError(
                    f"No token within {timeout} s; the request was cancelled."
                ) from None
            while True:  # this item, then (with ``every``) whatever else is already here
                if item is _END:
                    if self._error is not None:
                        raise self._error
                    return
                yield item
                if every is None:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break

    __iter__ = steps

    def text_pieces(self, timeout: float | None = None) -> Iterator[str]:
        """Yield the newly readable text after each token (needs the engine's tokenizer).

        The end-of-text token is left out, and a character split over several byte tokens
        comes out whole, once its last byte has arrived.
        """
        if self._tokenizer is None:
            raise LmkitError("This handle has no tokenizer: read token ids with steps().")
        ids: list[int] = []
        shown = ""
        for step in self.steps(timeout):
            if step.token_id != self._eos_id:
                ids.append(step.token_id)
            text = self._tokenizer.decode(ids).rstrip("\ufffd")
            if len(text) > len(shown) and text.startswith(shown):
                yield text[len(shown) :]
                shown = text

    def result(self, timeout: float | None = None) -> GenerationResult:
        """Wait for the end and return the result, or raise the request's error."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"The request did not finish within {timeout} s.")
        if self._error is not None:
            raise self._error
        return self._result

    # ------------------------------------------------------------------------ for the engine
    def _deliver(self, step: TokenStep) -> None:
        self._queue.put(step)
        if self._on_token is not None:
            try:
                self._on_token(step)
            except Exception as exc:  # a broken callback ends this request only
                self.cancel()
                self._fail(GenerationFailed.wrap(exc))

    def _finish(self, result: GenerationResult) -> None:
        if not self._done.is_set():
            self._result = result
            self._end()

    def _fail(self, error: BaseException) -> None:
        if not self._done.is_set():
            self._error = error
            self._end()

    def _end(self) -> None:
        self._done.set()
        self._queue.put(_END)
