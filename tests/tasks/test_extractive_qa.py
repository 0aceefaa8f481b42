"""lmkit.tasks.extractive_qa: best_span against brute force, SQuAD-style EM/F1 on hand-worked
examples (English and Chinese), the packed input and the guards."""

from __future__ import annotations

import random

import pytest
import torch

from lmkit.bert.model import BertConfig
from lmkit.bert.task_heads import BertForQuestionAnswering
from lmkit.errors import InputError
from lmkit.hub import load
from lmkit.tasks.extractive_qa import (
    Answer,
    answer_question,
    best_span,
    encode_qa,
    exact_match,
    normalize_answer,
    qa_windows,
    token_f1,
)


def _brute_force(start, end, limit, allowed):
    best = None
    for i in range(len(start)):
        for j in range(i, min(len(start), i + limit)):
            if allowed[i] and allowed[j]:
                score = float(start[i] + end[j])
                if best is None or score > best[2]:
                    best = (i, j, score)
    return best


def test_best_span_equals_brute_force():
    rng = random.Random(0)
    for trial in range(200):
        n = rng.randint(1, 20)
        gen = torch.Generator().manual_seed(trial)
        start, end = torch.randn(n, generator=gen), torch.randn(n, generator=gen)
        allowed = torch.tensor([rng.random() < 0.7 for _ in range(n)])
        if not allowed.any():
            allowed[rng.randrange(n)] = True
        limit = rng.randint(1, 6)
        i, j, score = best_span(start, end, limit, allowed)
        bi, bj, bscore = _brute_force(start, end, limit, allowed)
        assert (i, j) == (bi, bj) and score == pytest.approx(bscore)


def test_best_span_respects_order_and_guards():
    start = torch.tensor([0.0, 0.0, 5.0, 0.0])
    end = torch.tensor([9.0, 0.0, 0.0, 1.0])  # the best end lies before the best start
    assert best_span(start, end, 4)[:2] == (0, 0)  # 0 + 9 beats 5 + 1
    assert best_span(start, end, 4, torch.tensor([0, 1, 1, 1]))[:2] == (2, 3)
    with pytest.raises(InputError, match="allow at least one"):
        best_span(start, end, 4, torch.zeros(4))
    with pytest.raises(InputError, match="max_answer_tokens"):
        best_span(start, end, 0)


def test_squad_normalisation_and_scores_hand_worked():
    assert normalize_answer("The  Forest!") == "forest"
    assert exact_match("the forest", "Forest.") == 1.0
    assert exact_match("a forest", "the big forest") == 0.0
    # pred tokens: green hill school; gold: hill school -> P 2/3, R 1, F1 0.8
    assert token_f1("Green Hill School", "the Hill School") == pytest.approx(0.8)
    assert token_f1("apples", "pears") == 0.0
    assert token_f1("the", "a") == 1.0  # both empty after normalisation
    assert token_f1("", "forest") == 0.0


def test_chinese_answers_are_scored_by_character():
    assert exact_match("长沙。", "长沙") == 1.0
    # pred 一支笔 vs gold 一支红笔: common 一支笔 = 3; P 3/3, R 3/4 -> F1 6/7
    assert token_f1("一支笔", "一支红笔") == pytest.approx(6 / 7)
    # mixed text: tokens 在, tokyo, 站 against tokyo -> P 1/3, R 1 -> F1 0.5
    assert token_f1("在Tokyo站", "Tokyo") == pytest.approx(0.5)


@pytest.fixture(scope="module")
def tokenizer():
    return load("tiny-bert", device="cpu").tokenizer


def test_encode_qa_packs_question_and_context(tokenizer):
    (window,) = encode_qa(tokenizer, "Where did Tom go?", "Tom went to Beijing.", 128)
    q = tokenizer.encode("Where did Tom go?", add_special_tokens=False)
    assert window.ids[0] == tokenizer.cls_id and window.ids[len(q) + 1] == tokenizer.sep_id
    assert window.ids[-1] == tokenizer.sep_id
    assert window.token_type_ids == [0] * (len(q) + 2) + [1] * (len(window.ids) - len(q) - 2)
    pieces = ["Tom went to Beijing."[o[0] : o[1]] for o in window.context_offsets if o]
    assert "".join(pieces) == "TomwenttoBeijing."


def test_long_contexts_become_overlapping_windows(tokenizer):
    assert qa_windows(10, 4) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert qa_windows(3, 8) == [(0, 3)]
    context = " ".join(["Anna went to the park with her dog."] * 30)
    windows = encode_qa(tokenizer, "Where did Anna go?", context, 64)
    assert len(windows) > 2 and all(len(w.ids) <= 64 for w in windows)


def test_guards(tokenizer):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=2048, max_position=32, n_layer=1, n_head=2, n_embd=16,
                        intermediate=32, pad_id=2044, dropout=0.0)  # fmt: skip
    model = BertForQuestionAnswering(config).eval()
    for question, context in (("", "Tom went home."), ("Who?", "  "), (None, "x")):
        with pytest.raises(InputError, match="empty"):
            answer_question(model, tokenizer, question, context)
    with pytest.raises(InputError, match="shorter question"):
        answer_question(model, tokenizer, "why " * 40, "Tom went home.")
    context = " ".join(["Tom went to Beijing with Anna."] * 8)
    answer = answer_question(model, tokenizer, "Where did Tom go?", context, max_answer_tokens=3)
    assert isinstance(answer, Answer) and context[answer.start : answer.end] == answer.text
    assert 0 < answer.score <= 1 and answer.text


def test_windows_mark_where_words_begin_and_end(tokenizer):
    context = "Angela Merkel met Emmanuel Macron in Brussels."
    (window,) = encode_qa(tokenizer, "Who?", context, 128)
    words, start = [], None
    for offsets, begins, ends in zip(
        window.context_offsets, window.begins_word, window.ends_word, strict=True
    ):
        if begins:
            start = offsets[0]
        if ends:
            words.append(context[start : offsets[1]])
    assert words == ["Angela", "Merkel", "met", "Emmanuel", "Macron", "in", "Brussels", "."]
    n_context_tokens = sum(o is not None for o in window.context_offsets)
    assert n_context_tokens > len(words)  # some of these words are several BPE tokens
    assert not any(window.begins_word[:4]) and not window.ends_word[-1]
