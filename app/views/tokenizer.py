"""Tokenizer page: one text, three tokenizers (characters, tiny-gpt's BPE, MiniLM's WordPiece).

Every token is a coloured box with its id underneath; a bar chart compares the token counts.
The ids in the boxes are exactly ``tokenizer.encode(text)``.
"""

from __future__ import annotations

import common
import streamlit as st

from lmkit.tokenizers import HFTokenizer
from lmkit.tokenizers.compare import compare_tokenizers, story_char_tokenizer
from lmkit.viz.tokens import token_boxes, token_count_bar

MAX_BOXES = 300  # more boxes than this make the figure slow to draw in a browser
EXAMPLES = {
    "English": "The children played in the park. Tokenization isn't magic!",
    "Chinese": "我喜欢吃苹果。小猫在花园里玩。",
    "Mixed + emoji": "Anna 喜欢 apples 🍎 and naïve café-style cakes 🎂!",
}
NAMES = {
    "char": "Characters (story-world vocabulary)",
    "bpe": "Byte-level BPE (tiny-gpt)",
    "wordpiece": "WordPiece (MiniLM)",
}
TEXT_KEY = "tokenizer_text"


@st.cache_resource(show_spinner="Loading the tokenizers (once per server)…")
def _tokenizers() -> dict:
    return {
        NAMES["char"]: story_char_tokenizer(),
        NAMES["bpe"]: common.load_builtin("tiny-gpt").tokenizer,
        NAMES["wordpiece"]: HFTokenizer.minilm(),
    }


def _use_example() -> None:
    st.session_state[TEXT_KEY] = EXAMPLES[st.session_state["tokenizer_example"]]


st.title("🧩 Tokenizer")
st.write(
    "A model never sees letters, only token ids. Type a text and compare how three tokenizers "
    "cut it: one token per **character**, tiny-gpt's **byte-level BPE** (learned merges of "
    "UTF-8 bytes, so nothing is ever unknown), and MiniLM's English **WordPiece** (lower-cased "
    "word pieces; `##` marks a piece that continues a word, `[UNK]` a character it does not know)."
)
st.selectbox(
    "Start from an example",
    list(EXAMPLES),
    key="tokenizer_example",
    on_change=_use_example,
)
if TEXT_KEY not in st.session_state:
    st.session_state[TEXT_KEY] = EXAMPLES["Mixed + emoji"]
raw = st.text_area("Text to tokenize", key=TEXT_KEY, help=common.CHAR_LIMIT_HINT)
cleaned = common.clean_text(raw)
common.show_notes(cleaned)

if cleaned.empty:
    st.info("Type some text above to see its tokens.")
else:
    with common.guarded("tokenizing the text"), common.work_slot("tokenizing"):
        results = compare_tokenizers(cleaned.text, _tokenizers())
        counts = {result.name: result.count for result in results}
        st.plotly_chart(
            token_count_bar({"your text": counts}, title="Tokens needed for this text"),
            key="tokenizer_counts",
        )
        columns = st.columns(len(results))
        for column, result in zip(columns, results, strict=True):
            column.metric(result.name, f"{result.count} tokens")
            column.caption(f"{len(cleaned.text)} characters · {len(result.ids)} ids")
        for index, result in enumerate(results):
            st.subheader(result.name)
            shown = min(result.count, MAX_BOXES)
            if result.count > MAX_BOXES:
                st.info(f"Showing the first {MAX_BOXES} of {result.count} tokens.")
            if result.unknown:
                st.warning(
                    f"{result.unknown} of {result.count} tokens are the unknown token: this "
                    "tokenizer has no piece for those characters, so the model cannot tell "
                    "them apart."
                )
            st.plotly_chart(
                token_boxes(result.pieces[:shown], list(result.ids[:shown]), title=result.name),
                key=f"tokenizer_boxes_{index}",
            )
            with st.expander("Token ids"):
                st.code(str(list(result.ids)), language=None, wrap_lines=True)
