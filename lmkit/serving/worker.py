"""The part every serving worker shares: one daemon thread, a condition that wakes it, ``close``.

Introduced in chapter 14. :class:`~lmkit.serving.engine.GenerationEngine` and
:class:`~lmkit.serving.batcher.BatchWorker` each own one thread that sleeps on ``_wake`` until
work arrives or :meth:`WorkerThread.close` is called; they differ only in their ``_loop``.
"""

from __future__ import annotations

import threading

__all__ = ["WorkerThread"]


class WorkerThread:
    """Base class: call :meth:`_start` at the end of ``__init__``; ``_loop`` runs in the thread
    and must return once ``_closed`` is set. Introduced in chapter 14."""

    def __init__(self, name: str) -> None:
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop the worker; what has not finished yet gets an EngineClosedError."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    @property
    def alive(self) -> bool:
        """Whether the worker thread is running."""
        return self._thread.is_alive()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
