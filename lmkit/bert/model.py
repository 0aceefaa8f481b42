"""A BERT-style encoder, in reading order: config, embeddings, attention, layer, encoder, heads.

Introduced in chapter 9. Where GPT (:mod:`lmkit.gpt.model`) reads left to right, BERT reads the whole
text at once: every token attends to every other real token, and padding is hidden with a mask.

    token ids -> word + position + segment embeddings -> LayerNorm -> n_layer x BertLayer
              -> masked-LM head (a word at every position)  or  pooler on [CLS] -> classifier

Each :class:`BertLayer` is post-LN, as in the 2018 paper: ``ln(x + attn(x))`` then
``ln(x + mlp(x))``. The weights line up one to one with Hugging Face's ``BertModel``,
``BertForMaskedLM`` and ``BertForSequenceClassification`` (see :mod:`lmkit.bert.interop`), and
the tests check that both give the same logits and attention maps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import lmkit.tokenizers.bert_bpe  # noqa: F401  (registers the "bert_byte_bpe" tokenizer type)
from lmkit.bert.inputs import check_inputs
from lmkit.errors import ConfigError, InputError
from lmkit.nn.attention import scaled_dot_product_attention
from lmkit.nn.outputs import ClassifierOutput
from lmkit.validators import check_int, is_int, is_number

IGNORE_INDEX = -100  # label value that does not count in a loss (unmasked tokens, padding)


@dataclass
class BertConfig:
    """Every size of a BERT encoder; defaults are BERT-base (110M parameters).

    Field by field the same as Hugging Face's ``BertConfig`` under shorter names
    (``n_embd`` = ``hidden_size``…; :mod:`lmkit.bert.interop` converts). ``labels`` names the
    classes of a :class:`BertForSequenceClassification`. Introduced in chapter 11.
    """

    vocab_size: int = 30522
    max_position: int = 512  # longest input, [CLS] and [SEP] included
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    intermediate: int = 3072  # width of the feed-forward layer, 4 x n_embd in BERT
    dropout: float = 0.1  # BERT uses the same rate for hidden states and attention weights
    layer_norm_eps: float = 1e-12
    pad_id: int = 0
    type_vocab_size: int = 2  # segments A and B of sentence-pair inputs
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        sizes = ("vocab_size", "max_position", "n_layer", "n_head", "n_embd", "intermediate")
        for name in (*sizes, "type_vocab_size"):
            setattr(self, name, check_int(f"BertConfig.{name}", getattr(self, name), minimum=1))
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"BertConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}): "
                "each head gets n_embd / n_head dimensions."
            )
        if not is_int(self.pad_id) or not 0 <= self.pad_id < self.vocab_size:
            raise ConfigError(
                f"BertConfig.pad_id must be an id in [0, {self.vocab_size}), got {self.pad_id!r}."
            )
        if not is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"BertConfig.dropout must be in [0, 1), got {self.dropout!r}.")
        if not is_number(self.layer_norm_eps) or not 0.0 < self.layer_norm_eps < 1.0:
            raise ConfigError(
                f"BertConfig.layer_norm_eps must be a small positive number, got "
                f"{self.layer_norm_eps!r}."
            )
        if isinstance(self.labels, str) or not all(isinstance(x, str) and x for x in self.labels):
            raise ConfigError(
                f"BertConfig.labels must be a list of class names, got {self.labels!r}."
            )
        self.labels = tuple(self.labels)
        if len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"BertConfig.labels must be distinct, got {self.labels!r}.")

    @property
    def head_dim(self) -> int:
        """Size of one attention head: ``n_embd // n_head``."""
        return self.n_embd // self.n_head

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready dict of all fields."""
        data = asdict(self)
        data["labels"] = list(self.labels)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BertConfig:
        """Rebuild a config from :meth:`to_dict` output; unknown keys raise :class:`ConfigError`."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"BertConfig.from_dict expects a mapping, got {type(data).__name__}.")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"Unknown BertConfig field(s) {unknown}.")
        return cls(**dict(data))


# ------------------------------------------------------------------------------ outputs
@dataclass
class BertEncoderOutput:
    """``hidden`` (B, T, C); ``pooled`` (B, C) or None; ``attentions`` n_layer x (B, H, T, T)."""

    hidden: torch.Tensor
    pooled: torch.Tensor | None = None
    attentions: list[torch.Tensor] | None = None


@dataclass
class MaskedLMOutput:
    """``logits`` (B, T, vocab); ``loss`` over positions whose label is not -100, or None."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None
    attentions: list[torch.Tensor] | None = None


# ------------------------------------------------------------------------------ modules
class BertEmbeddings(nn.Module):
    """Word + learned position + segment embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(config.vocab_size, config.n_embd, padding_idx=config.pad_id)
        self.position = nn.Embedding(config.max_position, config.n_embd)
        self.token_type = nn.Embedding(config.type_vocab_size, config.n_embd)
        self.ln = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, words: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        """``words`` (B, T, C) are already looked up, so saliency can pass its own."""
        positions = torch.arange(words.shape[1], device=words.device)
        x = words + self.position(positions) + self.token_type(token_type_ids)
        return self.drop(self.ln(x))


class BertSelfAttention(nn.Module):
    """Bidirectional multi-head attention with separate q/k/v projections and an output one.

    The fast path is ``F.scaled_dot_product_attention``; the explicit path
    (:func:`lmkit.nn.attention.scaled_dot_product_attention`) runs when the maps are wanted.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.n_head, self.head_dim = config.n_head, config.head_dim
        self.query = nn.Linear(config.n_embd, config.n_embd)
        self.key = nn.Linear(config.n_embd, config.n_embd)
        self.value = nn.Linear(config.n_embd, config.n_embd)
        self.out = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout

    def forward(
        self, x: torch.Tensor, padding: torch.Tensor | None, return_weights: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x`` (B, T, C), ``padding`` (B, T) bool True at padding -> (B, T, C), weights."""
        b, t, c = x.shape

        def heads(proj: nn.Linear) -> torch.Tensor:
            return proj(x).view(b, t, self.n_head, self.head_dim).transpose(1, 2)  # (B,H,T,hd)

        q, k, v = heads(self.query), heads(self.key), heads(self.value)
        dropout_p = self.dropout if self.training else 0.0
        weights = None
        if return_weights:
            y, weights = scaled_dot_product_attention(
                q, k, v, key_padding_mask=padding, dropout_p=dropout_p, return_weights=True
            )
        else:
            # bool mask for SDPA: True = may attend; (B, 1, 1, T) broadcasts over heads/queries
            mask = None if padding is None else ~padding[:, None, None, :]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        return self.out(y.transpose(1, 2).reshape(b, t, c)), weights


class BertLayer(nn.Module):
    """One post-LN encoder layer: ``ln(x + attn(x))``, then ``ln(x + mlp(x))``."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attn = BertSelfAttention(config)
        self.ln_attn = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.mlp_in = nn.Linear(config.n_embd, config.intermediate)
        self.mlp_out = nn.Linear(config.intermediate, config.n_embd)
        self.ln_mlp = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, padding: torch.Tensor | None, return_weights: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attn(x, padding, return_weights)
        x = self.ln_attn(x + self.drop(attended))
        # BERT uses the exact (erf) GELU, not GPT-2's tanh approximation
        x = self.ln_mlp(x + self.drop(self.mlp_out(F.gelu(self.mlp_in(x)))))
        return x, weights


class BertEncoder(nn.Module):
    """Embeddings + layers (+ the pooler: tanh(Linear) on the [CLS] vector, if ``pooler``).

    The same parts as Hugging Face's ``BertModel``. Introduced in chapter 9.
    """

    def __init__(self, config: BertConfig, *, pooler: bool = True) -> None:
        super().__init__()
        if not isinstance(config, BertConfig):
            raise ConfigError(f"Expected a BertConfig, got {type(config).__name__}.")
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.layers = nn.ModuleList(BertLayer(config) for _ in range(config.n_layer))
        self.pooler = nn.Linear(config.n_embd, config.n_embd) if pooler else None
        init_bert_weights(self)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        *,
        inputs_embeds: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> BertEncoderOutput:
        """Encode ids (B, T) or looked-up embeddings (B, T, C); mask 1 = real token, 0 = padding."""
        padding, token_type_ids = check_inputs(
            self.config, self.embeddings.word.weight.device, input_ids, attention_mask,
            inputs_embeds, token_type_ids,
        )  # fmt: skip
        words = self.embeddings.word(input_ids) if inputs_embeds is None else inputs_embeds
        x = self.embeddings(words, token_type_ids)
        attentions = [] if return_attention else None
        for layer in self.layers:
            x, weights = layer(x, padding, return_attention)
            if attentions is not None:
                attentions.append(weights)
        pooled = None if self.pooler is None else torch.tanh(self.pooler(x[:, 0]))
        return BertEncoderOutput(x, pooled, attentions)


def init_bert_weights(module: nn.Module) -> None:
    """BERT's initialisation: N(0, 0.02) weights, zero biases, LayerNorms at identity."""
    for sub in module.modules():
        if isinstance(sub, (nn.Linear, nn.Embedding)):
            nn.init.normal_(sub.weight, mean=0.0, std=0.02)
        if isinstance(sub, nn.Linear) and sub.bias is not None:
            nn.init.zeros_(sub.bias)
        if isinstance(sub, nn.Embedding) and sub.padding_idx is not None:
            with torch.no_grad():
                sub.weight[sub.padding_idx].zero_()


# ------------------------------------------------------------------------------ heads
class _EncoderWithHead(nn.Module):
    """What both task models share: ``self.bert`` and the embedding lookup for saliency."""

    bert: BertEncoder

    def input_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The word-embedding lookup only: (B, T) -> (B, T, C); passing the result as
        ``inputs_embeds`` gives the same logits as passing ``input_ids``."""
        return self.bert.embeddings.word(input_ids)


class BertForMaskedLM(_EncoderWithHead):
    """BERT with its masked-language-model head: a word distribution at every position.

    The head is BERT's: Linear + GELU + LayerNorm, then the decoder, whose weight *is* the word
    embedding matrix (tied), plus a bias per word. Introduced in chapter 9.
    """

    kind = "masked-lm"

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertEncoder(config, pooler=False)
        self.transform = nn.Linear(config.n_embd, config.n_embd)
        self.transform_ln = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.decoder.weight = self.bert.embeddings.word.weight
        self.decoder_bias = nn.Parameter(torch.zeros(config.vocab_size))
        init_bert_weights(self.transform)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        *,
        inputs_embeds: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> MaskedLMOutput:
        """Logits (B, T, vocab); with ``labels`` (B, T, -100 where not masked) also the loss.

        During training only the labelled positions go through the head, which saves most of
        the (T x vocab) work; the returned logits then have shape (n_labelled, vocab).
        """
        out = self.bert(
            input_ids, attention_mask, inputs_embeds=inputs_embeds,
            token_type_ids=token_type_ids, return_attention=return_attention,
        )  # fmt: skip
        hidden = out.hidden
        if labels is not None:
            if not isinstance(labels, torch.Tensor) or labels.shape != hidden.shape[:2]:
                raise InputError(
                    f"labels must have the shape of input_ids {tuple(hidden.shape[:2])}."
                )
            if self.training:
                keep = labels != IGNORE_INDEX
                hidden, labels = hidden[keep], labels[keep]
        logits = self.predict(hidden)
        loss = None
        if labels is not None:
            flat = labels.reshape(-1)
            if bool((flat != IGNORE_INDEX).any()):
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), flat)
            else:  # nothing masked: a zero that still belongs to the graph
                loss = logits.sum() * 0.0
        return MaskedLMOutput(logits, loss, out.attentions)

    def predict(self, hidden: torch.Tensor) -> torch.Tensor:
        """The head alone: hidden states (..., C) -> word logits (..., vocab)."""
        x = self.transform_ln(F.gelu(self.transform(hidden)))
        return self.decoder(x) + self.decoder_bias


class BertForSequenceClassification(_EncoderWithHead):
    """BERT + pooler on [CLS] + dropout + a linear classifier over ``config.labels``.

    Follows lmkit's classifier interface (``inputs_embeds``, :meth:`input_embeddings`,
    ``labels``, ``kind``). Introduced in chapter 11.
    """

    kind = "classifier"

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        if not isinstance(config, BertConfig) or len(config.labels) < 2:
            raise ConfigError(
                "BertForSequenceClassification needs a BertConfig with at least two labels, "
                "e.g. BertConfig(..., labels=('negative', 'positive'))."
            )
        self.config = config
        self.bert = BertEncoder(config, pooler=True)
        self.drop = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.n_embd, len(config.labels))
        init_bert_weights(self.classifier)

    @property
    def labels(self) -> tuple[str, ...]:
        """The class names, in logit order."""
        return self.config.labels

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        *,
        inputs_embeds: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> ClassifierOutput:
        """Logits (B, n_labels); with ``labels`` (B,) also the cross-entropy loss."""
        out = self.bert(
            input_ids, attention_mask, inputs_embeds=inputs_embeds,
            token_type_ids=token_type_ids, return_attention=return_attention,
        )  # fmt: skip
        logits = self.classifier(self.drop(out.pooled))
        loss = None if labels is None else F.cross_entropy(logits.float(), labels)
        return ClassifierOutput(logits, loss, out.attentions)


__all__ = [
    "IGNORE_INDEX",
    "BertConfig",
    "BertEncoder",
    "BertEncoderOutput",
    "BertForMaskedLM",
    "BertForSequenceClassification",
    "ClassifierOutput",
    "MaskedLMOutput",
    "init_bert_weights",
]
