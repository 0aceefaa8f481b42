"""Embeddings page: semantic search over the built-in FAQ with MiniLM sentence embeddings.

The FAQ's questions are embedded once per server (``st.cache_resource``); a query is embedded
on each search, compared by cosine similarity, and placed on a 2-D PCA map of the FAQ.
"""

from __future__ import annotations

import common
import streamlit as st

from lmkit.data.faq import FAQ
from lmkit.tasks.semantic_search import SemanticIndex, faq_index
from lmkit.viz.search import search_map, search_scores_bar

DEFAULT_QUERY = "Can I use lmkit without the internet?"
MAX_QUERY_CHARS = 500  # a search query, not an essay


@st.cache_resource(show_spinner="Embedding the FAQ with MiniLM (once per server)…")
def _faq_index() -> SemanticIndex:
    return faq_index()


st.title("🧭 Embeddings")
st.write(
    f"MiniLM turns a sentence into a 384-number vector; sentences that mean the same point the "
    f"same way. Ask a question in your own words: it is compared with the {len(FAQ)} questions "
    "of a small FAQ about language models by **cosine similarity**, so a paraphrase finds the "
    "answer even without shared words. MiniLM is an English model."
)
left, right = st.columns([4, 1])
raw = left.text_input("Your question", value=DEFAULT_QUERY, key="embeddings_query")
k = right.number_input("Results", min_value=1, max_value=10, value=5, key="embeddings_k")
cleaned = common.clean_text(raw, max_chars=MAX_QUERY_CHARS)
common.show_notes(cleaned)

if cleaned.empty:
    st.info("Type a question above to search the FAQ.")
else:
    with common.guarded("searching the FAQ"), common.work_slot("the search"):
        index = _faq_index()
        hits = index.search(cleaned.text, k=int(k))
        query_point = index.project(cleaned.text)
        best = FAQ[hits[0].index]
        st.success(f"**{best.question}**\n\n{best.answer}")
        st.plotly_chart(
            search_scores_bar([FAQ[h.index].question for h in hits], [h.score for h in hits]),
            key="embeddings_scores",
        )
        st.dataframe(
            [
                {
                    "rank": rank,
                    "cosine": round(hit.score, 4),
                    "question": FAQ[hit.index].question,
                    "answer": FAQ[hit.index].answer,
                    "topic": FAQ[hit.index].topic,
                }
                for rank, hit in enumerate(hits, start=1)
            ],
            hide_index=True,
            key="embeddings_table",
        )
        explained = index.explained.tolist()
        st.plotly_chart(
            search_map(
                index.points,
                [entry.question for entry in FAQ],
                [entry.topic for entry in FAQ],
                query_point,
                cleaned.text,
                highlight=[h.index for h in hits],
                axis_titles=(
                    f"PC 1 ({explained[0]:.0%} of variance)",
                    f"PC 2 ({explained[1]:.0%} of variance)",
                ),
            ),
            key="embeddings_map",
        )
        st.caption(
            "The map squeezes 384 dimensions into 2, so it keeps only "
            f"{sum(explained):.0%} of the spread: trust the cosine scores, not the distances "
            "on the map. Lines join your query to its top results."
        )
