"""What every page of the app shares: cached models, generation slots, input cleaning, errors.

This is the app's thin Streamlit layer over lmkit. Three rules hold for the whole app:

- **Models load once per process** (``st.cache_resource``) and are shared by every session.
  They are only ever used in eval mode under ``torch.inference_mode`` or for gradients of
  inputs (saliency), never trained in place, so concurrent reads are safe.
- **Generation and classification are batched across sessions.** Each built-in model has one
  process-wide :class:`~lmkit.serving.engine.GenerationEngine` (:func:`generation_engine`): 30
  visitors pressing **Generate** together are decoded as one batch, a step at a time, each
  with its own settings and seed, instead of 30 generations queueing for two cores. Likewise
  one :class:`~lmkit.serving.batcher.ClassificationBatcher` per classifier
  (:func:`classification_batcher`) turns classify clicks that arrive together into one forward.
- **Other heavy work takes a slot.** :func:`work_slot` lets ``SLOTS`` jobs (beam search,
  saliency, attention maps, …) run at a time and queues the rest, first come first served,
  telling the visitor they are waiting. Long jobs (a file to classify) run in short chunks,
  each in its own slot with ``batch=True``: waiting interactive work goes before the next
  chunk, and chunks never hold the last free slot (:class:`Slots`), so one visitor's file cannot block everyone else.
- **Visitors choose models by name only.** :func:`load_builtin` accepts the names of the
  built-in models and nothing else, so no one can make the server read a path or a URL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
import torch

from lmkit.decoding.generation import GenerationConfig, TokenStep
from lmkit.errors import LmkitError
from lmkit.hub import BUILTIN_MODELS, LoadedModel, available_models, load
from lmkit.serving import ClassificationBatcher, GenerationEngine
from lmkit.tasks.csv_batch import is_blank

log = logging.getLogger("lmkit.app")

# Each worker uses one thread: with 2 cores, two single-threaded jobs finish sooner than two
# jobs fighting over two threads each.
SLOTS = max(1, int(os.environ.get("LMKIT_APP_SLOTS", os.cpu_count() or 1)))
SLOT_WAIT_S = 120.0  # give up (with a message) rather than hang a page forever
ENGINE_MAX_BATCH = 64  # requests decoded together; more wait (a 64-row step is still ~30 ms)
ENGINE_MAX_WAITING = 512  # beyond this a click gets "the server is busy"
STREAM_EVERY_S = 0.1  # a page collects its new tokens ten times a second, not once per token
MAX_CHARS = 2_000  # text boxes: longer input is cut, with a notice
CHAR_LIMIT_HINT = f"at most {MAX_CHARS:,} characters are used"


@st.cache_resource(show_spinner=False)
def _configure_torch() -> bool:
    torch.set_num_threads(1)
    return True


_configure_torch()


@st.cache_resource(show_spinner="Loading the model (once per server)…")
def _load_cached(name: str) -> LoadedModel:
    loaded = load(name)
    loaded.model.eval()
    return loaded


def load_builtin(name: str) -> LoadedModel:
    """A built-in model by name, loaded once per process. Any other string is refused."""
    if name not in BUILTIN_MODELS:
        raise LmkitError(f"Unknown model {name!r}; choose one of {', '.join(available_models())}.")
    return _load_cached(name)


@st.cache_resource(show_spinner=False)
def _engine(name: str, kind: str) -> Any:
    loaded = load_builtin(name)
    if kind == "generation":
        return GenerationEngine(loaded.model, loaded.tokenizer, max_batch=ENGINE_MAX_BATCH,
                                max_waiting=ENGINE_MAX_WAITING, name=f"generation-{name}")  # fmt: skip
    return ClassificationBatcher(loaded, max_batch=32, max_waiting=ENGINE_MAX_WAITING)


def _shared(loaded: LoadedModel, kind: str) -> Any:
    engine = _engine(loaded.name, kind)
    if engine.model is not loaded.model or not engine.alive:  # a model not from load_builtin
        engine.close(timeout=1)
        _engine.clear()
        engine = _engine(loaded.name, kind)
    return engine


def generation_engine(loaded: LoadedModel) -> GenerationEngine:
    """The process-wide generation engine of a built-in model (one worker thread per model)."""
    return _shared(loaded, "generation")


def classification_batcher(loaded: LoadedModel) -> ClassificationBatcher:
    """The process-wide classification batcher of a built-in classifier."""
    return _shared(loaded, "classification")


def generated_steps(loaded: LoadedModel, ids: list[int], config: GenerationConfig
                    ) -> Iterator[TokenStep]:  # fmt: skip
    """A generation's TokenSteps from the shared engine as they are made. A visitor who clicks
    again or leaves stops the script, which closes this generator: the request is cancelled."""
    handle = generation_engine(loaded).submit(ids, config)
    try:
        yield from handle.steps(timeout=SLOT_WAIT_S, every=STREAM_EVERY_S)
    finally:
        handle.cancel()


def model_names(kind: str) -> list[str]:
    """Built-in models of one kind whose files (and optional packages) are present."""
    return [name for name in available_models(kind) if BUILTIN_MODELS[name].path.is_dir()]


@dataclass(eq=False)  # compared by identity: two waiting requests are never "equal"
class _Request:
    batch: bool


class Slots:
    """``n`` work slots, handed out in arrival order, interactive work before batch chunks.

    A batch chunk (``batch=True``: a slice of a long job) waits while any interactive request
    waits, and batch chunks hold at most ``batch_max`` slots together (default: all but one,
    when there are two or more), so a slot is kept for a visitor who clicks **Generate** while
    files are being classified. Arrival order also stops a job that releases its slot and asks
    again at once from jumping ahead of those already waiting, as a plain semaphore allows.
    """

    def __init__(self, n: int, batch_max: int | None = None) -> None:
        self.n = n
        self.batch_max = max(1, n - 1) if batch_max is None else batch_max
        self._cond = threading.Condition()
        self._free, self._batch = n, 0
        self._queue: deque[_Request] = deque()  # waiting requests, in arrival order

    def _next(self) -> _Request | None:
        """The request that gets the next free slot."""
        waiting = [entry for entry in self._queue if not entry.batch]
        if not waiting and self._batch < self.batch_max:
            waiting = list(self._queue)
        return waiting[0] if waiting else None

    def acquire(self, *, batch: bool = False, timeout: float | None = None) -> bool:
        """Take a slot, waiting up to ``timeout`` seconds (``None``: forever); False if none came."""
        entry = _Request(batch)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._queue.append(entry)
            try:
                while not (self._free > 0 and self._next() is entry):
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(left)
                self._free -= 1
                self._batch += batch
                return True
            finally:
                self._queue.remove(entry)
                self._cond.notify_all()

    def release(self, *, batch: bool = False) -> None:
        with self._cond:
            if self._free >= self.n or (batch and self._batch <= 0):
                raise ValueError("Slots.release() called more often than acquire()")
            self._free += 1
            self._batch -= batch
            self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        with self._cond:
            return len(self._queue)


@st.cache_resource(show_spinner=False)
def _slots() -> Slots:
    return Slots(SLOTS)


@contextlib.contextmanager
def work_slot(what: str = "this", *, batch: bool = False) -> Iterator[None]:
    """Run heavy work in one of the ``SLOTS`` shared slots; wait (and say so) when all are busy.

    ``batch=True`` marks one chunk of a long job: it yields to interactive work (:class:`Slots`).
    """
    slots = _slots()
    acquired = slots.acquire(batch=batch, timeout=0)
    # Everything after a successful acquire sits inside try/finally: a visitor clicking again
    # stops this run at its next Streamlit call, which may be the spinner's exit, and a slot
    # lost there would be lost for good.
    try:
        if not acquired:
            with st.spinner(f"Other visitors are running models; {what} starts in a moment…"):
                acquired = slots.acquire(batch=batch, timeout=SLOT_WAIT_S)
            if not acquired:
                raise LmkitError("The server is busy. Please try again in a minute.")
        yield
    finally:
        if acquired:
            slots.release(batch=batch)


@dataclass
class CleanText:
    """Text from a visitor, made safe to feed a model, and what was done to it."""

    text: str
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing visible: only whitespace, zero-width and other format characters."""
        return is_blank(self.text)


def clean_text(text: str | None, max_chars: int = MAX_CHARS) -> CleanText:
    """NFC-normalise, drop control characters (keeping newlines and tabs), cut to ``max_chars``.

    Emoji, Chinese and mixed scripts pass through untouched; the tokenizers handle them. A text
    with nothing visible (only whitespace, zero-width or other format characters, such as
    U+200B) is ``empty``, so pages treat it like an empty box.
    """
    raw = text or ""
    notes: list[str] = []
    normal = unicodedata.normalize("NFC", raw)
    kept = "".join(
        ch for ch in normal if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )
    if len(kept) != len(normal):
        notes.append(f"Removed {len(normal) - len(kept)} control character(s).")
    if len(kept) > max_chars:
        notes.append(f"The text was cut to its first {max_chars:,} of {len(kept):,} characters.")
        kept = kept[:max_chars]
    return CleanText(kept, notes)


def show_notes(cleaned: CleanText) -> None:
    for note in cleaned.notes:
        st.info(note)


@contextlib.contextmanager
def guarded(action: str) -> Iterator[None]:
    """Show problems as a friendly message instead of a traceback, and log the details.

    lmkit's own errors already say what to do, so they are shown as they are; anything else
    is logged for the operator and shown as a short apology.
    """
    try:
        yield
    except LmkitError as exc:
        st.error(str(exc))
    except Exception:
        log.exception("Unexpected error while %s", action)
        st.error(f"Something went wrong while {action}. The details are in the server log.")


class Stopwatch:
    """Tokens per second for a stream, robust to the first token's warm-up."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.count = 0

    def tick(self) -> None:
        self.count += 1

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.count / elapsed if elapsed > 0 else 0.0
