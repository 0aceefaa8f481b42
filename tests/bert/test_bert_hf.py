"""lmkit's BERT against transformers' on the same random weights: outputs, attention maps,
losses and config fields (needs the ``hf`` extra; the rest of BERT's tests do not)."""

from __future__ import annotations

import pytest
import torch
from model_factories import BERT_VOCAB, bert_batch, bert_config, random_bert

transformers = pytest.importorskip("transformers")

from lmkit.bert.interop import from_hf, to_hf  # noqa: E402
from lmkit.bert.model import (  # noqa: E402
    BertEncoder,
    BertForMaskedLM,
    BertForSequenceClassification,
)

CLASSES = [BertEncoder, BertForMaskedLM, BertForSequenceClassification]


def main_output(out):
    return out.hidden if hasattr(out, "hidden") else out.logits


def hf_output(out):
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out.logits


# ---------------------------------------------------------------- parity with transformers
@pytest.mark.parametrize("cls", CLASSES)
def test_outputs_and_attention_maps_match_transformers(cls):
    model = random_bert(cls)
    reference = to_hf(model)
    ids, mask, types = bert_batch()
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
        vocab_size=BERT_VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=48, max_position_embeddings=16, num_labels=2,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    reference = hf_cls._from_config(config, attn_implementation="eager").eval()
    with torch.no_grad():
        for p in reference.parameters():
            p.normal_(0.0, 0.3)
    model = from_hf(reference)
    ids, mask, types = bert_batch(seed=5)
    ours = main_output(model(ids, mask, token_type_ids=types))
    theirs = hf_output(reference(input_ids=ids, attention_mask=mask, token_type_ids=types))
    real = mask.bool()
    if ours.dim() == 3:
        ours, theirs = ours[real], theirs[real]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    if cls is BertForSequenceClassification:
        assert model.labels == ("LABEL_0", "LABEL_1")


def test_masked_lm_loss_matches_transformers():
    model = random_bert(BertForMaskedLM)
    reference = to_hf(model)
    ids, mask, _ = bert_batch()
    labels = torch.full_like(ids, -100)
    labels[0, 3], labels[1, 5], labels[2, 1] = 7, 11, 2
    ours = model(ids, mask, labels=labels).loss
    theirs = reference(input_ids=ids, attention_mask=mask, labels=labels).loss
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    model.train()  # the training path only runs the head on labelled positions
    torch.testing.assert_close(model(ids, mask, labels=labels).loss, theirs, atol=1e-5, rtol=0)


def test_hf_config_fields_line_up():
    from lmkit.bert.interop import config_from_hf, hf_config

    config = bert_config(dropout=0.1, layer_norm_eps=1e-5, pad_id=3, type_vocab_size=1)
    hf = hf_config(config)
    assert (hf.hidden_size, hf.num_hidden_layers, hf.num_attention_heads) == (32, 2, 4)
    assert (hf.intermediate_size, hf.max_position_embeddings, hf.pad_token_id) == (48, 16, 3)
    assert hf.id2label == {0: "neg", 1: "neutral", 2: "pos"}
    assert config_from_hf(hf, config.labels) == config
