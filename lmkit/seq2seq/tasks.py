"""One model, three tasks, T5-style "text to text": EN→ZH, ZH→EN translation and summaries.

Introduced in chapter 13. The task is the first source token, a tag: ``<en-zh>``, ``<zh-en>``
or ``<summarize>`` (:data:`TASK_TAGS`), so the encoder knows what the decoder should write.
The tokenizer is the shipped bilingual ``tiny-bert`` byte-level BPE with the three tags added
as special tokens after its own (:func:`seq2seq_tokenizer`); it round-trips any text exactly.

A source is ``[tag] text [SEP]``; a target ``[CLS] text [SEP]`` (``[CLS]`` starts the decoder,
``[SEP]`` ends it). :func:`translate` and :func:`summarize` return a :class:`Translation`
with the tokens on both sides and the cross-attention matrix, for display.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmkit.errors import ConfigError, InputError
from lmkit.seq2seq.decoding import MAX_BEAM_SIZE, Generated, beam_search, greedy
from lmkit.seq2seq.model import Seq2SeqTransformer
from lmkit.tokenizers.bert_bpe import BERT_PATTERN, BERT_SPECIAL_TOKENS, BertBPETokenizer

__all__ = [
    "DIRECTIONS",
    "TASKS",
    "TASK_TAGS",
    "Translation",
    "encode_source",
    "encode_target",
    "run_task",
    "seq2seq_tokenizer",
    "summarize",
    "translate",
]

TASK_TAGS = {"en-zh": "<en-zh>", "zh-en": "<zh-en>", "summarize": "<summarize>"}
TASKS = tuple(TASK_TAGS)
DIRECTIONS = ("en-zh", "zh-en")


@dataclass
class Translation:
    """What :func:`translate` and :func:`summarize` return.

    ``text`` the output; ``source_tokens`` every token the encoder read (tag and end token
    included); ``target_tokens`` the generated tokens (start and end tokens left out);
    ``cross_attention`` (len(target_tokens), len(source_tokens)), the last decoder layer's
    weights averaged over heads: row ``i`` is where the decoder looked while choosing target
    token ``i``; ``score`` the output's total log-probability (end token included).
    """

    text: str
    source_tokens: list[str]
    target_tokens: list[str]
    cross_attention: torch.Tensor
    score: float


def seq2seq_tokenizer(base: BertBPETokenizer) -> BertBPETokenizer:
    """``base`` (tiny-bert's tokenizer) with the task tags as extra special tokens, so ids
    ``0 … base.vocab_size - 1`` keep their meaning and the tags follow."""
    if not isinstance(base, BertBPETokenizer) or any(
        t not in base.special_tokens for t in BERT_SPECIAL_TOKENS
    ):
        raise ConfigError("seq2seq_tokenizer expects tiny-bert's BertBPETokenizer.")
    specials = dict(base.special_tokens)
    for tag in TASK_TAGS.values():
        specials.setdefault(tag, len(specials) + 256 + len(base.merges))
    return BertBPETokenizer([pair for pair, _ in base.merges], specials, pattern=BERT_PATTERN)


def _task_tag_id(tokenizer: BertBPETokenizer, task: str) -> int:
    if task not in TASK_TAGS:
        raise InputError(f"Unknown task {task!r}; tasks are {list(TASKS)}.")
    tag = TASK_TAGS[task]
    if tag not in tokenizer.special_tokens:
        raise ConfigError(
            f"The tokenizer has no {tag} token; use the tiny-seq2seq tokenizer "
            "(lmkit.load('tiny-seq2seq').tokenizer or seq2seq_tokenizer(tiny-bert's))."
        )
    return tokenizer.special_tokens[tag]


def encode_source(tokenizer: BertBPETokenizer, text: str, task: str, max_len: int) -> list[int]:
    """``[tag] text [SEP]`` as ids; :class:`InputError` for empty text or more than ``max_len``
    ids (the message gives the limit)."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("The text is empty; give a sentence or a short story.")
    ids = [_task_tag_id(tokenizer, task), *tokenizer.encode(text.strip(), add_special_tokens=False)]
    ids.append(tokenizer.sep_id)
    if len(ids) > max_len:
        raise InputError(
            f"The text is {len(ids) - 2} tokens long; this model reads at most {max_len - 2} "
            "(about two short paragraphs). Shorten it or split it into sentences."
        )
    return ids


def encode_target(tokenizer: BertBPETokenizer, text: str) -> list[int]:
    """``[CLS] text [SEP]``: the decoder's input is all but the last id, its labels all but the
    first."""
    return tokenizer.encode(text, add_special_tokens=True)


def _check_beam(beam_size: object) -> int:
    if isinstance(beam_size, bool) or not isinstance(beam_size, int):
        raise ConfigError(f"beam_size must be an integer 1..{MAX_BEAM_SIZE}, got {beam_size!r}.")
    if not 1 <= beam_size <= MAX_BEAM_SIZE:
        raise ConfigError(f"beam_size must be 1 (greedy) to {MAX_BEAM_SIZE}, got {beam_size}.")
    return beam_size


@torch.no_grad()
def run_task(
    model: Seq2SeqTransformer,
    tokenizer: BertBPETokenizer,
    text: str,
    task: str,
    beam_size: int = 1,
    max_new_tokens: int = 64,
) -> Translation:
    """Run one of :data:`TASKS` on ``text``: greedy for ``beam_size=1``, beam search above."""
    if not isinstance(model, Seq2SeqTransformer):
        raise InputError(f"model must be a Seq2SeqTransformer, got {type(model).__name__}.")
    beam_size = _check_beam(beam_size)
    src = encode_source(tokenizer, text, task, model.config.max_source_len)
    tags = [_task_tag_id(tokenizer, t) for t in TASKS]
    was_training = model.training
    model.eval()
    try:
        out: Generated = (
            greedy(model, src, max_new_tokens, banned_ids=tags)
            if beam_size == 1
            else beam_search(model, src, beam_size, max_new_tokens, banned_ids=tags)
        )
        device = model.embed.weight.device
        src_ids = torch.tensor([src], device=device)
        # the decoder's inputs while it chose each output token: the start token, then all
        # but the last output token
        tgt_in = torch.tensor([[model.config.bos_id, *out.ids[:-1]]], device=device)
        weights = model.cross_attention(src_ids, None, tgt_in)[-1][0].mean(dim=0)  # (T, S)
    finally:
        model.train(was_training)
    return Translation(
        text=tokenizer.decode(out.ids),
        source_tokens=[tokenizer.id_to_token(i) for i in src],
        target_tokens=[tokenizer.id_to_token(i) for i in out.ids],
        cross_attention=weights[: len(out.ids)].cpu(),
        score=out.score,
    )


def translate(
    model: Seq2SeqTransformer,
    tokenizer: BertBPETokenizer,
    text: str,
    direction: str = "en-zh",
    beam_size: int = 1,
    max_new_tokens: int = 64,
) -> Translation:
    """Translate ``text``; ``direction`` is ``"en-zh"`` or ``"zh-en"``."""
    if direction not in DIRECTIONS:
        raise InputError(f"Unknown direction {direction!r}; use one of {list(DIRECTIONS)}.")
    return run_task(model, tokenizer, text, direction, beam_size, max_new_tokens)


def summarize(
    model: Seq2SeqTransformer,
    tokenizer: BertBPETokenizer,
    text: str,
    beam_size: int = 1,
    max_new_tokens: int = 64,
) -> Translation:
    """A one-line summary of a short story, in the story's language (English or Chinese)."""
    return run_task(model, tokenizer, text, "summarize", beam_size, max_new_tokens)
