"""Extractive question answering: the answer is a span of the context, chosen by start and end.

Introduced in chapter 13. The model reads ``[CLS] question [SEP] context [SEP]`` (segment 0 for
the question part, 1 for the context part) and scores every token as a possible start and end
of the answer (:class:`lmkit.bert.task_heads.BertForQuestionAnswering`). :func:`best_span` picks
the pair with the highest ``start + end`` score such that the end is not before the start, the
answer has at most ``max_answer_tokens`` tokens and both ends lie in the context.
:func:`answer_question` also keeps answers to whole words: a start must begin a word and an end
must end one (:func:`lmkit.tasks.token_offsets.word_starts`), so a span never starts or stops
inside a BPE-split word (a Chinese character is a word of its own).

A context longer than the model reads is cut into overlapping windows (:func:`qa_windows`,
half a window of overlap); :func:`answer_question` answers from the window whose best span
scores highest. Scores are ``P(start) · P(end)`` with each softmax taken over the window's
context tokens.

Grading follows SQuAD (:func:`exact_match`, :func:`token_f1`): lowercase, drop punctuation and
the articles a/an/the, squeeze whitespace; F1 over the bag of tokens. Text with Chinese
characters is compared character by character (each Chinese character a token, other runs split
at spaces), as the CMRC 2018 and DRCD evaluations do.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch

from lmkit.errors import InputError
from lmkit.tasks.token_offsets import encode_with_offsets, is_cjk, word_starts

__all__ = [
    "Answer",
    "QAInput",
    "answer_question",
    "best_span",
    "encode_qa",
    "exact_match",
    "normalize_answer",
    "qa_windows",
    "token_f1",
]

# SQuAD's ASCII punctuation plus the full-width marks Chinese text uses
_PUNCTUATION = set(string.punctuation) | set("，。！？、；：“”‘’（）《》【】—…·「」")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def best_span(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    max_answer_tokens: int,
    allowed_mask: torch.Tensor | None = None,
) -> tuple[int, int, float]:
    """``(start, end, score)`` maximising ``start_logits[start] + end_logits[end]`` over
    ``start <= end < start + max_answer_tokens`` with both positions allowed (1-D tensors)."""
    if start_logits.dim() != 1 or start_logits.shape != end_logits.shape:
        raise InputError("start_logits and end_logits must be 1-D tensors of the same length.")
    if not isinstance(max_answer_tokens, int) or max_answer_tokens < 1:
        raise InputError(f"max_answer_tokens must be an integer >= 1, got {max_answer_tokens!r}.")
    n = start_logits.shape[0]
    allowed = torch.ones(n, dtype=torch.bool) if allowed_mask is None else allowed_mask.bool().cpu()
    if allowed.shape != (n,) or not bool(allowed.any()):
        raise InputError("allowed_mask must have one entry per position and allow at least one.")
    scores = start_logits.float().cpu()[:, None] + end_logits.float().cpu()[None, :]  # (start, end)
    i, j = torch.arange(n)[:, None], torch.arange(n)[None, :]
    valid = (j >= i) & (j - i < max_answer_tokens) & allowed[:, None] & allowed[None, :]
    scores = scores.masked_fill(~valid, float("-inf"))
    flat = int(scores.argmax())
    return flat // n, flat % n, float(scores.view(-1)[flat])


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lowercase, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _tokens(text: str) -> list[str]:
    """Normalised tokens: each Chinese character alone, runs of other characters whole."""
    out: list[str] = []
    for word in normalize_answer(text).split():
        run = ""
        for char in word:
            if is_cjk(char):
                out += [run, char] if run else [char]
                run = ""
            else:
                run += char
        if run:
            out.append(run)
    return out


def exact_match(prediction: str, truth: str) -> float:
    """1.0 if the normalised texts are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(truth))


def token_f1(prediction: str, truth: str) -> float:
    """SQuAD's F1 over the bag of tokens (characters for Chinese); two empty answers score 1."""
    pred, gold = _tokens(prediction), _tokens(truth)
    if not pred or not gold:
        return float(pred == gold)
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class QAInput:
    """One window: ``ids`` of ``[CLS] q [SEP] c [SEP]``, ``token_type_ids``, for every
    position its character span in the context (``None`` outside the context), and whether it
    begins and ends a word of the context (False outside the context)."""

    ids: list[int]
    token_type_ids: list[int]
    context_offsets: list[tuple[int, int] | None]
    begins_word: list[bool]
    ends_word: list[bool]


def qa_windows(n_context: int, room: int) -> list[tuple[int, int]]:
    """Context-token ranges of ``room`` tokens, each starting half a window after the last."""
    if room < 1:
        raise InputError("The question leaves no room for the context; ask a shorter question.")
    stride = max(1, room // 2)
    out, start = [], 0
    while True:
        out.append((start, min(start + room, n_context)))
        if start + room >= n_context:
            return out
        start += stride


def encode_qa(tokenizer: Any, question: str, context: str, max_len: int) -> list[QAInput]:
    """Every window of ``[CLS] question [SEP] context [SEP]`` that fits in ``max_len`` tokens."""
    for name, value in (("question", question), ("context", context)):
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"The {name} is empty; give a non-empty {name} text.")
    q_ids = tokenizer.encode(question, add_special_tokens=False)
    c_ids, c_offsets = encode_with_offsets(tokenizer, context)
    begins = word_starts(context, c_offsets)
    # a token ends a word when the next visible token begins one (or there is none)
    ends, following = [False] * len(c_ids), True
    for i in range(len(c_ids) - 1, -1, -1):
        visible = c_offsets[i][0] < c_offsets[i][1]
        ends[i] = visible and following
        following = begins[i] if visible else following
    room = max_len - len(q_ids) - 3
    if room < 8:
        raise InputError(
            f"The question has {len(q_ids)} tokens; with {max_len} in all that leaves too little "
            "room for the context. Ask a shorter question."
        )
    out = []
    for lo, hi in qa_windows(len(c_ids), room):
        ids = [tokenizer.cls_id, *q_ids, tokenizer.sep_id, *c_ids[lo:hi], tokenizer.sep_id]
        types = [0] * (len(q_ids) + 2) + [1] * (hi - lo + 1)
        offsets = [None] * (len(q_ids) + 2) + list(c_offsets[lo:hi]) + [None]
        outside = [False] * (len(q_ids) + 2)
        out.append(
            QAInput(
                ids, types, offsets, [*outside, *begins[lo:hi], False],
                [*outside, *ends[lo:hi], False],
            )
        )  # fmt: skip
    return out


@dataclass(frozen=True)
class Answer:
    """The answer span: ``text == context[start:end]``; ``score`` = P(start) · P(end)."""

    text: str
    start: int
    end: int
    score: float


def _whole_word_span(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    max_answer_tokens: int,
    allowed: torch.Tensor,
    window: QAInput,
) -> tuple[int, int, torch.Tensor, torch.Tensor]:
    """The best span that starts and ends on word boundaries, and P(start), P(end) with each
    softmax over the window's allowed positions. Falls back to any context tokens when no
    whole word fits (a single word longer than ``max_answer_tokens``)."""
    starts = allowed & torch.tensor(window.begins_word)
    ends = allowed & torch.tensor(window.ends_word)
    for start_ok, end_ok in ((starts, ends), (allowed, allowed)):
        start_masked = start_logits.masked_fill(~start_ok, float("-inf"))
        end_masked = end_logits.masked_fill(~end_ok, float("-inf"))
        if not (bool(start_ok.any()) and bool(end_ok.any())):
            continue
        i, j, score = best_span(start_masked, end_masked, max_answer_tokens, allowed)
        if score > float("-inf"):
            return i, j, start_masked.softmax(-1)[i], end_masked.softmax(-1)[j]
    raise InputError("No answer span fits the context; raise max_answer_tokens.")


@torch.no_grad()
def answer_question(
    model: Any, tokenizer: Any, question: str, context: str, max_answer_tokens: int = 12
) -> Answer:
    """The best answer to ``question`` in ``context`` (see the module docstring)."""
    device = next(model.parameters()).device
    best: Answer | None = None
    for window in encode_qa(tokenizer, question, context, model.config.max_position):
        allowed = torch.tensor([o is not None and o[0] < o[1] for o in window.context_offsets])
        if not bool(allowed.any()):
            continue
        out = model(
            torch.tensor([window.ids], device=device),
            token_type_ids=torch.tensor([window.token_type_ids], device=device),
        )
        start_logits, end_logits = (
            out.start_logits[0].float().cpu(),
            out.end_logits[0].float().cpu(),
        )
        i, j, p_start, p_end = _whole_word_span(
            start_logits, end_logits, max_answer_tokens, allowed, window
        )
        start, end = window.context_offsets[i][0], window.context_offsets[j][1]  # type: ignore[index]
        candidate = Answer(context[start:end], start, end, round(float(p_start * p_end), 4))
        if best is None or candidate.score > best.score:
            best = candidate
    if best is None:
        raise InputError("The context has no visible characters to answer from.")
    return best
