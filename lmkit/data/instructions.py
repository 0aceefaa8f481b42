"""Instruction data from the story world: a prompt template, response-masked labels, batches.

Introduced in chapter 12. :func:`make_instructions` turns :class:`~lmkit.data.story_world.StoryWorld`
output into bilingual instruction/response pairs whose right answer the world knows: questions
about a story (who, where, what, why; English and Chinese), one-line summaries, and sentence
translations English → Chinese and Chinese → English. :func:`format_prompt` renders the
prompt template (plain-text markers, because ``tiny-gpt``'s tokenizer has a single special token,
``<|endoftext|>``, which opens the prompt and closes the response). :func:`encode_instruction`
tokenizes one example into ``ids`` and ``labels``, where ``labels`` is -100 on every prompt
position so that the loss only counts response tokens; :func:`collate` shifts by one and pads
a batch, and :func:`instruction_batches` serves shuffled batches forever for a
:class:`~lmkit.training.batch_stream.BatchStream`. :func:`respond` answers a prompt greedily and
:func:`exact_match` grades the answers against the facts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from lmkit.data.story_world import StoryWorld
from lmkit.errors import ConfigError, InputError
from lmkit.gpt.inputs import IGNORE_INDEX

__all__ = [
    "IGNORE_INDEX",
    "PROMPT_TEMPLATE",
    "TASKS",
    "Encoded",
    "Instruction",
    "collate",
    "encode_instruction",
    "exact_match",
    "format_instruction",
    "format_prompt",
    "instruction_batches",
    "make_instructions",
    "respond",
    "split_instructions",
]

TASKS = ("qa_en", "qa_zh", "summary_en", "summary_zh", "en_to_zh", "zh_to_en")
"""The instruction kinds :func:`make_instructions` writes."""

_INSTRUCTION = {
    "summary_en": "Summarize the story in one sentence.",
    "summary_zh": "用一句话概括这个故事。",
    "en_to_zh": "Translate into Chinese.",
    "zh_to_en": "把这句话翻译成英文。",
}


@dataclass(frozen=True)
class Instruction:
    """One instruction, its input text and the response the story world knows is right."""

    task: str
    instruction: str
    input: str
    response: str
    lang: str  # the language of the response


@dataclass(frozen=True)
class Encoded:
    """Token ids of prompt + response (with the end token) and the labels to learn."""

    ids: list[int]
    labels: list[int]
    prompt_len: int


def make_instructions(n: int, seed: int = 0, tasks: Sequence[str] = TASKS) -> list[Instruction]:
    """``n`` instructions drawn in turn from ``tasks`` (deterministic for a seed)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ConfigError(f"n must be a non-negative integer, got {n!r}.")
    tasks = tuple(tasks)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise ConfigError(f"unknown task(s) {unknown}; choose from {TASKS}.")
    world = StoryWorld(seed)
    out: list[Instruction] = []
    for i in range(n):
        task = tasks[i % len(tasks)]
        if task.startswith("qa_"):
            lang = task[3:]
            qa = world.qa(1, lang)[0]
            out.append(Instruction(task, qa.question, qa.context, qa.answer, lang))
        elif task.startswith("summary_"):
            lang = task[8:]
            s = world.summaries(1, lang)[0]
            out.append(Instruction(task, _INSTRUCTION[task], s.text, s.summary, lang))
        else:
            pair = world.translation_pairs(1)[0]
            src, tgt, lang = (
                (pair.en, pair.zh, "zh") if task == "en_to_zh" else (pair.zh, pair.en, "en")
            )
            out.append(Instruction(task, _INSTRUCTION[task], src, tgt, lang))
    return out


def split_instructions(
    examples: Sequence[Instruction], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[Instruction], list[Instruction]]:
    """Shuffle and split into (train, validation); no input text appears in both."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction!r}.")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(examples) * val_fraction))
    val = [examples[i] for i in order[:n_val]]
    seen = {e.input for e in val}
    train = [examples[i] for i in order[n_val:] if examples[i].input not in seen]
    return train, val


PROMPT_TEMPLATE = "Instruction: {instruction}\nInput: {input}\nResponse: "
"""The prompt template: instruction, input, then the cue after which the response starts."""


def format_instruction(instruction: str, input_text: str = "") -> str:
    """:data:`PROMPT_TEMPLATE` filled in; how a person prompts an instruction-tuned model."""
    if not isinstance(instruction, str) or not isinstance(input_text, str):
        raise InputError("format_instruction needs the instruction and the input as strings.")
    return PROMPT_TEMPLATE.format(instruction=instruction.strip(), input=input_text.strip())


def format_prompt(example: Instruction) -> str:
    """The prompt of ``example``: :data:`PROMPT_TEMPLATE` with its instruction and input."""
    return PROMPT_TEMPLATE.format(instruction=example.instruction, input=example.input)


def encode_instruction(tokenizer, example: Instruction, eot: int) -> Encoded:
    """``ids = [eot] + prompt + response + [eot]``; ``labels`` is ``ids`` with -100 on the prompt.

    The leading ``eot`` is where every training story of ``tiny-gpt`` started; the trailing one
    teaches the model to stop. Labels are *not* shifted here: :func:`collate` does that.
    """
    prompt = [eot, *tokenizer.encode(format_prompt(example))]
    response = [*tokenizer.encode(example.response), eot]
    ids = prompt + response
    labels = [IGNORE_INDEX] * len(prompt) + response
    return Encoded(ids, labels, len(prompt))


def collate(batch: Sequence[Encoded], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``x = ids[:-1]`` and targets ``y = labels[1:]``, right-padded to the longest row.

    Padding positions get ``pad_id`` in ``x`` and -100 in ``y``, so they never count.
    """
    if not batch:
        raise InputError("collate needs at least one example.")
    width = max(len(e.ids) for e in batch) - 1
    x = torch.full((len(batch), width), pad_id, dtype=torch.long)
    y = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.ids) - 1
        x[row, :n] = torch.tensor(e.ids[:-1])
        y[row, :n] = torch.tensor(e.labels[1:])
    return x, y


def instruction_batches(
    encoded: Sequence[Encoded], batch_size: int, pad_id: int, seed: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless ``(x, y)`` batches: each epoch visits every example once in a fresh order."""
    if not encoded:
        raise InputError("instruction_batches needs at least one encoded example.")
    if batch_size > len(encoded):
        raise ConfigError(f"batch_size={batch_size} is more than the {len(encoded)} examples.")
    rng = random.Random(seed)
    order = list(range(len(encoded)))
    while True:
        rng.shuffle(order)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield collate([encoded[i] for i in order[start : start + batch_size]], pad_id)


@torch.no_grad()
def respond(model, tokenizer, example: Instruction, eot: int, max_new_tokens: int = 40) -> str:
    """The model's greedy response to ``example``'s prompt, up to the end token."""
    from lmkit.decoding.generation import generate

    prompt = [eot, *tokenizer.encode(format_prompt(example))]
    room = model.config.block_size - len(prompt)
    out = generate(
        model,
        prompt,
        strategy="greedy",
        max_new_tokens=max(1, min(max_new_tokens, room)),
        eos_id=eot,
    )[0, len(prompt) :].tolist()
    if eot in out:
        out = out[: out.index(eot)]
    return tokenizer.decode(out)


def exact_match(answers: Sequence[str], examples: Sequence[Instruction]) -> float:
    """Share of answers equal to the known response (surrounding spaces ignored)."""
    if len(answers) != len(examples) or not examples:
        raise InputError("exact_match needs one answer per example, and at least one.")
    hits = sum(a.strip() == e.response.strip() for a, e in zip(answers, examples, strict=True))
    return hits / len(examples)
