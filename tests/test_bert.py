"""lmkit's BERT: parity with transformers on random weights, masks, save/load, bad input."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

transformers = pytest.importorskip("transformers")

from lmkit import hub  # noqa: E402
from lmkit.bert.interop import from_hf, to_hf  # noqa: E402
from lmkit.bert.model import (  # noqa: E402
    BertConfig,
    BertEncoder,
    BertForMaskedLM,
    BertForSequenceClassification,
)
from lmkit.data import StoryWorld  # noqa: E402
from lmkit.errors import ConfigError, InputError  # noqa: E402
from lmkit.tokenizers import load_tokenizer  # noqa: E402
from lmkit.tokenizers.bert_bpe import BertBPETokenizer  # noqa: E402
from lmkit.training.checkpoint import load_model, save_model  # noqa: E402

VOCAB = 61
CLASSES = [BertEncoder, BertForMaskedLM, BertForSequenceClassification]


def tiny(**overrides) -> BertConfig:
    base = {
        "vocab_size": VOCAB, "max_position": 16, "n_layer": 2, "n_head": 4, "n_embd": 32,
        "intermediate": 48, "dropout": 0.0, "labels": ("neg", "neutral", "pos"),
    }  # fmt: skip
    return BertConfig(**{**base, **overrides})


def make(cls, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    model = cls(tiny(**overrides)).eval()
    with torch.no_grad():  # larger than the 0.02 init, so that differences would show
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model


def batch(seed: int = 1):
    """Ids (3, 12), a padding mask with two padded rows, and segment ids."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (3, 12), generator=g)
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[1, 7:] = 0
    mask[2, 2:] = 0
    types = torch.randint(0, 2, (3, 12), generator=g)
    return ids, mask, types


def main_output(out):
    return out.hidden if hasattr(out, "hidden") else out.logits


def hf_output(out):
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out.logits


# ---------------------------------------------------------------- parity with transformers
@pytest.mark.parametrize("cls", CLASSES)
def test_outputs_and_attention_maps_match_transformers(cls):
    model = make(cls)
    reference = to_hf(model)
    ids, mask, types = batch()
    ours = model(ids, mask, token_type_ids=types, return_attention=True)
    fast = model(ids, mask, token_type_ids=types)
    theirs = reference(
        input_ids=ids, attention_mask=mask, token_type_ids=types, output_attentions=True
    )
    real = mask.bool()  # hidden states at padded positions are meaningless on both sides
    if cls is BertEncoder:
        torch.testing.assert_close(
            ours.hidden[real], theirs.last_hidden_state[real], atol=1e-5, rtol=0
        )
        torch.testing.assert_close(ours.pooled, theirs.pooler_output, atol=1e-5, rtol=0)
    elif cls is BertForMaskedLM:
        torch.testing.assert_close(ours.logits[real], theirs.logits[real], atol=1e-5, rtol=0)
    else:
        torch.testing.assert_close(ours.logits, theirs.logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(main_output(fast), main_output(ours), atol=1e-5, rtol=0)
    assert len(ours.attentions) == len(theirs.attentions) == 2
    for a, b in zip(ours.attentions, theirs.attentions, strict=True):
        assert a.shape == (3, 4, 12, 12)
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
        assert torch.all(a[2, :, :, 2:] == 0)  # no attention to padding
    assert fast.attentions is None


@pytest.mark.parametrize("cls", CLASSES)
def test_from_transformers_gives_the_same_model(cls):
    hf_cls = {
        BertEncoder: transformers.BertModel,
        BertForMaskedLM: transformers.BertForMaskedLM,
        BertForSequenceClassification: transformers.BertForSequenceClassification,
    }[cls]
    torch.manual_seed(3)
    config = transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=48, max_position_embeddings=16, num_labels=2,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    reference = hf_cls._from_config(config, attn_implementation="eager").eval()
    with torch.no_grad():
        for p in reference.parameters():
            p.normal_(0.0, 0.3)
    model = from_hf(reference)
    ids, mask, types = batch(seed=5)
    ours = main_output(model(ids, mask, token_type_ids=types))
    theirs = hf_output(reference(input_ids=ids, attention_mask=mask, token_type_ids=types))
    real = mask.bool()
    if ours.dim() == 3:
        ours, theirs = ours[real], theirs[real]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    if cls is BertForSequenceClassification:
        assert model.labels == ("LABEL_0", "LABEL_1")


def test_masked_lm_loss_matches_transformers():
    model = make(BertForMaskedLM)
    reference = to_hf(model)
    ids, mask, _ = batch()
    labels = torch.full_like(ids, -100)
    labels[0, 3], labels[1, 5], labels[2, 1] = 7, 11, 2
    ours = model(ids, mask, labels=labels).loss
    theirs = reference(input_ids=ids, attention_mask=mask, labels=labels).loss
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    model.train()  # the training path only runs the head on labelled positions
    torch.testing.assert_close(model(ids, mask, labels=labels).loss, theirs, atol=1e-5, rtol=0)


def test_classifier_loss_matches_torch_cross_entropy():
    model = make(BertForSequenceClassification)
    ids, mask, _ = batch()
    target = torch.tensor([0, 2, 1])
    out = model(ids, mask, labels=target)
    manual = torch.nn.CrossEntropyLoss()(out.logits, target)
    torch.testing.assert_close(out.loss, manual)


# ---------------------------------------------------------------- masks and embeddings
def test_padding_does_not_change_the_real_tokens():
    model = make(BertForSequenceClassification)
    ids, _, _ = batch()
    alone = model(ids[:1, :5]).logits
    padded_ids = torch.cat([ids[:1, :5], torch.zeros(1, 6, dtype=torch.long)], dim=1)
    mask = torch.tensor([[1] * 5 + [0] * 6])
    padded = model(padded_ids, mask, return_attention=True)
    torch.testing.assert_close(padded.logits, alone, atol=1e-5, rtol=0)
    fast = model(padded_ids, mask).logits
    torch.testing.assert_close(fast, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cls", [BertForMaskedLM, BertForSequenceClassification])
def test_inputs_embeds_give_the_same_logits(cls):
    model = make(cls)
    ids, mask, _ = batch()
    embeds = model.input_embeddings(ids)
    assert embeds.shape == (3, 12, 32)
    torch.testing.assert_close(
        model(None, mask, inputs_embeds=embeds).logits, model(ids, mask).logits
    )
    embeds = embeds.detach().requires_grad_(True)  # saliency: gradients reach the embeddings
    model(inputs_embeds=embeds, attention_mask=mask).logits.sum().backward()
    assert embeds.grad is not None and embeds.grad.abs().sum() > 0


def test_classifier_interface():
    model = make(BertForSequenceClassification)
    assert model.kind == "classifier"
    assert model.labels == ("neg", "neutral", "pos")
    assert make(BertForMaskedLM).kind == "masked-lm"
    out = model(batch()[0], return_attention=True)
    assert out.logits.shape == (3, 3)
    for weights in out.attentions:
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 12))


def test_decoder_is_tied_to_the_word_embeddings():
    model = BertForMaskedLM(tiny())
    assert model.decoder.weight is model.bert.embeddings.word.weight


# ---------------------------------------------------------------- save and load
@pytest.mark.parametrize("cls", CLASSES)
def test_save_and_load_round_trip(cls, tmp_path):
    model = make(cls)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is cls
    assert loaded.config == model.config
    ids, mask, _ = batch()
    torch.testing.assert_close(main_output(loaded(ids, mask)), main_output(model(ids, mask)))
    if cls is BertForMaskedLM:
        assert loaded.decoder.weight is loaded.bert.embeddings.word.weight


def test_hub_loads_a_bert_folder(tmp_path):
    text = StoryWorld(0).corpus(4)
    tokenizer = BertBPETokenizer.train_bert(text, 280)
    model = make(BertForSequenceClassification, vocab_size=tokenizer.vocab_size, max_position=64,
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


def test_hf_config_fields_line_up():
    from lmkit.bert.interop import config_from_hf, hf_config

    config = tiny(dropout=0.1, layer_norm_eps=1e-5, pad_id=3, type_vocab_size=1)
    hf = hf_config(config)
    assert (hf.hidden_size, hf.num_hidden_layers, hf.num_attention_heads) == (32, 2, 4)
    assert (hf.intermediate_size, hf.max_position_embeddings, hf.pad_token_id) == (48, 16, 3)
    assert hf.id2label == {0: "neg", 1: "neutral", 2: "pos"}
    assert config_from_hf(hf, config.labels) == config


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"n_embd": 30}, "divisible by n_head"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"pad_id": VOCAB}, "pad_id"),
        ({"dropout": 1.0}, "dropout"),
        ({"labels": ("a", "a")}, "distinct"),
        ({"labels": "ab"}, "labels"),
        ({"layer_norm_eps": 0}, "layer_norm_eps"),
    ],
)
def test_config_rejects_bad_values(overrides, match):
    with pytest.raises(ConfigError, match=match):
        tiny(**overrides)


def test_config_dict_round_trip_and_unknown_keys():
    config = tiny()
    assert BertConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="Unknown"):
        BertConfig.from_dict({**config.to_dict(), "hidden_size": 3})


def test_classifier_needs_two_labels():
    with pytest.raises(ConfigError, match="two labels"):
        BertForSequenceClassification(tiny(labels=()))


@pytest.fixture(scope="module")
def classifier():
    return make(BertForSequenceClassification)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: m(torch.zeros(1, 17, dtype=torch.long)), "at most 16"),
        (lambda m: m(torch.tensor([[1, VOCAB]])), r"\[0, 61\)"),
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
    if all(0 <= v < VOCAB for v in values):
        assert torch.isfinite(classifier(ids).logits).all()
    else:
        with pytest.raises(InputError, match="Token ids must be in"):
            classifier(ids)
