"""Convert lmkit's BERT models to and from Hugging Face ``transformers``.

Introduced in chapter 9. Both sides hold the same tensors under different names; this module
is the dictionary between them. :func:`to_hf` builds the matching ``transformers`` class
(``BertModel``, ``BertForMaskedLM`` or ``BertForSequenceClassification``) with eager attention,
so ``output_attentions=True`` gives the maps that lmkit returns with ``return_attention=True``;
:func:`from_hf` goes the other way. ``transformers`` is an optional dependency.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lmkit._optional import require
from lmkit.bert.model import BertConfig, BertEncoder, BertForMaskedLM, BertForSequenceClassification
from lmkit.errors import ConfigError, InputError

_EMBEDDINGS = {
    "embeddings.word.weight": "embeddings.word_embeddings.weight",
    "embeddings.position.weight": "embeddings.position_embeddings.weight",
    "embeddings.token_type.weight": "embeddings.token_type_embeddings.weight",
    "embeddings.ln.weight": "embeddings.LayerNorm.weight",
    "embeddings.ln.bias": "embeddings.LayerNorm.bias",
}
_LAYER = {
    "attn.query": "attention.self.query",
    "attn.key": "attention.self.key",
    "attn.value": "attention.self.value",
    "attn.out": "attention.output.dense",
    "ln_attn": "attention.output.LayerNorm",
    "mlp_in": "intermediate.dense",
    "mlp_out": "output.dense",
    "ln_mlp": "output.LayerNorm",
}
_MLM_HEAD = {
    "transform.weight": "cls.predictions.transform.dense.weight",
    "transform.bias": "cls.predictions.transform.dense.bias",
    "transform_ln.weight": "cls.predictions.transform.LayerNorm.weight",
    "transform_ln.bias": "cls.predictions.transform.LayerNorm.bias",
    "decoder_bias": "cls.predictions.bias",
}


def hf_config(config: BertConfig) -> Any:
    """The ``transformers.BertConfig`` with the same sizes (eager attention, exact GELU)."""
    transformers = require("transformers", "converting BERT models to Hugging Face")
    labels = config.labels or ("LABEL_0", "LABEL_1")
    hf = transformers.BertConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.n_embd,
        num_hidden_layers=config.n_layer,
        num_attention_heads=config.n_head,
        intermediate_size=config.intermediate,
        hidden_act="gelu",
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout,
        max_position_embeddings=config.max_position,
        type_vocab_size=config.type_vocab_size,
        layer_norm_eps=config.layer_norm_eps,
        pad_token_id=config.pad_id,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    hf._attn_implementation = "eager"
    return hf


def config_from_hf(hf: Any, labels: tuple[str, ...] = ()) -> BertConfig:
    """A :class:`BertConfig` from a ``transformers.BertConfig``; refuses what lmkit lacks."""
    if getattr(hf, "hidden_act", "gelu") != "gelu":
        raise ConfigError(f"lmkit's BERT uses the exact GELU; this model uses {hf.hidden_act!r}.")
    if hf.hidden_dropout_prob != hf.attention_probs_dropout_prob:
        raise ConfigError("lmkit's BERT uses one dropout rate; this model has two different ones.")
    return BertConfig(
        vocab_size=hf.vocab_size,
        max_position=hf.max_position_embeddings,
        n_layer=hf.num_hidden_layers,
        n_head=hf.num_attention_heads,
        n_embd=hf.hidden_size,
        intermediate=hf.intermediate_size,
        dropout=float(hf.hidden_dropout_prob),
        layer_norm_eps=float(hf.layer_norm_eps),
        pad_id=hf.pad_token_id if hf.pad_token_id is not None else 0,
        type_vocab_size=hf.type_vocab_size,
        labels=labels,
    )


def _name_map(model: nn.Module) -> dict[str, str]:
    """lmkit parameter name -> Hugging Face parameter name, for every tensor of ``model``."""
    encoder = model if isinstance(model, BertEncoder) else model.bert
    prefix, hf_prefix = ("", "") if isinstance(model, BertEncoder) else ("bert.", "bert.")
    names = {prefix + k: hf_prefix + v for k, v in _EMBEDDINGS.items()}
    for i in range(len(encoder.layers)):
        for ours, theirs in _LAYER.items():
            for kind in ("weight", "bias"):
                names[f"{prefix}layers.{i}.{ours}.{kind}"] = (
                    f"{hf_prefix}encoder.layer.{i}.{theirs}.{kind}"
                )
    if encoder.pooler is not None:
        for kind in ("weight", "bias"):
            names[f"{prefix}pooler.{kind}"] = f"{hf_prefix}pooler.dense.{kind}"
    if isinstance(model, BertForMaskedLM):
        names.update(_MLM_HEAD)
    if isinstance(model, BertForSequenceClassification):
        names.update(
            {"classifier.weight": "classifier.weight", "classifier.bias": "classifier.bias"}
        )
    return names


def to_hf(model: nn.Module) -> nn.Module:
    """The ``transformers`` twin of an lmkit BERT model, same weights, eager attention."""
    transformers = require("transformers", "converting BERT models to Hugging Face")
    classes = {
        BertEncoder: "BertModel",
        BertForMaskedLM: "BertForMaskedLM",
        BertForSequenceClassification: "BertForSequenceClassification",
    }
    if type(model) not in classes:
        raise InputError(f"to_hf expects an lmkit BERT model, got {type(model).__name__}.")
    if isinstance(model, BertEncoder) and model.pooler is None:
        raise InputError("transformers' BertModel has a pooler; build BertEncoder(pooler=True).")
    hf_cls = getattr(transformers, classes[type(model)])
    hf_model = hf_cls._from_config(hf_config(model.config), attn_implementation="eager")
    ours = model.state_dict()
    theirs = {hf: ours[name] for name, hf in _name_map(model).items()}
    if isinstance(model, BertForMaskedLM):
        theirs["cls.predictions.decoder.weight"] = ours["bert.embeddings.word.weight"]
        theirs["cls.predictions.decoder.bias"] = ours["decoder_bias"]
    missing, unexpected = hf_model.load_state_dict(theirs, strict=False)
    if unexpected or [k for k in missing if not k.endswith("position_ids")]:
        raise ConfigError(f"Weight names did not line up: missing {missing}, extra {unexpected}.")
    return hf_model.to(next(model.parameters()).device).eval()


def from_hf(hf_model: nn.Module) -> nn.Module:
    """An lmkit BERT model with the weights of a ``transformers`` BERT model."""
    transformers = require("transformers", "converting BERT models from Hugging Face")
    if isinstance(hf_model, transformers.BertForSequenceClassification):
        id2label = hf_model.config.id2label
        labels = tuple(str(id2label[i]) for i in range(hf_model.config.num_labels))
        model: nn.Module = BertForSequenceClassification(config_from_hf(hf_model.config, labels))
    elif isinstance(hf_model, transformers.BertForMaskedLM):
        model = BertForMaskedLM(config_from_hf(hf_model.config))
    elif isinstance(hf_model, transformers.BertModel):
        if hf_model.pooler is None:
            raise InputError("from_hf needs a BertModel with its pooler (add_pooling_layer=True).")
        model = BertEncoder(config_from_hf(hf_model.config))
    else:
        raise InputError(
            f"from_hf expects transformers' BertModel, BertForMaskedLM or "
            f"BertForSequenceClassification, got {type(hf_model).__name__}."
        )
    theirs = hf_model.state_dict()
    with torch.no_grad():
        ours = model.state_dict()
        for name, hf_name in _name_map(model).items():
            ours[name].copy_(theirs[hf_name])
    return model.to(next(hf_model.parameters()).device).eval()


__all__ = ["config_from_hf", "from_hf", "hf_config", "to_hf"]
