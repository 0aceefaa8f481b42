"""The shipped tiny-bert (loaded offline, re-measured on fresh stories) and its recipe.

The shipped metrics were measured on 2,000 held-out stories; here a fresh sample (another
seed, 120 stories per language, about 900 masked tokens each) is measured independently of
the recipe's code: masking with lmkit.bert.mlm.mask_tokens, the loss and accuracy computed here. With
about 900 tokens the accuracy's standard deviation is under 1.7 points, so a difference of 6
points would be a real disagreement, not noise.
"""

from __future__ import annotations

import json
import random
import socket

import pytest
import safetensors.torch
import torch
import torch.nn.functional as F

from lmkit import hub
from lmkit.bert.mlm import fill_mask, mask_tokens
from lmkit.bert.model import BertForMaskedLM
from lmkit.data.story_corpus import story_texts
from lmkit.errors import ConfigError
from lmkit.recipes import tiny_bert as tb
from lmkit.tokenizers.bert_bpe import BertBPETokenizer

MODEL_DIR = hub.WEIGHTS_DIR / "tiny-bert"
FRESH_SEED = 12345


@pytest.fixture(scope="module")
def shipped():
    return hub.load("tiny-bert", device="cpu")


@pytest.fixture(scope="module")
def metrics():
    return json.loads((MODEL_DIR / "metrics.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fresh_stories():
    stories = story_texts(FRESH_SEED, 240)
    return {lang: [t for lg, t in stories if lg == lang][:120] for lang in ("en", "zh")}


def test_loads_offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = hub.load("tiny-bert", device="cpu")
    assert loaded.kind == "masked-lm" and loaded.source == "builtin"
    assert isinstance(loaded.model, BertForMaskedLM) and not loaded.model.training
    assert isinstance(loaded.tokenizer, BertBPETokenizer)
    assert "tiny-bert" in hub.available_models("masked-lm")
    assert loaded.card.startswith("# tiny-bert")


def test_files_sizes_and_config(shipped, metrics):
    for name in ("model.safetensors", "config.json", "tokenizer.json", "MODEL_CARD.md"):
        assert (MODEL_DIR / name).is_file()
    weights = (MODEL_DIR / "model.safetensors").stat().st_size
    assert weights == metrics["weights_bytes"] <= 5e6
    assert shipped.model.config.to_dict() == metrics["model_config"]
    tensors = safetensors.torch.load_file(str(MODEL_DIR / "model.safetensors"))
    assert sum(t.numel() for t in tensors.values()) == metrics["parameters"]  # tied: once
    assert shipped.tokenizer.vocab_size == shipped.model.config.vocab_size
    assert list(shipped.tokenizer.special_tokens) == ["[PAD]", "[CLS]", "[SEP]", "[MASK]"]
    assert shipped.model.config.pad_id == shipped.tokenizer.pad_id


def test_metrics_are_complete_and_plausible(metrics):
    for lang in ("en", "zh"):
        e = metrics["evaluation"][lang]
        assert e["stories"] >= 900 and e["mlm"]["tokens"] > 3000
        assert 0.4 <= e["mlm"]["accuracy"] <= 1.0
        assert 0.0 < e["mlm"]["loss"] < 3.0
        assert e["single_blank"]["top1"] <= e["single_blank"]["top5"]
    t = metrics["training"]
    assert t["steps"] == metrics["recipe"]["steps"] and t["train_seconds"] < 30 * 60
    assert len(metrics["fill_mask_examples"]) >= 4


def _masked_accuracy(model, tokenizer, texts, seed):
    generator = torch.Generator().manual_seed(seed)
    losses, hits, total = 0.0, 0, 0
    for text in texts:
        ids = torch.tensor([tokenizer.encode(text)])
        out = mask_tokens(
            ids, mask_id=tokenizer.mask_id, vocab_size=tokenizer.vocab_size,
            special_ids=tokenizer.special_tokens.values(), generator=generator,
        )  # fmt: skip
        keep = out.labels[0] != -100
        if not keep.any():
            continue
        with torch.no_grad():
            logits = model(out.input_ids).logits[0][keep]
        losses += float(F.cross_entropy(logits, out.labels[0][keep], reduction="sum"))
        hits += int((logits.argmax(-1) == out.labels[0][keep]).sum())
        total += int(keep.sum())
    return losses / total, hits / total, total


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_fresh_stories_agree_with_metrics(shipped, metrics, fresh_stories, lang):
    loss, accuracy, tokens = _masked_accuracy(
        shipped.model, shipped.tokenizer, fresh_stories[lang], seed=7
    )
    assert tokens > 400
    recorded = metrics["evaluation"][lang]["mlm"]
    assert accuracy == pytest.approx(recorded["accuracy"], abs=0.06)
    assert loss == pytest.approx(recorded["loss"], abs=0.3)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_single_blanks_are_filled_far_better_than_chance(shipped, fresh_stories, lang):
    model, tokenizer = shipped.model, shipped.tokenizer
    rng, hits = random.Random(3), 0
    for text in fresh_stories[lang]:
        ids = tokenizer.encode(text)
        position = rng.randrange(1, len(ids) - 1)
        blanked = [*ids[:position], tokenizer.mask_id, *ids[position + 1 :]]
        with torch.no_grad():
            logits = model(torch.tensor([blanked])).logits[0, position]
        hits += int(logits.argmax()) == ids[position]
    chance = 1 / (tokenizer.vocab_size - 4)
    assert hits / len(fresh_stories[lang]) > max(0.3, 50 * chance)


@pytest.mark.parametrize(
    ("text", "answers", "top"),
    [
        (
            "At seven in the [MASK], Jenny took the bus home.",
            {"morning", "afternoon", "evening"},
            1,
        ),
        ("Tom has a dog. The [MASK] was very hungry.", {"dog"}, 5),
        ("安娜喜欢吃苹[MASK]。", {"果"}, 1),
        ("下午，他们去了公园。他们在公[MASK]里玩得很开心。", {"园"}, 1),
    ],
)
def test_fill_mask_gets_obvious_blanks(shipped, text, answers, top):
    guesses = [c.token.strip() for c in fill_mask(shipped, text)[0][:top]]
    assert answers & set(guesses), guesses


# ---------------------------------------------------------------- the recipe, on a toy config
@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-bert")
    model, _, metrics = tb.train_tiny_bert(tb.TinyBertRecipe.smoke(), out, device="cpu", log=None)
    return out, model, metrics


def test_recipe_writes_a_loadable_folder(smoke_run):
    out, model, _ = smoke_run
    loaded = hub.load(str(out), device="cpu")
    assert loaded.kind == "masked-lm"
    torch.testing.assert_close(loaded.model.decoder_bias, model.decoder_bias)
    saved = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert saved["evaluation"].keys() == {"en", "zh"}
    assert saved["training"]["steps"] == 4 and len(saved["training"]["history"]) == 2
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    for section in ("## Data", "## Training", "## Metrics", "## Fill-mask examples",
                    "## Intended use", "## Limitations"):  # fmt: skip
        assert section in card


def test_recipe_is_reproducible(smoke_run, tmp_path):
    out, _, _ = smoke_run
    tb.main(["--smoke", "--quiet", "--out", str(tmp_path / "again")])
    first = safetensors.torch.load_file(str(out / "model.safetensors"))
    second = safetensors.torch.load_file(str(tmp_path / "again" / "model.safetensors"))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize(
    "overrides", [{"steps": 0}, {"lr": 0.0}, {"warmup_steps": 10, "steps": 5}, {"seed": -1}]
)
def test_recipe_rejects_bad_settings(overrides):
    with pytest.raises(ConfigError):
        tb.TinyBertRecipe(**overrides)
