"""SharedMemo: one computation per key however many threads ask, recent answers kept, failures not."""

from __future__ import annotations

import threading

import pytest

from lmkit.errors import ConfigError
from lmkit.serving import SharedMemo


def test_threads_asking_for_one_key_share_one_computation():
    memo: SharedMemo[int] = SharedMemo()
    started, release, calls = threading.Event(), threading.Event(), []

    def slow() -> int:
        calls.append(1)
        started.set()
        release.wait(5)
        return 42

    answers: list[int] = []
    owner = threading.Thread(target=lambda: answers.append(memo.get_or_make("k", slow)))
    owner.start()
    started.wait(5)
    waiters = [threading.Thread(target=lambda: answers.append(memo.get_or_make("k", slow)))
               for _ in range(5)]  # fmt: skip
    for thread in waiters:
        thread.start()
    release.set()
    for thread in [owner, *waiters]:
        thread.join(5)
    assert answers == [42] * 6
    assert len(calls) == 1 and memo.misses == 1 and memo.hits == 5


def test_the_least_recently_used_answer_goes_first():
    memo: SharedMemo[str] = SharedMemo(size=2)
    memo.get_or_make("a", lambda: "A")
    memo.get_or_make("b", lambda: "B")
    memo.get_or_make("a", lambda: "never made")  # "a" is now the most recent
    memo.get_or_make("c", lambda: "C")  # evicts "b"
    assert len(memo) == 2
    assert memo.get_or_make("a", lambda: "again") == "A"
    assert memo.get_or_make("b", lambda: "B made again") == "B made again"


def test_a_failure_is_not_kept():
    memo: SharedMemo[int] = SharedMemo()

    def broken() -> int:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        memo.get_or_make("k", broken)
    assert memo.get_or_make("k", lambda: 7) == 7


def test_a_waiter_tries_for_itself_when_the_owner_fails():
    memo: SharedMemo[int] = SharedMemo()
    started, release = threading.Event(), threading.Event()

    def failing() -> int:
        started.set()
        release.wait(5)
        raise RuntimeError("owner failed")

    errors: list[BaseException] = []

    def own() -> None:
        try:
            memo.get_or_make("k", failing)
        except RuntimeError as error:
            errors.append(error)

    owner = threading.Thread(target=own)
    owner.start()
    started.wait(5)
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(memo.get_or_make("k", lambda: 3)))
    waiter.start()
    release.set()
    owner.join(5)
    waiter.join(5)
    assert len(errors) == 1 and got == [3]


def test_size_must_be_positive():
    with pytest.raises(ConfigError, match="size"):
        SharedMemo(size=0)
