"""tiny-ner: a small LoRA tagger on tiny-bert that loads merged, finds the story world's
entities on a fresh held-out sample, tags plain sentences, and refuses damaged files."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import lmkit
from lmkit import hub
from lmkit.data.story_world import StoryWorld
from lmkit.errors import CheckpointError
from lmkit.recipes.tiny_ner import TinyNerRecipe, train_tiny_ner
from lmkit.tasks.ner import span_prf, tag_entities

torch.set_num_threads(1)
FOLDER = hub.WEIGHTS_DIR / "tiny-ner"
METRICS = json.loads((FOLDER / "metrics.json").read_text(encoding="utf-8"))
# the two task models of chapter 13 share a 400 KB budget; tiny-ner may take 200 KB of it
MAX_BYTES = 200_000
FRESH_SEED = 1313  # neither the training, development nor test world of the recipe


@pytest.fixture(scope="module")
def shipped():
    return lmkit.load("tiny-ner", device="cpu")


def test_it_ships_small_and_loads_as_a_merged_tagger(shipped):
    size = sum((FOLDER / f).stat().st_size for f in ("adapter.safetensors", "head.safetensors"))
    assert size <= MAX_BYTES and size == METRICS["adapter_bytes"]
    assert shipped.kind == "token-classifier" and "tiny-ner" in hub.available_models(
        "token-classifier"
    )
    assert shipped.model.labels == ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
    assert not any("lora" in name for name, _ in shipped.model.named_parameters())


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_fresh_held_out_stories_meet_the_bar(shipped, lang):
    examples = StoryWorld(FRESH_SEED).ner(40, lang)
    pred = [
        [(e.start, e.end, e.label) for e in tag_entities(shipped.model, shipped.tokenizer, x.text)]
        for x in examples
    ]
    scores = span_prf([list(x.spans) for x in examples], pred)
    # a few points below the shipped held-out F1 (see metrics.json), for sampling noise
    assert scores["f1"] >= METRICS["held_out"][lang]["f1"] - 0.05
    assert scores["per_label"]["PER"]["f1"] >= 0.9


def _found(shipped, text):
    return [(e.text, e.label) for e in tag_entities(shipped.model, shipped.tokenizer, text)]


def test_plain_sentences(shipped):
    assert _found(shipped, "Tom lives in Beijing.") == [("Tom", "PER"), ("Beijing", "LOC")]
    assert _found(shipped, "Zhao Lei works at Star Toy Shop.") == [
        ("Zhao Lei", "PER"), ("Star Toy Shop", "ORG"),
    ]  # fmt: skip
    assert _found(shipped, "张伟坐飞机去了北京。") == [("张伟", "PER"), ("北京", "LOC")]
    assert tag_entities(shipped.model, shipped.tokenizer, "") == []


def test_what_the_card_says_it_misses(shipped):
    # story-world people only "go to" the park or the zoo, never to a city; the card says so
    assert _found(shipped, "Tom went to Beijing.") == [("Tom", "PER")]


def test_a_corrupted_adapter_is_a_checkpoint_error(tmp_path):
    copy = shutil.copytree(FOLDER, tmp_path / "tiny-ner")
    data = (copy / "adapter.safetensors").read_bytes()
    (copy / "adapter.safetensors").write_bytes(data[:100] + b"\x00" * 50)
    with pytest.raises(CheckpointError, match=r"adapter\.safetensors"):
        lmkit.load(copy, device="cpu")


def test_the_recipe_runs_every_step_in_smoke_mode(tmp_path):
    metrics = train_tiny_ner(TinyNerRecipe.smoke(), tmp_path / "run", quiet=True)
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == sorted(
        ["MODEL_CARD.md", "adapter.safetensors", "config.json", "head.safetensors", "metrics.json"]
    )
    assert metrics["held_out"]["en"]["support"] > 0 and len(metrics["examples"]) >= 20
    assert lmkit.load(tmp_path / "run", device="cpu").kind == "token-classifier"
