"""tiny-gpt-instruct: a small safetensors LoRA adapter on tiny-gpt that loads merged, answers
held-out story-world questions better than tiny-gpt, and whose shipped numbers re-measure."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors import safe_open

import lmkit
from lmkit import hub
from lmkit.data.instructions import exact_match, format_instruction, respond
from lmkit.errors import CheckpointError
from lmkit.recipes import tiny_gpt_instruct as recipe_module
from lmkit.recipes.tiny_gpt_instruct import TinyGptInstructRecipe, instruction_sets

torch.set_num_threads(1)
FOLDER = hub.WEIGHTS_DIR / "tiny-gpt-instruct"
METRICS = json.loads((FOLDER / "metrics.json").read_text(encoding="utf-8"))
# r=16 on 16 Linear layers of a 4-layer, 128-wide GPT: 131,072 float32 numbers = 524,288 bytes,
# plus the safetensors header.
MAX_ADAPTER_BYTES = 600_000


@pytest.fixture(scope="module")
def models():
    return lmkit.load("tiny-gpt", device="cpu"), lmkit.load("tiny-gpt-instruct", device="cpu")


@pytest.fixture(scope="module")
def graded(models):
    base = models[0]
    return instruction_sets(TinyGptInstructRecipe(), base.tokenizer, base.model.config.block_size)[
        2
    ]


def test_the_template_is_the_plain_text_one_the_chapter_teaches():
    assert format_instruction(" Where is Tom? ", "Tom is at home.") == (
        "Instruction: Where is Tom?\nInput: Tom is at home.\nResponse: "
    )


def test_it_loads_as_tiny_gpt_with_the_adapter_merged(models):
    base, tuned = models
    assert tuned.kind == "causal-lm" and "tiny-gpt-instruct" in hub.available_models("causal-lm")
    assert hub.model_info("tiny-gpt-instruct").instruction_tuned
    assert type(tuned.model) is type(base.model)
    assert tuned.tokenizer.encode("Alice 去了公园。") == base.tokenizer.encode("Alice 去了公园。")
    config = json.loads((FOLDER / "config.json").read_text(encoding="utf-8"))
    assert config["base_model"] == "tiny-gpt" and config["r"] == METRICS["chosen"]["r"]
    # W' = W + (alpha / r) B A, from the adapter file by hand
    with safe_open(str(FOLDER / "adapter.safetensors"), "pt") as f:
        a = f.get_tensor("blocks.0.attn.c_attn.lora_A")
        b = f.get_tensor("blocks.0.attn.c_attn.lora_B")
    expected = base.model.blocks[0].attn.c_attn.weight + config["alpha"] / config["r"] * b @ a
    merged = tuned.model.blocks[0].attn.c_attn.weight
    assert isinstance(tuned.model.blocks[0].attn.c_attn, torch.nn.Linear)
    torch.testing.assert_close(merged, expected, atol=1e-6, rtol=1e-5)
    assert (merged - base.model.blocks[0].attn.c_attn.weight).abs().max() > 1e-3


def test_the_adapter_is_a_small_safetensors_file():
    path = FOLDER / "adapter.safetensors"
    assert path.stat().st_size < MAX_ADAPTER_BYTES
    assert path.stat().st_size == METRICS["adapter_bytes"]
    with safe_open(str(path), "pt") as f:
        keys = list(f.keys())
        assert f.metadata()["format"] == "lmkit-lora"
    assert len(keys) == 4 * 4 * 2  # 4 blocks x 4 Linear layers x (A, B)
    assert not (FOLDER / "model.safetensors").exists()  # tiny-gpt's weights ship once


def test_a_damaged_or_missing_adapter_is_a_clear_checkpoint_error(tmp_path):
    folder = tmp_path / "my-instruct"
    shutil.copytree(FOLDER, folder)
    adapter = folder / "adapter.safetensors"
    adapter.write_bytes(adapter.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        lmkit.load(folder, device="cpu")
    adapter.unlink()
    with pytest.raises(CheckpointError, match=r"no adapter\.safetensors"):
        lmkit.load(folder, device="cpu")
    (folder / "config.json").write_text('{"model_type": "gpt-lora"}', encoding="utf-8")
    with pytest.raises(CheckpointError, match="base_model"):
        lmkit.load(folder, device="cpu")


def test_the_recipe_defaults_made_the_shipped_adapter():
    defaults = json.loads(json.dumps(TinyGptInstructRecipe().to_dict()))
    assert METRICS["recipe"] == defaults
    assert METRICS["chosen"] == min(METRICS["rank_selection"], key=lambda row: row["val_loss"])


def test_shipped_qa_numbers_re_measure_and_beat_tiny_gpt(models, graded):
    base, tuned = models
    eot = base.tokenizer.eos_id
    scores = {}
    for task in ("qa_en", "qa_zh"):
        items = [e for e in graded if e.task == task]
        assert len(items) == METRICS["data"]["graded"][task] > 20
        answers = {
            name: [respond(m.model, m.tokenizer, e, eot) for e in items]
            for name, m in (("base", base), ("instruct", tuned))
        }
        scores[task] = {name: exact_match(a, items) for name, a in answers.items()}
        # the same greedy answers on the same files: at most one instruction may differ
        for name in ("base", "instruct"):
            shipped = METRICS["exact_match"][name][task]
            assert scores[task][name] == pytest.approx(shipped, abs=1.01 / len(items))
    for task, score in scores.items():
        assert score["instruct"] >= score["base"] + 0.2, (task, score)


def test_the_shipped_example_answers_re_measure(models, graded):
    tuned = models[1]
    by_input = {(e.instruction, e.input): e for e in graded}
    for example in METRICS["examples"]:
        item = by_input[(example["instruction"], example["input"])]
        answer = respond(tuned.model, tuned.tokenizer, item, tuned.tokenizer.eos_id)
        assert answer == example["instruct"]
        assert example["right"] == item.response


def test_a_smoke_run_writes_a_complete_folder_that_loads(tmp_path):
    out = tmp_path / "instruct"
    metrics = recipe_module.train_tiny_gpt_instruct(TinyGptInstructRecipe.smoke(), out, quiet=True)
    names = {p.name for p in out.iterdir()}
    assert names == {"config.json", "adapter.safetensors", "metrics.json", "MODEL_CARD.md"}
    saved = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert saved["chosen"]["r"] == 2 and set(saved["exact_match"]["instruct"]) == set(
        recipe_module.TASKS
    )
    assert (out / "MODEL_CARD.md").read_text(encoding="utf-8") == recipe_module.model_card(saved)
    assert metrics["adapter_bytes"] == (out / "adapter.safetensors").stat().st_size
    loaded = lmkit.load(out, device="cpu")
    assert loaded.kind == "causal-lm"
    text = loaded.generate_text(format_instruction("Where did Tom go?", "Tom went home."),
                                strategy="greedy", max_new_tokens=3)  # fmt: skip
    assert isinstance(text, str)
