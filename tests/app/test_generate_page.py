"""The Generate page: output matches lmkit's own generation, widgets change what is shown."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_

import lmkit
from lmkit.decoding.beam import beam_search
from lmkit.decoding.generation import GenerationConfig, generate, stream

from .conftest import no_errors, open_page, plotly_figures

torch.set_num_threads(1)
TINY = lmkit.load("tiny-gpt", device="cpu")
EOT = TINY.tokenizer.eos_id


def reference_greedy(prompt: str, max_new: int) -> str:
    ids = [EOT, *TINY.tokenizer.encode(prompt)]
    out = generate(TINY.model, ids, max_new_tokens=max_new, eos_id=EOT)[0, len(ids) :].tolist()
    return TINY.tokenizer.decode([t for t in out if t != EOT])


def output_text(at) -> str:
    assert len(at.code) == 1, [c.value for c in at.code]
    return at.code[0].value


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


WIDGET_KINDS = {
    "gen_prompt": "text_area",
    "gen_strategy": "radio",
    "gen_temperature": "slider",
    "gen_max_new": "slider",
    "gen_seed": "number_input",
}


def generate_with(at, **widgets):
    for key, value in widgets.items():
        getattr(at, WIDGET_KINDS[key])(key=key).set_value(value)
        at.run()  # a widget may enable the next one (temperature needs sampling)
    at.button(key="gen_go").click().run()
    no_errors(at)
    return at


def test_greedy_output_equals_lmkit_generate_and_changes_with_the_prompt():
    at = open_page("generate")
    no_errors(at)
    generate_with(at, gen_prompt="Alice went to the park.", gen_max_new=20)
    first = output_text(at)
    assert first == reference_greedy("Alice went to the park.", 20)
    at.button(key="gen_go").click().run()
    assert output_text(at) == first  # greedy is deterministic
    generate_with(at, gen_prompt="我喜欢吃苹果。")
    second = output_text(at)
    assert second == reference_greedy("我喜欢吃苹果。", 20) and second != first
    assert int(metric(at, "Tokens")) <= 20


def step_bars(at) -> dict:
    """The next-token bars figure (the page also draws the per-token confidence)."""
    figures = [f for f in plotly_figures(at) if f["layout"]["title"]["text"].startswith("Step")]
    assert len(figures) == 1
    return figures[0]


def _first_step_bars(at) -> tuple[list, list]:
    raw, processed = step_bars(at)["data"][:2]
    return raw["y"], processed["y"]


def test_temperature_reshapes_the_processed_bars_but_not_the_raw_ones():
    at = open_page("generate")
    generate_with(at, gen_strategy="sample", gen_max_new=1, gen_temperature=0.3, gen_seed=1)
    raw_cold, processed_cold = _first_step_bars(at)
    generate_with(at, gen_temperature=1.8)
    raw_hot, processed_hot = _first_step_bars(at)
    # The first step's model distribution does not depend on the settings...
    ids = [EOT, *TINY.tokenizer.encode("Alice went to the park.")]
    step = next(stream(TINY.model, ids, max_new_tokens=1, top_alternatives=40))
    assert max(raw_cold) == max(raw_hot) == max(step.top_probs)
    # ...but a low temperature sharpens what is sampled from, a high one flattens it.
    assert max(v for v in processed_cold if v is not None) > max(step.top_probs)
    assert max(v for v in processed_hot if v is not None) < max(step.top_probs)


def test_beam_search_tree_has_one_node_per_candidate_considered():
    at = open_page("generate")
    prompt = "Tom has a small dog."
    at.text_area(key="gen_prompt").set_value(prompt)
    at.radio(key="gen_strategy").set_value("beam").run()
    at.slider(key="gen_beams").set_value(3)
    at.slider(key="gen_max_new").set_value(6)
    at.run()
    at.button(key="gen_beam_go").click().run()
    no_errors(at)
    ids = [EOT, *TINY.tokenizer.encode(prompt)]
    expected = beam_search(TINY.model, ids, num_beams=3, max_new_tokens=6, eos_id=EOT)
    figures = plotly_figures(at)
    nodes = figures[0]["data"][-1]
    assert len(nodes["x"]) == len(expected.tree) == int(metric(at, "Tree nodes"))
    best = expected.sequences[0, len(ids) : len(ids) + expected.lengths[0]].tolist()
    assert output_text(at) == TINY.tokenizer.decode([t for t in best if t != EOT])


def test_step_mode_adds_exactly_one_token_per_click_and_matches_a_full_run():
    at = open_page("generate")
    at.radio(key="gen_strategy").set_value("sample").run()
    at.number_input(key="gen_seed").set_value(7)
    at.toggle(key="gen_step_mode").set_value(True)
    at.run()
    for clicks in (1, 2, 3, 4):
        at.button(key="gen_next").click().run()
        no_errors(at)
        assert metric(at, "Tokens") == str(clicks)
    four = output_text(at)
    at.toggle(key="gen_step_mode").set_value(False)
    at.slider(key="gen_max_new").set_value(4)
    at.run()
    at.button(key="gen_go").click().run()
    assert output_text(at) == four
    assert step_bars(at)["layout"]["title"]["text"].startswith("Step 4:")


SPECIAL_PROMPTS = {
    "empty": "",
    "whitespace": "   \n\t ",
    "huge": "x" * 100_000,
    "control": "\x00\x07abc\x1b[31m",
    "emoji": "🙂🎉👩‍👩‍👧",
    "mixed scripts": "Alice 喜欢 яблоки و التفاح",
    "invisible": "\u202e\u200b",
}
_PAGE = {}


@given(st_.one_of(st_.sampled_from(sorted(SPECIAL_PROMPTS)), st_.text(max_size=300)))
@settings(max_examples=14, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_prompt_gives_text_or_a_friendly_message_never_an_error(name_or_text):
    prompt = SPECIAL_PROMPTS.get(name_or_text, name_or_text)
    if "at" not in _PAGE:  # one page for all examples: opening it is the slow part
        _PAGE["at"] = open_page("generate")
        _PAGE["at"].slider(key="gen_max_new").set_value(4)
    at = _PAGE["at"]
    at.text_area(key="gen_prompt").set_value(prompt)
    at.run()
    at.button(key="gen_go").click().run()
    no_errors(at)
    assert len(at.code) == 1
    if not prompt.strip():
        assert any("new story" in i.value for i in at.info)
    if len(prompt) > 2_000:  # the server keeps max_chars; the model's context crops the rest
        assert any("only its last" in i.value for i in at.info)


def test_the_step_picker_shows_the_chosen_steps_alternatives():
    at = open_page("generate")
    generate_with(at, gen_max_new=5)
    ids = [EOT, *TINY.tokenizer.encode("Alice went to the park.")]
    steps = list(stream(TINY.model, ids, max_new_tokens=5, eos_id=EOT, top_alternatives=40))
    for pick in (1, 3):
        picker = next(s for s in at.slider if s.key.startswith("gen_pick_"))
        picker.set_value(pick).run()
        no_errors(at)
        figure = step_bars(at)
        assert figure["layout"]["title"]["text"].startswith(f"Step {pick}:")
        raw = figure["data"][0]["y"]
        assert max(raw) == max(steps[pick - 1].top_probs)


def test_confidence_curve_shows_each_chosen_tokens_probability():
    at = open_page("generate")
    generate_with(at, gen_prompt="我喜欢吃苹果。", gen_max_new=6)
    ids = [EOT, *TINY.tokenizer.encode("我喜欢吃苹果。")]
    steps = list(stream(TINY.model, ids, max_new_tokens=6, eos_id=EOT))
    curve = next(f for f in plotly_figures(at) if f["layout"]["title"]["text"].startswith("How"))
    raw, processed = curve["data"]
    assert raw["y"] == [s.raw_prob for s in steps]
    assert processed["y"] == [1.0] * len(steps)  # greedy: the chosen token is certain


def test_every_widget_bound_is_a_setting_lmkit_accepts():
    at = open_page("generate")
    at.radio(key="gen_strategy").set_value("sample").run()
    bounds = {
        w.key: (w.min, w.max) for kind in ("slider", "number_input") for w in getattr(at, kind)
    }
    for end in (0, 1):
        GenerationConfig(
            strategy="sample",
            temperature=bounds["gen_temperature"][end],
            top_k=int(bounds["gen_top_k"][end]) or None,
            top_p=bounds["gen_top_p"][end],
            repetition_penalty=bounds["gen_penalty"][end],
            max_new_tokens=int(bounds["gen_max_new"][end]),
            seed=int(bounds["gen_seed"][end]),
            num_beams=int(bounds["gen_beams"][end]),
        )
    assert bounds["gen_temperature"][0] > 0 and bounds["gen_top_k"][1] == TINY.tokenizer.vocab_size


@given(
    temperature=st_.floats(0.05, 2.0),
    top_k=st_.integers(0, 2048),
    top_p=st_.floats(0.05, 1.0),
    penalty=st_.floats(1.0, 2.0),
    seed=st_.integers(0, 2**31 - 1),
)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_sampling_settings_give_a_valid_distribution(temperature, top_k, top_p, penalty, seed):
    if "sampling" not in _PAGE:
        _PAGE["sampling"] = open_page("generate")
        _PAGE["sampling"].radio(key="gen_strategy").set_value("sample").run()
        _PAGE["sampling"].slider(key="gen_max_new").set_value(3).run()
    at = _PAGE["sampling"]
    at.slider(key="gen_temperature").set_value(round(temperature / 0.05) * 0.05)
    at.number_input(key="gen_top_k").set_value(top_k)
    at.slider(key="gen_top_p").set_value(round(top_p / 0.05) * 0.05)
    at.slider(key="gen_penalty").set_value(round(penalty / 0.05) * 0.05)
    at.number_input(key="gen_seed").set_value(seed)
    at.run()
    at.button(key="gen_go").click().run()
    no_errors(at)
    raw, processed = step_bars(at)["data"][:2]
    known = [p for p in processed["y"] if p is not None]
    assert all(0 <= p <= 1 for p in known) and sum(known) <= 1 + 1e-5
    assert sum(p for p in raw["y"] if p is not None) <= 1 + 1e-5


MARKDOWN_PROMPT = "![x](http://example.com/x.png) [click](http://example.com) :red[boo] **b**"


def test_the_prompt_is_shown_as_plain_text_not_markdown():
    # finding 11: the "Prompt:" caption rendered images, links and :red[] from the prompt
    at = generate_with(open_page("generate"), gen_prompt=MARKDOWN_PROMPT, gen_max_new=3)
    assert f"Prompt: {MARKDOWN_PROMPT}" in [t.value for t in at.text]
    rendered = [m.value for m in [*at.markdown, *at.caption]]
    assert not any("example.com" in m or ":red[boo]" in m for m in rendered), rendered


def test_the_prompt_of_a_beam_search_is_plain_text_too():
    at = open_page("generate")
    at.text_area(key="gen_prompt").set_value(MARKDOWN_PROMPT)
    at.radio(key="gen_strategy").set_value("beam").run()
    at.slider(key="gen_max_new").set_value(3).run()
    at.button(key="gen_beam_go").click().run()
    no_errors(at)
    assert f"Prompt: {MARKDOWN_PROMPT}" in [t.value for t in at.text]
    assert not any("example.com" in c.value for c in at.caption)


def test_out_of_range_settings_are_brought_back_to_the_widgets_bounds(monkeypatch):
    # finding 12: temperature or repetition penalty 1e-300 blamed the model for +inf logits.
    # A browser keeps a slider in its range; a hand-made request need not, so the page's
    # sliders are made to return what such a request could send.
    from streamlit.delta_generator import DeltaGenerator

    forced = {"gen_temperature": 1e-300, "gen_penalty": 1e-300, "gen_max_new": 10**9}
    slider = DeltaGenerator.slider

    def hostile_slider(self, *args, **kwargs):
        value = slider(self, *args, **kwargs)
        return forced.get(kwargs.get("key"), value)

    monkeypatch.setattr(DeltaGenerator, "slider", hostile_slider)
    at = open_page("generate")
    at.radio(key="gen_strategy").set_value("sample").run()
    at.button(key="gen_go").click().run()
    no_errors(at)
    notes = " ".join(i.value for i in at.info)
    assert "Temperature must be in 0.05…2; 1e-300 was replaced by 0.05" in notes
    assert "Repetition penalty must be in 1…2; 1e-300 was replaced by 1" in notes
    assert "Max new tokens must be in 1…200" in notes
    assert 1 <= int(metric(at, "Tokens")) <= 200


def test_an_instruction_model_gets_an_instruction_box_and_answers_in_the_template():
    at = open_page("generate")
    at.selectbox(key="gen_model").set_value("tiny-gpt-instruct").run()
    no_errors(at)
    assert any("template" in c.value for c in at.caption)
    assert at.text_input(key="gen_instruction").value == "Where did Alice go?"
    at.text_area(key="gen_prompt").set_value("Alice went to the park.").run()
    at.slider(key="gen_max_new").set_value(12).run()
    at.button(key="gen_go").click().run()
    no_errors(at)
    tuned = lmkit.load("tiny-gpt-instruct", device="cpu")
    prompt = "Instruction: Where did Alice go?\nInput: Alice went to the park.\nResponse: "
    ids = [EOT, *tuned.tokenizer.encode(prompt)]
    out = generate(tuned.model, ids, max_new_tokens=12, eos_id=EOT)[0, len(ids) :].tolist()
    assert output_text(at) == tuned.tokenizer.decode([t for t in out if t != EOT])
    # the plain story model keeps its plain prompt box
    at.selectbox(key="gen_model").set_value("tiny-gpt").run()
    assert not at.text_input and not any("template" in c.value for c in at.caption)
