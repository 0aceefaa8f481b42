"""lmkit.tasks.ner: BIO tags from spans and back, first-sub-word labels, span scores equal to
seqeval's, and tag_entities' guards and windows."""

from __future__ import annotations

import random

import pytest
import torch
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities

from lmkit.bert.model import BertConfig
from lmkit.bert.task_heads import BertForTokenClassification
from lmkit.errors import InputError
from lmkit.hub import load
from lmkit.tasks.ner import (
    IGNORE_INDEX,
    EntitySpan,
    align_labels,
    bio_labels,
    bio_tag_set,
    span_prf,
    spans_from_bio,
    tag_entities,
)
from lmkit.tasks.token_offsets import encode_with_offsets, word_spans, word_starts

TAGS = bio_tag_set(("PER", "LOC", "ORG"))


@pytest.fixture(scope="module")
def tokenizer():
    return load("tiny-bert", device="cpu").tokenizer


def test_offsets_cover_the_text_without_leading_spaces(tokenizer):
    text = "Zhao Lei went to 北京 with Anna."
    ids, offsets = encode_with_offsets(tokenizer, text)
    assert tokenizer.decode(ids) == text
    pieces = [text[s:e] for s, e in offsets]
    assert "".join(pieces) == text.replace(" ", "")
    assert "北" in pieces and "京" in pieces  # one Chinese character per token


def test_first_subword_rule_on_a_hand_checked_sentence(tokenizer):
    text = "Zhao Lei met Xiaoming."
    spans = [(0, 8, "PER"), (13, 21, "PER")]
    ids, offsets = encode_with_offsets(tokenizer, text)
    starts = word_starts(text, offsets)
    firsts, words = word_spans(offsets, starts)
    assert [text[s:e] for s, e in words] == ["Zhao", "Lei", "met", "Xiaoming", "."]
    labels = align_labels(offsets, starts, spans, {t: i for i, t in enumerate(TAGS)})
    scored = [TAGS[label] for label in labels if label != IGNORE_INDEX]
    assert scored == ["B-PER", "I-PER", "O", "B-PER", "O"]
    # every piece after the first of a word is -100
    assert sum(label != IGNORE_INDEX for label in labels) == 5 and len(labels) == len(ids)
    assert bio_labels(offsets, spans)[firsts[3]] == "B-PER"


def test_bio_labels_on_hand_made_offsets():
    offsets = [(0, 3), (4, 7), (7, 9), (10, 12), (12, 12)]  # the last one is whitespace
    assert bio_labels(offsets, [(4, 9, "LOC")]) == ["O", "B-LOC", "I-LOC", "O", "O"]


def test_chinese_characters_are_words(tokenizer):
    text = "张伟去了上海。"
    _, offsets = encode_with_offsets(tokenizer, text)
    starts = word_starts(text, offsets)
    _, words = word_spans(offsets, starts)
    assert [text[s:e] for s, e in words] == list(text)


def _random_tags(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(TAGS) for _ in range(n)]  # includes invalid I- after O on purpose


def test_spans_from_bio_reads_tags_like_seqeval():
    rng = random.Random(0)
    for _ in range(300):
        tags = _random_tags(rng, rng.randint(1, 12))
        ours = spans_from_bio(tags, [(i, i + 1) for i in range(len(tags))])
        theirs = [(s, e + 1, label) for label, s, e in get_entities(tags)]
        assert sorted(ours) == sorted(theirs), tags


def test_span_prf_equals_seqeval_on_random_tags():
    rng = random.Random(1)
    for _ in range(40):
        gold_tags = [_random_tags(rng, rng.randint(1, 10)) for _ in range(rng.randint(1, 6))]
        pred_tags = [
            [t if rng.random() < 0.6 else rng.choice(TAGS) for t in seq] for seq in gold_tags
        ]

        def spans(seqs):
            return [spans_from_bio(s, [(i, i + 1) for i in range(len(s))]) for s in seqs]

        ours = span_prf(spans(gold_tags), spans(pred_tags))
        args = dict(zero_division=0)
        assert ours["precision"] == pytest.approx(precision_score(gold_tags, pred_tags, **args))
        assert ours["recall"] == pytest.approx(recall_score(gold_tags, pred_tags, **args))
        assert ours["f1"] == pytest.approx(f1_score(gold_tags, pred_tags, **args))
        report = classification_report(gold_tags, pred_tags, output_dict=True, **args)
        for label, row in report.items():
            if label in ("micro avg", "macro avg", "weighted avg"):
                continue
            mine = ours["per_label"][label]
            for key in ("precision", "recall", "f1"):
                assert mine[key] == pytest.approx(row[key if key != "f1" else "f1-score"])
            assert mine["support"] == row["support"]


def test_span_prf_hand_worked():
    gold = [[(0, 3, "PER"), (10, 15, "LOC")], [(2, 4, "ORG")]]
    pred = [[(0, 3, "PER"), (10, 14, "LOC")], [(2, 4, "ORG"), (6, 8, "PER")]]
    scores = span_prf(gold, pred)
    assert (scores["precision"], scores["recall"]) == (0.5, 2 / 3)
    assert scores["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert scores["per_label"]["LOC"]["recall"] == 0.0 and scores["per_label"]["ORG"]["f1"] == 1.0
    with pytest.raises(InputError, match="pair them up"):
        span_prf(gold, pred[:1])


def test_bad_tags_are_clear_errors():
    with pytest.raises(InputError, match="Unknown tag"):
        spans_from_bio(["B-PER", "X"], [(0, 1), (1, 2)])
    with pytest.raises(InputError, match="offsets"):
        spans_from_bio(["O"], [])


@pytest.fixture(scope="module")
def random_tagger():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=2048, max_position=16, n_layer=1, n_head=2, n_embd=16,
                        intermediate=32, pad_id=2044, dropout=0.0, labels=TAGS)  # fmt: skip
    return BertForTokenClassification(config).eval()


def test_tag_entities_guards_and_windows(random_tagger, tokenizer):
    assert tag_entities(random_tagger, tokenizer, "") == []
    assert tag_entities(random_tagger, tokenizer, "   \n") == []
    with pytest.raises(InputError, match="string"):
        tag_entities(random_tagger, tokenizer, None)
    long_text = " ".join(["Tom went to Beijing with Anna."] * 10)  # far more than 16 tokens
    found = tag_entities(random_tagger, tokenizer, long_text)
    for entity in found:
        assert isinstance(entity, EntitySpan) and entity.label in ("PER", "LOC", "ORG")
        assert long_text[entity.start : entity.end] == entity.text and 0 < entity.score <= 1
