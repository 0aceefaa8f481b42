"""Applications page: entities, answers, translation and an FAQ assistant (chapter 13).

Four tabs, one per application, each drawing a figure from :mod:`lmkit.viz.applications`:

- **Entities**: tiny-ner marks people, places and organisations
  (:func:`lmkit.tasks.ner.tag_entities`).
- **Questions**: tiny-qa finds the answer as a span of a text
  (:func:`lmkit.tasks.extractive_qa.answer_question`).
- **Translation**: tiny-seq2seq translates English ↔ Chinese, greedy or with beam search, and
  shows its cross-attention (:func:`lmkit.seq2seq.tasks.translate`).
- **FAQ assistant**: MiniLM semantic search over the built-in FAQ that says "I don't know"
  when even the closest question scores below a threshold.

Each tab is an ``st.fragment``: changing one tab's inputs reruns only that tab. Every model
call takes a work slot (:func:`common.work_slot`), so a classroom queues instead of stalling.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import common
import streamlit as st

from lmkit.data.faq import FAQ
from lmkit.errors import InputError
from lmkit.hub import BUILTIN_MODELS
from lmkit.tasks.semantic_search import SemanticIndex, faq_index
from lmkit.viz.applications import answer_span, cross_attention_heatmap, entity_spans, faq_matches

NER_MODEL, QA_MODEL, SEQ2SEQ_MODEL = "tiny-ner", "tiny-qa", "tiny-seq2seq"
# The tiny models read story-world text; each example is one they get right (tests check it).
NER_EXAMPLES = {
    "English": "Xiaohong was born in Shenzhen. She works at Golden Apple Company. "
    "On Saturday morning, she went to the cinema with Liu Yang.",
    "Chinese · 中文": "格蕾丝在阳光中学上学。星期天晚上，她和玲玲一起下了棋。后来，她们去了北京。",
}
NER_TEXT_KEY = "applications_ner_text"
QA_CONTEXT = (
    "It was warm on Thursday evening. Peter went to the farm. Then, he saw a brown horse "
    "there. The brown horse was very fat. Peter played with the horse for a while."
)
QA_QUESTION = "Where did Peter go?"
DIRECTIONS = {"en-zh": "English → Chinese", "zh-en": "Chinese → English"}
TRANSLATE_EXAMPLES = {
    "en-zh": "After lunch, Anna cooked a bowl of noodles for Sam.",
    "zh-en": "然后，鲍勃在那里看见了一只白色的鹅。",
}
FAQ_EXAMPLE = "Is an internet connection required to use lmkit?"
# MiniLM cosine scores of the best match, measured on a few tries: off-topic questions ("What
# is the capital of France?", "How do I bake bread?") 0.09–0.13; paraphrases 0.36–0.78.
FAQ_THRESHOLD = 0.3
MAX_NER_CHARS = 1_000  # a few paragraphs: the figure stays readable
MAX_CONTEXT_CHARS = 2_000
MAX_QUESTION_CHARS = 200
MAX_TRANSLATE_CHARS = 300  # tiny-seq2seq reads about two short paragraphs at most
TRANSLATE_TEXT_KEY = "applications_translate_text"


def _installed(name: str) -> bool:
    """True if the built-in model's files are present; otherwise say how to get them."""
    info = BUILTIN_MODELS.get(name)
    if info is not None and info.path.is_dir():
        return True
    st.warning(
        f"The built-in model {name} is not installed, so this tab cannot run. Reinstall lmkit, "
        f"or rebuild it with `python -m lmkit.recipes.{name.replace('-', '_')}`."
    )
    return False


@contextlib.contextmanager
def _model_work(action: str) -> Iterator[None]:
    """Run one tab's model call in a work slot, with friendly messages for whatever goes wrong.

    Input the model cannot take (too long for tiny-seq2seq, a question that leaves no room for
    the text) is the visitor's to fix: a warning saying how, not an error box.
    """
    with common.guarded(action), common.work_slot(action):
        try:
            yield
        except InputError as exc:
            st.warning(str(exc))


def _limit_hint(max_chars: int) -> str:
    return f"at most {max_chars:,} characters are used"


def _cleaned(raw: str | None, max_chars: int, empty_message: str):
    """The visitor's text, cleaned and cut to ``max_chars`` (with a notice); None if empty."""
    cleaned = common.clean_text(raw, max_chars=max_chars)
    common.show_notes(cleaned)
    if cleaned.empty:
        st.info(empty_message)
        return None
    return cleaned.text


def _use_ner_example() -> None:
    st.session_state[NER_TEXT_KEY] = NER_EXAMPLES[st.session_state["applications_ner_example"]]


@st.fragment
def entities_tab() -> None:
    st.write(
        "**Named-entity recognition** labels every word, and the labels become spans: "
        "`B-PER` starts a person, `I-PER` continues one, `O` is outside every entity. "
        "tiny-ner is tiny-bert with a LoRA adapter, trained on story-world text in English "
        "and Chinese; real-world names it has never seen, and Chinese written after English "
        "in one text, are harder for it."
    )
    st.selectbox(
        "Start from an example", list(NER_EXAMPLES), key="applications_ner_example",
        on_change=_use_ner_example,
    )  # fmt: skip
    if NER_TEXT_KEY not in st.session_state:
        st.session_state[NER_TEXT_KEY] = NER_EXAMPLES["English"]
    raw = st.text_area("Text", key=NER_TEXT_KEY, help=_limit_hint(MAX_NER_CHARS))
    text = _cleaned(
        raw, MAX_NER_CHARS, "Type a text above to find its people, places and organisations."
    )
    if text is None or not _installed(NER_MODEL):
        return
    with _model_work("finding entities"):
        from lmkit.tasks.ner import tag_entities

        loaded = common.load_builtin(NER_MODEL)
        spans = tag_entities(loaded.model, loaded.tokenizer, text)
        st.plotly_chart(entity_spans(text, spans), key="applications_ner_figure")
        if not spans:
            st.info("No people, places or organisations found in this text.")
        else:
            st.dataframe(
                [{"entity": s.text, "type": s.label, "score": round(s.score, 3),
                  "characters": f"{s.start}–{s.end}"} for s in spans],
                hide_index=True, key="applications_ner_table",
            )  # fmt: skip


@st.fragment
def questions_tab() -> None:
    st.write(
        "**Extractive question answering**: the answer is a piece of the text. tiny-qa reads "
        "the question and the text together and scores every token as the answer's start and "
        "as its end; the best pair wins, and its score is P(start) × P(end)."
    )
    raw_context = st.text_area(
        "Text", value=QA_CONTEXT, key="applications_qa_context",
        help=_limit_hint(MAX_CONTEXT_CHARS),
    )  # fmt: skip
    raw_question = st.text_input("Question", value=QA_QUESTION, key="applications_qa_question")
    context = _cleaned(raw_context, MAX_CONTEXT_CHARS, "Paste a text above to ask about it.")
    question = _cleaned(raw_question, MAX_QUESTION_CHARS, "Type a question about the text.")
    if context is None or question is None or not _installed(QA_MODEL):
        return
    with _model_work("answering the question"):
        from lmkit.tasks.extractive_qa import answer_question

        loaded = common.load_builtin(QA_MODEL)
        answer = answer_question(loaded.model, loaded.tokenizer, question, context)
        st.success(f"**{answer.text}** (score {answer.score:.3f})")
        if answer.score < 0.1:
            st.caption("A low score: the model is unsure, and the text may not hold the answer.")
        st.plotly_chart(answer_span(context, answer), key="applications_qa_figure")


def _use_direction_example() -> None:
    direction = st.session_state["applications_translate_direction"]
    st.session_state[TRANSLATE_TEXT_KEY] = TRANSLATE_EXAMPLES[direction]


@st.fragment
def translation_tab() -> None:
    st.write(
        "**Translation** with an encoder–decoder Transformer: the encoder reads the whole "
        "source sentence, the decoder writes the translation token by token and, through "
        "*cross-attention*, looks back at the source for each one. tiny-seq2seq knows the "
        "story world's words only."
    )
    left, right = st.columns([2, 1])
    direction = left.radio(
        "Direction", list(DIRECTIONS), format_func=DIRECTIONS.__getitem__, horizontal=True,
        key="applications_translate_direction", on_change=_use_direction_example,
    )  # fmt: skip
    beam_size = right.slider(
        "Beam size", 1, 8, 1, key="applications_translate_beam",
        help="1 is greedy decoding; a wider beam keeps more candidate translations.",
    )  # fmt: skip
    if TRANSLATE_TEXT_KEY not in st.session_state:
        st.session_state[TRANSLATE_TEXT_KEY] = TRANSLATE_EXAMPLES[direction]
    raw = st.text_area(
        "Source text", key=TRANSLATE_TEXT_KEY,
        help=_limit_hint(MAX_TRANSLATE_CHARS),
    )  # fmt: skip
    text = _cleaned(raw, MAX_TRANSLATE_CHARS, "Type a sentence above to translate it.")
    if text is None or not _installed(SEQ2SEQ_MODEL):
        return
    with _model_work("translating"):
        from lmkit.seq2seq.tasks import translate

        loaded = common.load_builtin(SEQ2SEQ_MODEL)
        result = translate(loaded.model, loaded.tokenizer, text, direction, beam_size=beam_size)
        if not result.text.strip():
            st.warning("The model wrote nothing for this text; try a story-world sentence.")
        else:
            st.success(result.text)
        st.caption(f"log-probability {result.score:.2f} · {len(result.target_tokens)} tokens")
        if result.target_tokens:
            st.plotly_chart(
                cross_attention_heatmap(
                    result.source_tokens, result.target_tokens, result.cross_attention
                ),
                key="applications_translate_figure",
            )


@st.cache_resource(show_spinner="Embedding the FAQ with MiniLM (once per server)…")
def _faq_index() -> SemanticIndex:
    return faq_index()


@st.fragment
def faq_tab() -> None:
    st.write(
        f"An **FAQ assistant** built on semantic search: your question is compared with the "
        f"{len(FAQ)} questions of lmkit's FAQ by MiniLM sentence embeddings. If even the "
        "closest one scores below the threshold, it says it does not know instead of "
        "answering something unrelated. MiniLM is an English model."
    )
    raw = st.text_input("Your question", value=FAQ_EXAMPLE, key="applications_faq_query")
    left, right = st.columns(2)
    threshold = left.slider(
        "\"I don't know\" below this cosine score", 0.0, 1.0, FAQ_THRESHOLD, 0.05,
        key="applications_faq_threshold",
    )  # fmt: skip
    k = right.slider("Matches shown", 1, 10, 3, key="applications_faq_k")
    query = _cleaned(raw, MAX_QUESTION_CHARS, "Type a question above to ask the FAQ.")
    if query is None:
        return
    with _model_work("searching the FAQ"):
        hits = _faq_index().search(query, k=int(k))
        best = hits[0]
        if best.score >= threshold:
            entry = FAQ[best.index]
            st.success(f"**{entry.question}**\n\n{entry.answer}")
        else:
            st.warning(
                f"I don't know: the closest FAQ question scores {best.score:.2f}, below the "
                f"threshold of {threshold:.2f}. Try asking in other words, or lower the threshold."
            )
        questions = [FAQ[hit.index].question for hit in hits]
        st.plotly_chart(
            faq_matches(questions, [hit.score for hit in hits], threshold),
            key="applications_faq_figure",
        )


st.title("🧰 Applications")
st.write(
    "Chapter 13's models at work. Each tab runs as you type; the figures show what the model "
    "found and where in the text it found it."
)
entities, questions, translation, faq = st.tabs(
    ["Entities", "Questions", "Translation EN ↔ ZH", "FAQ assistant"]
)
with entities:
    entities_tab()
with questions:
    questions_tab()
with translation:
    translation_tab()
with faq:
    faq_tab()
