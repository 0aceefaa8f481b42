"""Instruction data (chapter 12): tasks, template, response-masked labels, batches."""

from __future__ import annotations

import pytest
import torch

from lmkit.data.instructions import (
    IGNORE_INDEX,
    TASKS,
    collate,
    encode_instruction,
    exact_match,
    format_prompt,
    instruction_batches,
    make_instructions,
    split_instructions,
)
from lmkit.errors import ConfigError


class CharTokenizer:
    def encode(self, text):
        return [ord(c) % 200 for c in text]


def test_every_task_is_made_and_answers_are_known():
    data = make_instructions(12, seed=3)
    assert [e.task for e in data] == list(TASKS) * 2
    for e in data:
        if e.task.startswith("qa_"):
            assert e.response in e.input  # extractive: the answer is in the story
    assert make_instructions(12, seed=3) == data
    assert make_instructions(12, seed=4) != data
    with pytest.raises(ConfigError, match="unknown task"):
        make_instructions(2, tasks=("poetry",))


def test_split_keeps_inputs_apart():
    train, val = split_instructions(make_instructions(60, seed=1), 0.2)
    assert len(val) == 12 and not {e.input for e in train} & {e.input for e in val}


def test_labels_mask_the_prompt_and_collate_shifts():
    e = make_instructions(1, seed=0)[0]
    enc = encode_instruction(CharTokenizer(), e, eot=255)
    assert enc.prompt_len == 1 + len(format_prompt(e))
    assert enc.labels[: enc.prompt_len] == [IGNORE_INDEX] * enc.prompt_len
    assert enc.labels[enc.prompt_len :] == enc.ids[enc.prompt_len :]
    assert enc.ids[0] == enc.ids[-1] == 255
    short = encode_instruction(CharTokenizer(), make_instructions(4, seed=0)[3], eot=255)
    x, y = collate([enc, short], pad_id=255)
    assert torch.equal(x[0], torch.tensor(enc.ids[:-1]))
    assert torch.equal(y[0], torch.tensor(enc.labels[1:]))
    n = len(short.ids) - 1
    assert (y[1, n:] == IGNORE_INDEX).all() and (x[1, n:] == 255).all()


def test_batches_cycle_through_epochs():
    enc = [encode_instruction(CharTokenizer(), e, 255) for e in make_instructions(6, seed=0)]
    stream = instruction_batches(enc, batch_size=3, pad_id=255)
    shapes = [next(stream)[0].shape[0] for _ in range(5)]
    assert shapes == [3] * 5


def test_exact_match():
    data = make_instructions(2, seed=0)
    assert exact_match([data[0].response + " ", "nope"], data) == 0.5


def test_batches_refuse_a_batch_larger_than_the_data():
    enc = [encode_instruction(CharTokenizer(), e, 255) for e in make_instructions(2, seed=0)]
    with pytest.raises(ConfigError, match="more than"):
        next(instruction_batches(enc, batch_size=3, pad_id=255))
