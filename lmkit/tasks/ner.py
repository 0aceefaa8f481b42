"""Named-entity recognition as token classification: BIO tags, entity spans, span F1, tagging.

Introduced in chapter 13. An entity is a character span with a label, ``(start, end, "PER")``.
A tagger labels tokens, so spans become tags and tags become spans again:

* **BIO.** The first token of an entity is ``B-<label>``, the others ``I-<label>``, every other
  token ``O`` (:func:`bio_labels`). A token belongs to an entity when its first character does.
* **First sub-word labelling.** BPE cuts words into pieces; only the first piece of each word
  (:func:`lmkit.tasks.token_offsets.word_starts`) carries the word's tag, the rest get -100 and
  count neither in the loss nor in predictions (:func:`align_labels`), as in the BERT paper.
* **Back to spans.** :func:`spans_from_bio` reads tags the way ``seqeval`` does by default
  (IOB2, not strict): an ``I-X`` after ``O`` or after another type starts a new entity, and a
  ``B-`` or a change of type ends the one before.
* **Scores.** :func:`span_prf`: an entity counts only if start, end and label are all right
  (the CoNLL rule); micro precision, recall and F1 plus the same per label, equal to
  ``seqeval.metrics``.

:func:`tag_entities` runs a tagger (:class:`lmkit.bert.task_heads.BertForTokenClassification`)
on any text: longer texts than the model reads are cut into windows at word starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lmkit.errors import InputError
from lmkit.tasks.token_offsets import encode_with_offsets, word_spans, word_starts

__all__ = [
    "IGNORE_INDEX",
    "EntitySpan",
    "align_labels",
    "bio_labels",
    "bio_tag_set",
    "span_prf",
    "spans_from_bio",
    "tag_entities",
]

IGNORE_INDEX = -100
Span = tuple[int, int, str]


def bio_tag_set(entity_labels: Sequence[str]) -> tuple[str, ...]:
    """``("O", "B-L1", "I-L1", "B-L2", …)`` for the given entity labels."""
    return ("O", *(f"{p}-{label}" for label in entity_labels for p in ("B", "I")))


def bio_labels(offsets: Sequence[tuple[int, int]], spans: Sequence[Span]) -> list[str]:
    """A BIO tag for every token, from the tokens' character ``offsets`` and entity ``spans``.

    A token is inside an entity when its first character is; empty (whitespace) tokens are O.
    """
    tags = ["O"] * len(offsets)
    for start, end, label in sorted(spans):
        inside = [i for i, (s, e) in enumerate(offsets) if s < e and start <= s < end]
        for k, i in enumerate(inside):
            tags[i] = ("B-" if k == 0 else "I-") + label
    return tags


def align_labels(
    offsets: Sequence[tuple[int, int]],
    starts: Sequence[bool],
    spans: Sequence[Span],
    tag_ids: dict[str, int],
) -> list[int]:
    """Training labels: the BIO tag id of each word's first token, -100 for every other token."""
    tags = bio_labels(offsets, spans)
    return [tag_ids[t] if first else IGNORE_INDEX for t, first in zip(tags, starts, strict=True)]


def spans_from_bio(tags: Sequence[str], offsets: Sequence[tuple[int, int]]) -> list[Span]:
    """Entity spans ``(start, end, label)`` from one tag per unit and each unit's character span.

    seqeval's default reading: a chunk starts at ``B-X``, or at ``I-X`` when the tag before is
    ``O`` or of another type; it ends before ``O``, ``B-`` or a change of type.
    """
    if len(tags) != len(offsets):
        raise InputError(f"{len(tags)} tags but {len(offsets)} offsets; give one per unit.")
    out: list[Span] = []
    current: list[Any] | None = None  # [start, end, label]
    for tag, (start, end) in zip(tags, offsets, strict=True):
        if tag == "O":
            prefix, label = "O", ""
        elif len(tag) > 2 and tag[:2] in ("B-", "I-"):
            prefix, label = tag[0], tag[2:]
        else:
            raise InputError(f"Unknown tag {tag!r}; use O, B-<label> or I-<label> (IOB2).")
        if current is not None and (prefix != "I" or label != current[2]):
            out.append(tuple(current))  # type: ignore[arg-type]
            current = None
        if prefix == "B" or (prefix == "I" and current is None):
            current = [start, end, label]
        elif prefix == "I":
            current[1] = end  # type: ignore[index]
    if current is not None:
        out.append(tuple(current))  # type: ignore[arg-type]
    return out


def _prf(correct: int, n_pred: int, n_gold: int) -> dict[str, float]:
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}


def span_prf(gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]]) -> dict[str, Any]:
    """Exact-span precision, recall and F1 (micro over all entities) and the same per label.

    ``gold[i]`` and ``pred[i]`` are the entities of text ``i``. A precision or recall with
    nothing to divide by is 0, as in seqeval (which also warns).
    """
    if len(gold) != len(pred):
        raise InputError(f"{len(gold)} gold texts but {len(pred)} predicted; pair them up.")
    gold_set = {(i, *s) for i, spans in enumerate(gold) for s in spans}
    pred_set = {(i, *s) for i, spans in enumerate(pred) for s in spans}
    correct = gold_set & pred_set
    result: dict[str, Any] = _prf(len(correct), len(pred_set), len(gold_set))
    labels = sorted({s[3] for s in gold_set | pred_set})
    result["per_label"] = {
        label: _prf(*(sum(s[3] == label for s in group) for group in (correct, pred_set, gold_set)))
        for label in labels
    }
    return result


@dataclass(frozen=True)
class EntitySpan:
    """One entity found in a text: ``text == source[start:end]``; ``score`` is the mean
    probability the tagger gave the tags of the entity's words."""

    start: int
    end: int
    label: str
    text: str
    score: float


def _windows(firsts: Sequence[int], n_tokens: int, room: int) -> list[tuple[int, int]]:
    """Token ranges of at most ``room`` tokens that start at word starts (a word longer than
    ``room`` tokens is cut)."""
    out, start = [], 0
    while start < n_tokens:
        end = min(start + room, n_tokens)
        if end < n_tokens:
            cut = max((f for f in firsts if start < f <= end), default=end)
            end = cut
        out.append((start, end))
        start = end
    return out


@torch.no_grad()
def tag_entities(model: Any, tokenizer: Any, text: str) -> list[EntitySpan]:
    """The entities a tagger finds in ``text``, in order. Empty or blank text gives ``[]``.

    Each word is tagged by the prediction at its first token; texts longer than the model's
    ``max_position`` are read in windows cut at word starts (an entity cut by a window edge
    may come out as two).
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}.")
    if not text.strip():
        return []
    ids, offsets = encode_with_offsets(tokenizer, text)
    starts = word_starts(text, offsets)
    firsts, spans = word_spans(offsets, starts)
    labels = model.config.labels
    device = next(model.parameters()).device
    probs = torch.empty(len(ids), len(labels))
    for lo, hi in _windows(firsts, len(ids), model.config.max_position - 2):
        window = [tokenizer.cls_id, *ids[lo:hi], tokenizer.sep_id]
        logits = model(torch.tensor([window], device=device)).logits[0, 1:-1]
        probs[lo:hi] = logits.float().softmax(-1).cpu()
    best = probs[firsts].max(-1) if firsts else None
    if best is None:
        return []
    tags = [labels[int(i)] for i in best.indices]
    found = []
    for start, end, label in spans_from_bio(tags, spans):
        words = [k for k, (s, e) in enumerate(spans) if start <= s and e <= end]
        score = float(best.values[words].mean())
        found.append(EntitySpan(start, end, label, text[start:end], round(score, 4)))
    return found
