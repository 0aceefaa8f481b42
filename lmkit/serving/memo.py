"""Answers shared between visitors: the same question asked twice is worked out once.

Introduced in chapter 14. A class tends to ask the same thing at once: thirty students press
**Classify** on the page's example text, and its integrated-gradients explanation is the same
for all of them (it depends on the model, the text and the settings only). A
:class:`SharedMemo` keeps the last ``size`` answers by key and, while one caller works an
answer out, makes the others who ask for the same key wait for it instead of repeating the
work. A failed computation is not kept: each waiter then tries for itself.
Only deterministic work belongs here; the answers are shared objects, so treat them as
read-only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from lmkit.errors import ConfigError
from lmkit.validators import check_int

__all__ = ["SharedMemo"]

Answer = TypeVar("Answer")


class _Pending:
    """A computation under way: its waiters sleep on ``done``."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False
        self.value: object = None


class SharedMemo(Generic[Answer]):
    """The last ``size`` answers by key, each worked out by one caller at a time (thread-safe)."""

    def __init__(self, size: int = 256) -> None:
        self.size = check_int("size", size, minimum=1, error=ConfigError)
        self._answers: OrderedDict[Hashable, Answer] = OrderedDict()
        self._pending: dict[Hashable, _Pending] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._answers)

    def get_or_make(self, key: Hashable, make: Callable[[], Answer]) -> Answer:
        """The answer kept for ``key``, else the one another caller is making, else ``make()``."""
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                self.hits += 1
                return self._answers[key]
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                pending = self._pending[key] = _Pending()
                self.misses += 1
        if not owner:
            pending.done.wait()
            if pending.ok:
                with self._lock:
                    self.hits += 1
                return pending.value  # type: ignore[return-value]
            return make()  # the owner failed: its error is its own; try for ourselves
        try:
            value = make()
            pending.value, pending.ok = value, True
            with self._lock:
                self._answers[key] = value
                while len(self._answers) > self.size:
                    self._answers.popitem(last=False)
            return value
        finally:
            with self._lock:
                self._pending.pop(key, None)
            pending.done.set()
