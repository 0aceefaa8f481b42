"""Chapter 13 exercises: answers from lmkit and from the reference libraries (seqeval's
conventions via lmkit.tasks.ner, rouge-score, scikit-learn) pass; typical slips get the feedback
designed for them."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from exercise_asserts import fails_with

from lmkit.exercises import check
from lmkit.tasks.extractive_qa import best_span, token_f1
from lmkit.tasks.ner import bio_labels


def _bio(offsets, spans, *, all_b=False, io=False, blanks=False):
    tags = ["O"] * len(offsets)
    for start, end, label in spans:
        inside = [i for i, (s, e) in enumerate(offsets) if (s < e or blanks) and start <= s < end]
        for k, i in enumerate(inside):
            first = (k == 0 and not io) or all_b
            tags[i] = ("B-" if first else "I-") + label
    return tags


def test_bio_labels():
    assert check("ch13.bio_labels", bio_labels, seed=0, quiet=True)
    assert check("ch13.bio_labels", _bio, seed=3, quiet=True)
    fails_with("ch13.bio_labels", lambda o, s: _bio(o, s, all_b=True), "only its first token")
    fails_with("ch13.bio_labels", lambda o, s: _bio(o, s, io=True), "beginning")
    fails_with("ch13.bio_labels", lambda o, s: _bio(o, s, blanks=True), "whitespace-only")
    fails_with("ch13.bio_labels", lambda o, s: [t[0] for t in _bio(o, s)], "no entity type")


def _pairs(s, e, m, *, inclusive=False):
    n = len(s)
    scores = s[:, None] + e[None, :]
    i, j = torch.arange(n)[:, None], torch.arange(n)[None, :]
    longest = m + 1 if inclusive else m
    scores = scores.masked_fill((j < i) | (j - i >= longest), float("-inf"))
    flat = int(scores.argmax())
    return flat // n, flat % n


def test_best_span_matches_lmkit_and_names_slips():
    assert check("ch13.best_span", lambda s, e, m: best_span(s, e, m)[:2], seed=0, quiet=True)
    assert check("ch13.best_span", _pairs, seed=5, quiet=True)
    fails_with("ch13.best_span", lambda s, e, m: (int(s.argmax()), int(e.argmax())), "separate")
    fails_with("ch13.best_span", lambda s, e, m: _pairs(s, e, m, inclusive=True), "too many")
    fails_with(
        "ch13.best_span", lambda s, e, m: (_pairs(s, e, m)[0], _pairs(s, e, m)[1] + 1), "exclusive"
    )


def test_rouge_l_matches_rouge_score_and_names_slips():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL", "rouge1"])

    def with_rouge_score(candidate, reference, kind="rougeL", field="fmeasure"):
        scores = scorer.score(" ".join(reference), " ".join(candidate))
        return getattr(scores[kind], field)

    assert check("ch13.rouge_l", with_rouge_score, seed=0, quiet=True)
    assert check("ch13.rouge_l", with_rouge_score, seed=9, quiet=True)
    fails_with("ch13.rouge_l", lambda c, r: with_rouge_score(c, r, field="recall"), "recall")
    fails_with("ch13.rouge_l", lambda c, r: with_rouge_score(c, r, "rouge1"), "ROUGE-1")


def test_recall_at_k_matches_scikit_learn_and_names_slips():
    metrics = pytest.importorskip("sklearn.metrics")

    def with_sklearn(scores, gold, k):
        labels = list(range(scores.shape[1]))
        return float(metrics.top_k_accuracy_score(gold.numpy(), scores.numpy(), k=k, labels=labels))

    assert check("ch13.recall_at_k", with_sklearn, seed=0, quiet=True)

    def hits(scores, gold, k, largest=True):
        top = scores.topk(k, dim=1, largest=largest).indices
        return float((top == gold[:, None]).any(dim=1).sum())

    fails_with("ch13.recall_at_k", lambda s, g, k: hits(s, g, k, False) / len(g), "LOWEST")
    fails_with("ch13.recall_at_k", lambda s, g, k: hits(s, g, k) / (len(g) * k), "queries × k")
    fails_with("ch13.recall_at_k", lambda s, g, k: hits(s, g, 1) / len(g), "recall@1")


def test_zh_token_f1():
    prediction, truth = "在北京的公园里", "北京公园"
    assert check("ch13.zh_token_f1", token_f1(prediction, truth), quiet=True)
    shared = sum((Counter(prediction) & Counter(truth)).values())
    p, r = shared / len(prediction), shared / len(truth)
    assert check("ch13.zh_token_f1", 2 * p * r / (p + r), quiet=True)
    fails_with("ch13.zh_token_f1", 0.0, "every character is a token")
    fails_with("ch13.zh_token_f1", p, "precision only")
    fails_with("ch13.zh_token_f1", (p + r) / 2, "arithmetic mean")
