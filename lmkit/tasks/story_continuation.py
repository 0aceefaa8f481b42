"""Continue a story with a story-world GPT, and grade the sentences it writes with the grammar.

Introduced in chapter 9, where tiny-gpt is measured by how often its sampled sentences are
ones the story grammar can produce (:func:`grammar_report`, protocol :data:`GRAMMAR_PROTOCOL`).
:func:`continue_story` feeds a prompt as the start of a story, after ``<|endoftext|>``, as in
training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lmkit.data.story_corpus import LANGS, eot_id
from lmkit.data.story_grammar import is_grammatical, split_sentences
from lmkit.data.story_world import StoryWorld
from lmkit.decoding.generation import generate
from lmkit.decoding.prompts import continuation, prompt_ids
from lmkit.errors import ConfigError, InputError
from lmkit.gpt.model import GPT
from lmkit.tokenizers import Tokenizer
from lmkit.validators import check_int

__all__ = ["GRAMMAR_PROTOCOL", "GrammarReport", "continue_story", "grammar_report"]

GRAMMAR_PROTOCOL = (
    "For each language, prompts are the first sentences of stories from StoryWorld(eval_seed), "
    "each fed as [<|endoftext|>] + its tokens. The model samples a continuation at the given "
    "temperature (no top-k/top-p, generation seed eval_seed + sample index) until it emits "
    "<|endoftext|> or the context (block_size tokens) is full. The continuation (prompt "
    "excluded) is cut with story_grammar.split_sentences; if it did not end with "
    "<|endoftext|>, its last piece may be cut off mid-sentence and is dropped. Prompts are "
    "drawn until n_sentences sentences are collected; the first n_sentences are graded with "
    "story_grammar.is_grammatical, and pass_rate = grammatical / n_sentences. A sentence in the "
    "wrong language or a run-on without a full stop counts as a failure; if 4 * n_sentences + "
    "20 prompts yield fewer sentences (a model that ends every story at once), the missing "
    "ones count as failures too."
)


@dataclass(frozen=True)
class GrammarReport:
    """The graded sentences of :func:`grammar_report` and how many passed. Chapter 9."""

    lang: str
    sentences: tuple[str, ...]
    grammatical: tuple[bool, ...]
    samples: int  # continuations drawn to collect the sentences
    temperature: float
    seed: int
    requested: int = 0  # sentences asked for; missing ones count as failures

    @property
    def pass_rate(self) -> float:
        """Grammatical sentences / sentences requested (0.0 if nothing was requested or found)."""
        n = max(self.requested, len(self.grammatical))
        return sum(self.grammatical) / n if n else 0.0

    def failures(self) -> list[str]:
        """The sentences that did not pass, for reading what goes wrong."""
        return [s for s, ok in zip(self.sentences, self.grammatical, strict=True) if not ok]

    def to_dict(self) -> dict[str, Any]:
        """Counts and rate as JSON-ready data (the sentences themselves are left out)."""
        return {
            "pass_rate": self.pass_rate,
            "requested": max(self.requested, len(self.sentences)),
            "sentences": len(self.sentences),
            "grammatical": sum(self.grammatical),
            "samples": self.samples,
            "temperature": self.temperature,
            "seed": self.seed,
        }


def _check_lm(model: Any, tokenizer: Any) -> None:
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
        raise InputError(f"model must be an lmkit GPT, got {type(model).__name__}.")
    if not isinstance(tokenizer, Tokenizer):
        raise InputError(f"tokenizer must be an lmkit Tokenizer, got {type(tokenizer).__name__}.")


def _check_lang(lang: object) -> str:
    if lang not in LANGS:
        raise ConfigError(f"lang must be 'en' or 'zh', got {lang!r}.")
    return lang  # type: ignore[return-value]


def continue_story(
    model: GPT,
    tokenizer: Tokenizer,
    prompt: str,
    lang: str,
    *,
    max_new_tokens: int | None = None,
    seed: int | None = None,
    **overrides: Any,
) -> tuple[str, list[str]]:
    """Continue ``prompt`` as the start of a story; return ``(text, complete_sentences)``.

    The prompt is fed after ``<|endoftext|>`` (a story start, as in training); generation stops
    at the next ``<|endoftext|>`` or when the context is full. ``complete_sentences`` splits the
    continuation with :func:`~lmkit.data.story_grammar.split_sentences` and drops the last piece
    unless the story ended, since it may be cut off. ``overrides`` go to
    :func:`lmkit.decoding.generation.generate` (default: greedy). Introduced in chapter 9.
    """
    _check_lm(model, tokenizer)
    _check_lang(lang)
    eot = eot_id(tokenizer)
    ids = prompt_ids(tokenizer, prompt, start_id=eot)  # the one prompt path (Generate page too)
    room = model.config.block_size - len(ids)
    if room < 1:
        raise InputError(
            f"The prompt has {len(ids) - 1} tokens, leaving no room in the model's context of "
            f"{model.config.block_size}. Use a shorter prompt."
        )
    budget = room if max_new_tokens is None else max_new_tokens
    budget = check_int("max_new_tokens", budget, 1, room)
    out = generate(model, ids, max_new_tokens=budget, eos_id=eot, seed=seed, **overrides)
    new = out[0, len(ids) :].tolist()
    ended = eot in new
    text = tokenizer.decode(continuation(new, eot))
    sentences = split_sentences(text, lang)
    if not ended and sentences:
        sentences = sentences[:-1]  # maybe cut off mid-sentence by the token budget
    return text, sentences


def grammar_report(
    model: GPT,
    tokenizer: Tokenizer,
    lang: str,
    n_sentences: int = 240,
    *,
    temperature: float = 0.8,
    seed: int = 2,
) -> GrammarReport:
    """Sample story continuations and grade ``n_sentences`` of their sentences with the grammar.

    The exact protocol is :data:`GRAMMAR_PROTOCOL`. Introduced in chapter 9.
    """
    _check_lm(model, tokenizer)
    _check_lang(lang)
    check_int("n_sentences", n_sentences, 1)
    check_int("seed", seed, 0)
    world = StoryWorld(seed)
    collected: list[str] = []
    samples, max_samples = 0, 4 * n_sentences + 20  # a model that only ends stories stops here
    while len(collected) < n_sentences and samples < max_samples:
        first = world.story(lang).sentences[0]
        _, sentences = continue_story(
            model, tokenizer, first, lang, strategy="sample", temperature=temperature,
            seed=seed + samples,
        )  # fmt: skip
        collected.extend(sentences)
        samples += 1
    graded = tuple(collected[:n_sentences])
    return GrammarReport(
        lang,
        graded,
        tuple(is_grammatical(s, lang) for s in graded),
        samples,
        float(temperature),
        seed,
        n_sentences,
    )
