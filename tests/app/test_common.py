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
    "name", ["/etc/passwd", "../lmkit/weights/tiny-gpt", "gpt2", "https://x.y/z"]
)
def test_only_builtin_model_names_can_be_loaded(name):
    with pytest.raises(LmkitError, match="Unknown model"):
        common.load_builtin(name)


def test_work_slots_bound_the_number_of_concurrent_jobs(monkeypatch):
    slots = threading.BoundedSemaphore(2)
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

    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(common, "_slots", lambda: slots)
    monkeypatch.setattr(common.st, "spinner", StoppingSpinner)
    slots.acquire()  # another visitor holds the only slot…
    threading.Timer(0.05, slots.release).start()  # …and finishes soon
    with pytest.raises(Stopped), common.work_slot():
        pass
    assert slots.acquire(blocking=False), "the stopped run kept the slot"
