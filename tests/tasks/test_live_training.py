"""Live training: settings checks, text checks, and slices that resume exactly."""

from __future__ import annotations

import math
import threading

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lmkit.errors import ConfigError, InputError
from lmkit.tasks.live_training import (
    MAX_CHAR_VOCAB,
    MAX_TEXT_CHARS,
    MIN_TEXT_CHARS,
    LiveTraining,
    LiveTrainingSettings,
    check_training_text,
    train_tokenizer,
)

torch.set_num_threads(1)

TINY = {"n_stories": 40, "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 32,
        "batch_size": 4}  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [
        {"source": "web"},
        {"lang": "fr"},
        {"tokenizer": "word"},
        {"max_steps": 0},
        {"max_steps": 10**6},
        {"max_seconds": 0.0},
        {"max_seconds": math.inf},
        {"lr": -1.0},
        {"n_embd": 30, "n_head": 4},
        {"seed": -1},
        {"batch_size": True},
    ],
)
def test_out_of_range_settings_are_refused(bad):
    with pytest.raises(ConfigError):
        LiveTrainingSettings(**bad)


def test_short_text_is_refused_and_long_text_is_cut_with_a_note():
    with pytest.raises(InputError, match=f"at least {MIN_TEXT_CHARS}"):
        check_training_text("x" * (MIN_TEXT_CHARS - 1))
    with pytest.raises(InputError):
        check_training_text("   \n" * 500)
    checked = check_training_text("ab" * MAX_TEXT_CHARS)
    assert len(checked.text) == MAX_TEXT_CHARS
    assert any(f"{2 * MAX_TEXT_CHARS:,}" in note for note in checked.notes)
    with pytest.raises(InputError):
        LiveTraining(LiveTrainingSettings(source="text"), text=None)


@given(st.text(min_size=MIN_TEXT_CHARS, max_size=600).filter(lambda t: len(t.strip()) >= 300))
@settings(max_examples=15, deadline=None)
def test_any_long_enough_text_trains_a_step_with_either_tokenizer(text):
    for kind in ("char", "bpe"):
        try:
            run = LiveTraining(
                LiveTrainingSettings(source="text", tokenizer=kind, max_steps=1, **TINY), text
            )
        except InputError as exc:  # e.g. text that gives too few tokens: said, not crashed
            assert "too few" in str(exc)
            continue
        history = run.run()
        assert len(history) == 1 and math.isfinite(history[0]["loss"])


def test_slices_resume_exactly_where_they_stopped():
    config = LiveTrainingSettings(tokenizer="char", max_steps=9, sample_every=3, **TINY)
    whole = LiveTraining(config)
    whole.run()
    sliced = LiveTraining(config)
    counts = []
    while not sliced.done:
        counts.append(len(sliced.advance(seconds=60, max_steps=2)))
    assert counts == [2, 2, 2, 2, 1]
    assert [r["loss"] for r in sliced.history] == [r["loss"] for r in whole.history]
    assert [s for s, _ in sliced.samples] == [3, 6, 9]
    assert sliced.samples == whole.samples


def test_training_lowers_the_loss_and_the_budget_stops_it():
    run = LiveTraining(LiveTrainingSettings(tokenizer="bpe", max_steps=40, lr=1e-2, **TINY))
    history = run.run()
    assert len(history) == 40 == run.step
    first, last = history[0]["loss"], history[-1]["loss"]
    assert last < first - 0.5, (first, last)
    assert isinstance(run.sample(max_new_tokens=5), str)
    timed = LiveTraining(
        LiveTrainingSettings(tokenizer="char", max_steps=2000, max_seconds=0.3, **TINY)
    )
    timed.run()
    assert timed.done and timed.step < 2000 and timed.seconds >= 0.3
    assert timed.advance() == []


def test_tokenizers_learn_the_text_and_round_trip_it():
    text = "我喜欢吃苹果。Alice likes apples 🍎. " * 12
    for kind in ("char", "bpe"):
        tokenizer = train_tokenizer(kind, text, 300)
        assert tokenizer.decode(tokenizer.encode(text)) == text
        assert "<|endoftext|>" in tokenizer.special_tokens
    with pytest.raises(ConfigError):
        train_tokenizer("word", text)


def _distinct_characters(n: int) -> str:
    """``n`` different printable code points (CJK ideographs), a few times each."""
    return "".join(chr(0x4E00 + i) for i in range(n)) * 2


def test_the_character_vocabulary_is_capped_like_bpes():
    # finding: 100,000 distinct code points gave a 99,965-token vocabulary, 13.6M parameters
    with pytest.raises(InputError, match=r"5,000 different characters.*the limit is 4,096"):
        train_tokenizer("char", _distinct_characters(5_000))
    assert train_tokenizer("char", _distinct_characters(MAX_CHAR_VOCAB - 1)).vocab_size == 4096
    assert train_tokenizer("bpe", _distinct_characters(5_000), 300).vocab_size <= 300
    with pytest.raises(InputError, match="limit is 4,096"):
        LiveTraining(LiveTrainingSettings(source="text", tokenizer="char", **TINY),
                     text=_distinct_characters(50_000))  # fmt: skip


def test_two_threads_advancing_one_run_take_turns_instead_of_racing():
    run = LiveTraining(LiveTrainingSettings(tokenizer="char", max_steps=30, **TINY))
    threads = [threading.Thread(target=run.advance, args=(60, 15)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r["step"] for r in run.history] == list(range(30))
    assert run.step == 30 and run.done
