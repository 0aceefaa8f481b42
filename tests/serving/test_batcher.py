"""BatchWorker and ClassificationBatcher: requests that arrive together share one forward pass,
and each gets what lmkit.tasks.text_classify.classify gives it alone (the reference)."""

from __future__ import annotations

import threading

import pytest
from toy_classifiers import toy_loaded

import lmkit
from lmkit.errors import ConfigError, InputError
from lmkit.serving import (
    BatchWorker,
    ClassificationBatcher,
    EngineClosedError,
    GenerationFailed,
    ServerBusyError,
)
from lmkit.tasks.text_classify import classify

WAIT = 120
TEXTS = [
    "The movie was not bad at all, I really liked it.",
    "The food was cold and the waiter was rude.",
    "great",
    "It was fine, I guess, but the second half dragged on and on and on.",
    "我非常喜欢这家餐厅。",
    "awful awful awful",
]


def _together(batcher: ClassificationBatcher, texts: list[str]) -> list:
    """Submit every text from its own thread at the same moment; results (or errors) in order."""
    gate = threading.Barrier(len(texts))
    results: list = [None] * len(texts)

    def one(i: int) -> None:
        gate.wait()
        try:
            results[i] = batcher.classify(texts[i], timeout=WAIT)
        except Exception as exc:  # the test looks at which error each caller got
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    return results


def _assert_same(got, expected) -> None:
    assert got.label == expected.label
    assert (got.truncated, got.n_tokens) == (expected.truncated, expected.n_tokens)
    assert got.unknown_share == expected.unknown_share
    assert got.probabilities.keys() == expected.probabilities.keys()
    for label, p in expected.probabilities.items():
        assert got.probabilities[label] == pytest.approx(p, abs=1e-5)


@pytest.mark.parametrize("name", ["minilm-sentiment", "tiny-sentiment"])
def test_batched_classification_equals_one_text_at_a_time(name):
    loaded = lmkit.load(name)
    texts = TEXTS * 3
    with ClassificationBatcher(loaded, max_wait_s=0.05) as batcher:
        results = _together(batcher, texts)
        assert batcher.largest_batch > 1  # they really shared forward passes
        assert batcher.batches_run < len(texts)
    for text, got in zip(texts, results, strict=True):
        _assert_same(got, classify(loaded, text))


def test_one_bad_text_gets_its_error_and_its_batch_neighbours_their_labels():
    loaded = toy_loaded()
    texts = ["the movie was good", "   ", "not very bad", "\u200b"]
    with ClassificationBatcher(loaded, max_wait_s=0.05) as batcher:
        results = _together(batcher, texts)
    assert isinstance(results[1], InputError) and isinstance(results[3], InputError)
    _assert_same(results[0], classify(loaded, texts[0]))
    _assert_same(results[2], classify(loaded, texts[2]))


def test_batch_worker_runs_items_in_batches_and_keeps_their_order():
    release, sizes = threading.Event(), []

    def double(items):
        release.wait(WAIT)  # the first batch holds the worker while the rest queue up
        sizes.append(len(items))
        return [2 * x for x in items]

    with BatchWorker(double, max_batch=4, max_wait_s=0) as worker:
        futures = [worker.submit(i) for i in range(10)]
        release.set()
        assert [f.result(WAIT) for f in futures] == [2 * i for i in range(10)]
    assert sum(sizes) == 10 and max(sizes) <= 4 and len(sizes) < 10


def test_batch_worker_busy_errors_and_close():
    release = threading.Event()
    entered = threading.Event()

    def slow(items):
        entered.set()
        release.wait(WAIT)
        return items

    worker = BatchWorker(slow, max_batch=1, max_waiting=1, max_wait_s=0)
    first = worker.submit("a")
    entered.wait(WAIT)
    queued = worker.submit("b")
    with pytest.raises(ServerBusyError):
        worker.submit("c")
    closer = threading.Thread(target=worker.close)
    closer.start()
    while not worker.closed:  # close() has been called while "a" is still being processed
        threading.Event().wait(0.001)
    release.set()
    closer.join(WAIT)
    assert first.result(WAIT) == "a" and not worker.alive
    assert isinstance(queued.exception(WAIT), EngineClosedError)
    with pytest.raises(EngineClosedError):
        worker.submit("d")


def test_a_failing_process_reaches_every_caller_as_generation_failed():
    def broken(items):
        raise RuntimeError("no model today")

    with BatchWorker(broken, max_wait_s=0.01) as worker:
        futures = [worker.submit(i) for i in range(3)]
        for future in futures:
            with pytest.raises(GenerationFailed, match="no model today"):
                future.result(WAIT)
    with pytest.raises(ConfigError, match="callable"):
        BatchWorker("not callable")
