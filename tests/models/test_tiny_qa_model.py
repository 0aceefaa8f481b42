"""tiny-qa: a small LoRA span finder on tiny-bert that loads merged, answers a fresh held-out
sample of story-world questions, answers plain questions, and refuses damaged files."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import lmkit
from lmkit import hub
from lmkit.data.story_world import StoryWorld
from lmkit.errors import CheckpointError
from lmkit.recipes.tiny_qa import TinyQaRecipe, train_tiny_qa
from lmkit.tasks.extractive_qa import answer_question, exact_match, token_f1

torch.set_num_threads(1)
FOLDER = hub.WEIGHTS_DIR / "tiny-qa"
METRICS = json.loads((FOLDER / "metrics.json").read_text(encoding="utf-8"))
MAX_BYTES = 200_000  # half of the 400 KB that chapter 13's two task models share
FRESH_SEED = 1414  # neither the training, development nor test world of the recipe


@pytest.fixture(scope="module")
def shipped():
    return lmkit.load("tiny-qa", device="cpu")


def test_it_ships_small_and_loads_merged(shipped):
    size = sum((FOLDER / f).stat().st_size for f in ("adapter.safetensors", "head.safetensors"))
    assert size <= MAX_BYTES and size == METRICS["adapter_bytes"]
    ner_size = (
        METRICS["adapter_bytes"]
        + json.loads((hub.WEIGHTS_DIR / "tiny-ner" / "metrics.json").read_text(encoding="utf-8"))[
            "adapter_bytes"
        ]
    )
    assert ner_size <= 400_000
    assert shipped.kind == "question-answering"
    assert "tiny-qa" in hub.available_models("question-answering")
    assert not any("lora" in name for name, _ in shipped.model.named_parameters())


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_fresh_held_out_questions_meet_the_bar(shipped, lang):
    examples = StoryWorld(FRESH_SEED).qa(40, lang)
    answers = [
        answer_question(shipped.model, shipped.tokenizer, x.question, x.context).text
        for x in examples
    ]
    f1 = sum(token_f1(a, x.answer) for a, x in zip(answers, examples, strict=True)) / 40
    em = sum(exact_match(a, x.answer) for a, x in zip(answers, examples, strict=True)) / 40
    # below the shipped held-out numbers (see metrics.json), for the noise of 40 questions
    assert f1 >= METRICS["held_out"][lang]["f1"] - 0.1
    assert em >= METRICS["held_out"][lang]["exact_match"] - 0.15


def test_plain_questions(shipped):
    context = "On Monday, Tom went to the park. He saw a big dog there."
    answer = answer_question(shipped.model, shipped.tokenizer, "Where did Tom go?", context)
    assert answer.text == "the park" and context[answer.start : answer.end] == answer.text
    assert 0 < answer.score <= 1
    answer = answer_question(
        shipped.model, shipped.tokenizer, "张伟去了哪里？", "星期天，张伟去了超市。"
    )
    assert answer.text == "超市"


def test_a_corrupted_adapter_is_a_checkpoint_error(tmp_path):
    copy = shutil.copytree(FOLDER, tmp_path / "tiny-qa")
    data = (copy / "adapter.safetensors").read_bytes()
    (copy / "adapter.safetensors").write_bytes(data[:100] + b"\x00" * 50)
    with pytest.raises(CheckpointError, match=r"adapter\.safetensors"):
        lmkit.load(copy, device="cpu")


def test_the_recipe_runs_every_step_in_smoke_mode(tmp_path):
    metrics = train_tiny_qa(TinyQaRecipe.smoke(), tmp_path / "run", quiet=True)
    assert (tmp_path / "run" / "MODEL_CARD.md").read_text(encoding="utf-8").startswith("# tiny-qa")
    assert metrics["held_out"]["zh"]["n"] == 3 and len(metrics["examples"]) >= 20
    assert lmkit.load(tmp_path / "run", device="cpu").kind == "question-answering"
