"""The app's shared guards: text cleaning, the model-name allow-list, slots, error display."""

from __future__ import annotations

import threading

import common
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_

from lmkit.errors import LmkitError


@given(st_.text(max_size=3000))
@settings(max_examples=200, deadline=None)
def test_clean_text_never_keeps_control_characters_or_exceeds_the_limit(text):
    cleaned = common.clean_text(text, max_chars=500)
    assert len(cleaned.text) <= 500
    assert all(ch in "\n\t" or ord(ch) >= 32 for ch in cleaned.text if ord(ch) < 128)
    assert "\x00" not in cleaned.text


def test_clean_text_keeps_chinese_emoji_and_reports_what_it_changed():
    cleaned = common.clean_text("我喜欢\x00吃苹果 🍎\x07", max_chars=100)
    assert cleaned.text == "我喜欢吃苹果 🍎"
    assert any("2 control" in note for note in cleaned.notes)
    long = common.clean_text("a" * 1001, max_chars=1000)
    assert len(long.text) == 1000 and any("1,001" in note for note in long.notes)
    assert common.clean_text("  \n\t ").empty and common.clean_text(None).empty


@pytest.mark.parametrize(
    "text", ["\u200b", "\u200b\u200c\u200d", "\u2060\ufeff \u00a0", "\u202e\u200b"]
)
def test_invisible_only_text_is_empty(text):
    # finding 14: a U+200B-only text was classified (positive, 0.9998); NBSP was skipped
    assert common.clean_text(text).empty
    assert not common.clean_text("a\u200b").empty and not common.clean_text("🙂").empty


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "../lmkit/weights/tiny-gpt", "gpt2", "https://x.y/z"]
)
def test_only_builtin_model_names_can_be_loaded(name):
    with pytest.raises(LmkitError, match="Unknown model"):
        common.load_builtin(name)


def test_work_slots_bound_the_number_of_concurrent_jobs(monkeypatch):
    slots = common.Slots(2)
    monkeypatch.setattr(common, "_slots", lambda: slots)
    running, peak, lock = [0], [0], threading.Lock()
    gate = threading.Event()

    def job():
        with common.work_slot():
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            gate.wait(0.2)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=job) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


def test_a_run_stopped_while_leaving_the_wait_gives_its_slot_back(monkeypatch):
    # Streamlit stops a superseded run at its next Streamlit call; here that is the spinner's
    # exit, just after the slot was acquired.
    class Stopped(BaseException):
        pass

    class StoppingSpinner:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            raise Stopped

    slots = common.Slots(1)
    monkeypatch.setattr(common, "_slots", lambda: slots)
    monkeypatch.setattr(common.st, "spinner", StoppingSpinner)
    slots.acquire()  # another visitor holds the only slot…
    threading.Timer(0.05, slots.release).start()  # …and finishes soon
    with pytest.raises(Stopped), common.work_slot():
        pass
    assert slots.acquire(timeout=0), "the stopped run kept the slot"


def test_batch_chunks_always_leave_a_slot_for_interactive_work():
    # finding 1: two visitors' files held both slots for ~185 s; a third visitor's 5-token
    # generation waited 120 s and got "The server is busy"
    slots = common.Slots(2)
    assert slots.acquire(batch=True, timeout=0)  # visitor 1's file, one chunk
    assert not slots.acquire(batch=True, timeout=0)  # visitor 2's file waits for that chunk…
    assert slots.acquire(timeout=0)  # …while visitor 3's generation starts at once
    slots.release()
    slots.release(batch=True)
    assert slots.acquire(batch=True, timeout=0)  # the next chunk may go now
    slots.release(batch=True)
    with pytest.raises(ValueError):
        slots.release(batch=True)


def test_waiting_interactive_work_goes_before_the_next_batch_chunk():
    slots = common.Slots(1)
    assert slots.acquire(batch=True, timeout=0)  # a file's chunk holds the only slot
    order, queued = [], threading.Event()

    def visitor():
        queued.set()
        assert slots.acquire(timeout=30)
        order.append("generation")
        slots.release()

    thread = threading.Thread(target=visitor)
    thread.start()
    queued.wait()
    while slots.waiting == 0:  # until the visitor is in the queue
        threading.Event().wait(0.001)
    slots.release(batch=True)  # the chunk ends and the job asks for its next chunk at once:
    assert slots.acquire(batch=True, timeout=30)  # a plain semaphore would let it barge in
    order.append("next chunk")
    slots.release(batch=True)
    thread.join()
    assert order == ["generation", "next chunk"]


def test_slots_are_handed_out_in_arrival_order():
    slots = common.Slots(1)
    assert slots.acquire(timeout=0)
    order, threads = [], []
    for name in "abc":

        def take(name=name):
            assert slots.acquire(timeout=30)
            order.append(name)
            slots.release()

        threads.append(threading.Thread(target=take))
        threads[-1].start()
        while slots.waiting < len(threads):
            threading.Event().wait(0.001)
    slots.release()
    for thread in threads:
        thread.join()
    assert order == ["a", "b", "c"]
