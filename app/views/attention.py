"""Attention page: every head of every layer, for our GPT, our BERT and the real MiniLM encoder.

Three views of one text: a single head (layer and head selectors), all heads of a layer side by
side, and, for GPT models, where each generated token looked while it was being chosen.
"""

from __future__ import annotations

import common
import streamlit as st

from lmkit.hub import model_info
from lmkit.tasks.attention_maps import (
    AttentionMaps,
    GenerationAttention,
    attention_maps,
    generation_attention,
)
from lmkit.viz import attention_grid, attention_heatmap
from lmkit.viz.attention_flow import generation_attention_heatmap
from lmkit.viz.tokens import plotly_text

# The kinds whose models have attention maps to show, in menu order, and how the menu names them.
KINDS_SHOWN = ("causal-lm", "masked-lm", "encoder")
KIND_LABELS = {
    "causal-lm": "GPT, reads left to right",
    "masked-lm": "BERT-style",
    "encoder": "pretrained encoder",
    "classifier": "classifier",
}
DEFAULT_TEXT = "Anna cooked a cake for Jack. He said thank you to Anna."
SHOWN_TOKENS = (8, 128, 48)  # slider: min, max, default tokens drawn
MEAN = "mean of all heads"
GENERATION_KEY = "attention_generation_result"


def _models() -> list[str]:
    return [name for kind in KINDS_SHOWN for name in common.model_names(kind)]


def _describe(name: str) -> str:
    return f"{name} ({KIND_LABELS[model_info(name).kind]})"


@st.cache_data(max_entries=16, ttl=900, show_spinner=False)  # MiniLM maps: up to ~5 MB each
def _maps(model_name: str, text: str, max_tokens: int) -> AttentionMaps:
    return attention_maps(common.load_builtin(model_name), text, max_tokens=max_tokens)


def _tokens(maps_tokens: tuple[str, ...]) -> list[str]:
    # plotly reads tick labels as HTML: "<|endoftext|>" must be escaped to show at all.
    return [plotly_text(token) for token in maps_tokens]


def _single_head(maps: AttentionMaps, model_name: str) -> None:
    left, right = st.columns(2)
    layer = left.selectbox("Layer", range(maps.n_layers), key=f"attention_layer_{model_name}")
    head = right.selectbox("Head", range(maps.n_heads), key=f"attention_head_{model_name}")
    fig = attention_heatmap(
        maps.head(layer, head), _tokens(maps.tokens), title=f"Layer {layer}, head {head}"
    )
    side = 16 * len(maps.tokens) + 220
    # Room above the map for the title, the top axis title and the token labels.
    fig.update_layout(
        height=max(460, side),
        width=max(520, side + 80),
        margin={"t": 160},
        title={"y": 0.99, "yanchor": "top"},
    )
    st.plotly_chart(fig, key="attention_head_map", width="content")
    if maps.causal:
        st.caption(
            "Everything above the diagonal is 0: a GPT token can only look at itself and "
            "earlier tokens."
        )


def _all_heads(maps: AttentionMaps, model_name: str) -> None:
    layer = st.selectbox(
        "Layer for the grid", range(maps.n_layers), key=f"attention_grid_layer_{model_name}"
    )
    st.plotly_chart(
        attention_grid(
            maps.layer(layer),
            _tokens(maps.tokens),
            title=f"All {maps.n_heads} heads of layer {layer}",
        ),
        key="attention_grid",
    )
    st.caption("Hover a cell to see which query and key it links.")


def _generation(model_name: str, text: str) -> None:
    st.write(
        "The model writes new tokens one by one. Each row shows, for one new token, how the "
        "position that chose it spread its attention over the prompt and the tokens written so far."
    )
    left, right = st.columns(2)
    n_new = left.slider("New tokens", 1, 40, 12, key="attention_new_tokens")
    strategy = right.radio(
        "Choice", ["greedy", "sample"], horizontal=True, key="attention_strategy"
    )
    if st.button("Generate and trace attention", type="primary", key="attention_generate"):
        with common.guarded("generating"), common.work_slot("generation"):
            result = generation_attention(
                common.load_builtin(model_name), text, max_new_tokens=n_new, strategy=strategy
            )
            st.session_state[GENERATION_KEY] = (model_name, text, result)
    stored = st.session_state.get(GENERATION_KEY)
    if not stored or stored[:2] != (model_name, text):
        return
    result: GenerationAttention = stored[2]
    for note in result.notes:
        st.info(note)
    st.markdown("**Generated:**")
    st.text(result.text or "(only the end-of-text token)")  # plain text: no markdown from a model
    if not result.text:
        st.info(
            "The model ended the story at once. End your text mid-sentence (for example "
            "*Anna went to the*) to watch it write more."
        )
    n_layers, n_heads = result.attentions.shape[:2]
    left, right = st.columns(2)
    layer = left.selectbox("Layer", range(n_layers), key=f"attention_gen_layer_{model_name}")
    head = right.selectbox("Head", [MEAN, *range(n_heads)], key=f"attention_gen_head_{model_name}")
    weights = result.mean_over_heads(layer) if head == MEAN else result.head(layer, head)
    fig = generation_attention_heatmap(
        weights,
        result.tokens,
        result.prompt_length,
        title=f"Where each generated token looked (layer {layer}, {head if head == MEAN else f'head {head}'})",
    )
    st.plotly_chart(fig, key="attention_generation_map")


st.title("🔍 Attention")
st.write(
    "Each attention head decides, for every token, which other tokens to read from. Row *i* of "
    "a map is token *i* (the query); the colour of a column says how much it read from that "
    "token (the key). Rows sum to 1."
)
models = _models()
model_name = st.selectbox("Model", models, format_func=_describe, key="attention_model")
st.caption(model_info(model_name).description)
raw = st.text_area("Text", value=DEFAULT_TEXT, key="attention_text", help=common.CHAR_LIMIT_HINT)
max_tokens = st.slider(
    "Tokens to show at most",
    SHOWN_TOKENS[0],
    SHOWN_TOKENS[1],
    SHOWN_TOKENS[2],
    key="attention_max_tokens",
    help="Longer texts are cut (with a notice); large maps are slow to draw.",
)
cleaned = common.clean_text(raw)
common.show_notes(cleaned)

if cleaned.empty:
    st.info("Type a sentence above to see its attention maps.")
else:
    maps = None
    with common.guarded("computing attention maps"), common.work_slot("the attention maps"):
        maps = _maps(model_name, cleaned.text, max_tokens)
    if maps is not None:
        for note in maps.notes:
            st.info(note)
        st.caption(
            f"{len(maps.tokens)} tokens · {maps.n_layers} layers × {maps.n_heads} heads · "
            + ("causal (GPT)" if maps.causal else "bidirectional (encoder)")
        )
        tab_names = ["One head", "All heads of a layer"]
        is_gpt = model_info(model_name).kind == "causal-lm"
        if is_gpt:
            tab_names.append("While generating")
        tabs = st.tabs(tab_names)
        with tabs[0]:
            _single_head(maps, model_name)
        with tabs[1]:
            _all_heads(maps, model_name)
        if is_gpt:
            with tabs[2]:
                _generation(model_name, cleaned.text)
