"""lmkit's BERT: masks, heads, save/load, its tokenizer and bad input (parity with transformers
is in test_bert_hf.py)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from model_factories import BERT_VOCAB, bert_batch, bert_config, random_bert

from lmkit import hub
from lmkit.bert.model import (
    BertConfig,
    BertEncoder,
    BertForMaskedLM,
    BertForSequenceClassification,
)
from lmkit.data import StoryWorld
from lmkit.errors import ConfigError, InputError
from lmkit.tokenizers import load_tokenizer
from lmkit.tokenizers.bert_bpe import BertBPETokenizer
from lmkit.training.checkpoint import load_model, save_model


def test_classifier_loss_matches_torch_cross_entropy():
    model = random_bert(BertForSequenceClassification)
    ids, mask, _ = bert_batch()
    target = torch.tensor([0, 2, 1])
    out = model(ids, mask, labels=target)
    manual = torch.nn.CrossEntropyLoss()(out.logits, target)
    torch.testing.assert_close(out.loss, manual)

CLASSES = [BertEncoder, BertForMaskedLM, BertForSequenceClassification]


def main_output(out):
    return out.hidden if hasattr(out, "hidden") else out.logits


# ---------------------------------------------------------------- masks and embeddings
def test_padding_does_not_change_the_real_tokens():
    model = random_bert(BertForSequenceClassification)
    ids, _, _ = bert_batch()
    alone = model(ids[:1, :5]).logits
    padded_ids = torch.cat([ids[:1, :5], torch.zeros(1, 6, dtype=torch.long)], dim=1)
    mask = torch.tensor([[1] * 5 + [0] * 6])
    padded = model(padded_ids, mask, return_attention=True)
    torch.testing.assert_close(padded.logits, alone, atol=1e-5, rtol=0)
    fast = model(padded_ids, mask).logits
    torch.testing.assert_close(fast, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cls", [BertForMaskedLM, BertForSequenceClassification])
def test_inputs_embeds_give_the_same_logits(cls):
    model = random_bert(cls)
    ids, mask, _ = bert_batch()
    embeds = model.input_embeddings(ids)
    assert embeds.shape == (3, 12, 32)
    torch.testing.assert_close(
        model(None, mask, inputs_embeds=embeds).logits, model(ids, mask).logits
    )
    embeds = embeds.detach().requires_grad_(True)  # saliency: gradients reach the embeddings
    model(inputs_embeds=embeds, attention_mask=mask).logits.sum().backward()
    assert embeds.grad is not None and embeds.grad.abs().sum() > 0


def test_classifier_interface():
    model = random_bert(BertForSequenceClassification)
    assert model.kind == "classifier"
    assert model.labels == ("neg", "neutral", "pos")
    assert random_bert(BertForMaskedLM).kind == "masked-lm"
    out = model(bert_batch()[0], return_attention=True)
    assert out.logits.shape == (3, 3)
    for weights in out.attentions:
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 12))


def test_decoder_is_tied_to_the_word_embeddings():
    model = BertForMaskedLM(bert_config())
    assert model.decoder.weight is model.bert.embeddings.word.weight


# ---------------------------------------------------------------- save and load
@pytest.mark.parametrize("cls", CLASSES)
def test_save_and_load_round_trip(cls, tmp_path):
    model = random_bert(cls)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is cls
    assert loaded.config == model.config
    ids, mask, _ = bert_batch()
    torch.testing.assert_close(main_output(loaded(ids, mask)), main_output(model(ids, mask)))
    if cls is BertForMaskedLM:
        assert loaded.decoder.weight is loaded.bert.embeddings.word.weight


def test_hub_loads_a_bert_folder(tmp_path):
    text = StoryWorld(0).corpus(4)
    tokenizer = BertBPETokenizer.train_bert(text, 280)
    model = random_bert(BertForSequenceClassification, vocab_size=tokenizer.vocab_size, max_position=64,
                 pad_id=tokenizer.pad_id, labels=("negative", "positive"))  # fmt: skip
    folder = tmp_path / "clf"
    save_model(model, folder)
    tokenizer.save(folder / "tokenizer.json")
    loaded = hub.load(str(folder), device="cpu")
    assert loaded.kind == "classifier"
    assert loaded.model.labels == ("negative", "positive")
    ids = loaded.tokenizer.encode("Tom was happy.")
    assert ids[0] == tokenizer.cls_id and ids[-1] == tokenizer.sep_id


def test_bert_tokenizer_wraps_and_round_trips(tmp_path):
    tokenizer = BertBPETokenizer.train_bert(StoryWorld(1).corpus(3, "both"), 300)
    assert list(tokenizer.special_tokens) == ["[PAD]", "[CLS]", "[SEP]", "[MASK]"]
    text = "Anna likes apples. 安娜喜欢吃苹果。"
    bare = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.encode(text) == [tokenizer.cls_id, *bare, tokenizer.sep_id]
    assert tokenizer.decode(bare) == text
    # "[MASK]" typed by a user is text unless allowed
    assert tokenizer.mask_id not in tokenizer.encode("a [MASK] b")
    assert tokenizer.mask_id in tokenizer.encode("a [MASK] b", allowed_special={"[MASK]"})
    again = load_tokenizer(tokenizer.save(tmp_path / "tok.json"))
    assert type(again) is BertBPETokenizer and again.encode(text) == tokenizer.encode(text)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"n_embd": 30}, "divisible by n_head"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"pad_id": BERT_VOCAB}, "pad_id"),
        ({"dropout": 1.0}, "dropout"),
        ({"labels": ("a", "a")}, "distinct"),
        ({"labels": "ab"}, "labels"),
        ({"layer_norm_eps": 0}, "layer_norm_eps"),
    ],
)
def test_config_rejects_bad_values(overrides, match):
    with pytest.raises(ConfigError, match=match):
        bert_config(**overrides)


def test_config_dict_round_trip_and_unknown_keys():
    config = bert_config()
    assert BertConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="Unknown"):
        BertConfig.from_dict({**config.to_dict(), "hidden_size": 3})


def test_classifier_needs_two_labels():
    with pytest.raises(ConfigError, match="two labels"):
        BertForSequenceClassification(bert_config(labels=()))


@pytest.fixture(scope="module")
def classifier():
    return random_bert(BertForSequenceClassification)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: m(torch.zeros(1, 17, dtype=torch.long)), "at most 16"),
        (lambda m: m(torch.tensor([[1, BERT_VOCAB]])), r"\[0, 61\)"),
        (lambda m: m(torch.tensor([[-1, 2]])), r"\[0, 61\)"),
        (lambda m: m(torch.tensor([1, 2])), "unsqueeze"),
        (lambda m: m(torch.tensor([[1.0, 2.0]])), "integer ids"),
        (lambda m: m(torch.zeros(1, 0, dtype=torch.long)), "at least one token"),
        (lambda m: m(torch.ones(1, 3, dtype=torch.long), torch.ones(1, 4)), "attention_mask"),
        (lambda m: m(torch.ones(1, 3, dtype=torch.long), torch.tensor([[1, 2, 0]])), "only hold"),
        (lambda m: m(torch.ones(1, 3, dtype=torch.long), torch.zeros(1, 3)), "at least one real"),
        (lambda m: m(None), "Pass input_ids"),
        (lambda m: m(torch.ones(1, 4, dtype=torch.long), inputs_embeds=torch.zeros(1, 3, 32)), "different inputs"),
        (lambda m: m(inputs_embeds=torch.zeros(1, 3, 31)), "inputs_embeds"),
        (lambda m: m(torch.ones(1, 3, dtype=torch.long), token_type_ids=torch.full((1, 3), 2)), "segment"),
    ],
)  # fmt: skip
def test_bad_input_gives_clear_errors(classifier, call, match):
    with pytest.raises(InputError, match=match):
        call(classifier)


def test_inputs_embeds_replaces_the_lookup_even_when_input_ids_come_along(classifier):
    # Saliency passes both: the ids for shape and masks, the embeddings to differentiate.
    ids = torch.tensor([[2, 7, 9, 3]])
    embeds = classifier.input_embeddings(ids)
    with torch.no_grad():
        from_ids = classifier(ids).logits
        both = classifier(ids, inputs_embeds=embeds).logits
        # (a constant shift would vanish in the LayerNorm that follows; noise does not)
        shifted = classifier(ids, inputs_embeds=embeds + torch.randn_like(embeds)).logits
    torch.testing.assert_close(both, from_ids)
    assert not torch.allclose(shifted, from_ids)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=1, max_size=16))
def test_any_ids_are_either_accepted_or_rejected_clearly(classifier, values):
    ids = torch.tensor([values])
    if all(0 <= v < BERT_VOCAB for v in values):
        assert torch.isfinite(classifier(ids).logits).all()
    else:
        with pytest.raises(InputError, match="Token ids must be in"):
            classifier(ids)
