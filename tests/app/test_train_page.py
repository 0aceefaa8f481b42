"""The Train page: a live run draws a finite loss curve, survives a stop, and checks the text."""

from __future__ import annotations

import math

import torch

from lmkit.tasks.live_training import MIN_TEXT_CHARS, LiveTraining, LiveTrainingSettings

from .conftest import no_errors, open_page, plotly_figures

torch.set_num_threads(1)


def loss_trace(at) -> dict:
    figures = plotly_figures(at)
    assert len(figures) == 1
    return next(t for t in figures[0]["data"] if t["name"] == "train loss")


def small_story_run(at, steps: int = 10):
    at.slider(key="train_steps").set_value(steps)
    at.slider(key="train_stories").set_value(50)
    at.slider(key="train_sample_every").set_value(5)
    at.run()
    at.button(key="train_go").click().run()
    no_errors(at)
    return at


def test_training_draws_one_finite_loss_point_per_step_and_samples():
    at = small_story_run(open_page("train"), steps=10)
    trace = loss_trace(at)
    assert trace["x"] == list(range(10))
    assert len(trace["y"]) == 10 and all(math.isfinite(y) for y in trace["y"])
    assert any("Finished after 10 steps" in s.value for s in at.success)
    assert [m.value for m in at.markdown if m.value.startswith("**After step")] == [
        "**After step 10**",
        "**After step 5**",
    ]
    # Stop after the end keeps everything on the page.
    at.button(key="train_stop").click().run()
    no_errors(at)
    assert len(loss_trace(at)["y"]) == 10


def test_a_stopped_run_is_shown_from_session_state_and_continues_where_it_stopped():
    at = open_page("train")
    run = LiveTraining(
        LiveTrainingSettings(n_stories=40, n_layer=1, n_head=2, n_embd=16, max_steps=12)
    )
    run.advance(seconds=60, max_steps=5)  # as if Stop had interrupted the page after step 5
    at.session_state["train_run"] = run
    at.session_state["train_active"] = False
    at.run()
    no_errors(at)
    assert any("Stopped at step 5" in i.value for i in at.info)
    assert len(loss_trace(at)["y"]) == 5
    at.button(key="train_continue").click().run()
    no_errors(at)
    assert run.step == 12
    assert loss_trace(at)["x"] == list(range(12))


def test_pasted_text_is_checked_short_warns_and_long_text_trains_on_the_cut():
    at = open_page("train")
    at.radio(key="train_source").set_value("text").run()
    at.text_area(key="train_text").set_value("far too short").run()
    at.button(key="train_go").click().run()
    no_errors(at)
    assert any(f"at least {MIN_TEXT_CHARS}" in w.value for w in at.warning)
    assert not plotly_figures(at)
    mixed = "小狐狸每天早上跑到河边喝水。The fox 🦊 runs home at night.\x07\n" * 400
    at.text_area(key="train_text").set_value(mixed)
    at.radio(key="train_tokenizer").set_value("char")
    at.slider(key="train_steps").set_value(10)
    at.run()
    at.button(key="train_go").click().run()
    no_errors(at)
    notes = " ".join(i.value for i in at.info)
    assert "control character" in notes
    assert len(loss_trace(at)["y"]) == 10


def test_a_refused_run_clears_the_last_runs_results():
    # finding 13: "Finished after 10 steps", notes and samples stayed under the refusal
    at = small_story_run(open_page("train"), steps=10)
    assert any("Finished after 10 steps" in s.value for s in at.success)
    at.radio(key="train_source").set_value("text").run()
    at.text_area(key="train_text").set_value("x").run()
    at.button(key="train_go").click().run()
    no_errors(at)
    assert any(f"at least {MIN_TEXT_CHARS}" in w.value for w in at.warning)
    assert not at.success and not plotly_figures(at)
    assert not [m for m in at.markdown if m.value.startswith("**After step")]
    assert "train_run" not in at.session_state


def test_changing_only_the_pasted_text_says_the_settings_have_changed():
    at = open_page("train")
    at.radio(key="train_source").set_value("text").run()
    at.text_area(key="train_text").set_value("The fox runs to the river. " * 20)
    at.radio(key="train_tokenizer").set_value("char")
    at.slider(key="train_steps").set_value(10)
    at.run()
    at.button(key="train_go").click().run()
    no_errors(at)
    changed = "The settings have changed"
    assert not any(changed in c.value for c in at.caption)
    at.text_area(key="train_text").set_value("The owl flies over the hill. " * 20).run()
    assert any(changed in c.value for c in at.caption)


def test_a_text_with_too_many_different_characters_is_refused_on_the_page():
    # finding 4: 100,000 distinct code points → a 99,965-token vocabulary and +1.56 GB
    at = open_page("train")
    at.radio(key="train_source").set_value("text").run()
    at.text_area(key="train_text").set_value("".join(chr(0x4E00 + i) for i in range(6_000)))
    at.radio(key="train_tokenizer").set_value("char")
    at.run()
    at.button(key="train_go").click().run()
    no_errors(at)
    assert any("6,000 different characters" in w.value and "4,096" in w.value for w in at.warning)
    assert not plotly_figures(at)
