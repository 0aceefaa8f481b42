"""BERT with a head at every token: tags for named entities, start/end scores for answers.

Introduced in chapter 13. Sequence classification (chapter 11) reads one vector, the pooled
[CLS]; these two heads read the encoder's output at *every* position:

    hidden (B, T, C) -> dropout -> Linear(C, n_labels) -> a tag distribution per token
    hidden (B, T, C) -> Linear(C, 2)                   -> start and end logits per token

They are the same parts as Hugging Face's ``BertForTokenClassification`` and
``BertForQuestionAnswering`` (no pooler; the tests compare logits). Their losses follow
Hugging Face too: token cross-entropy that skips labels of -100, and for QA the mean of the
start and the end cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.bert.model import IGNORE_INDEX, BertConfig, BertEncoder, init_bert_weights
from lmkit.errors import ConfigError, InputError

__all__ = [
    "BertForQuestionAnswering",
    "BertForTokenClassification",
    "SpanOutput",
    "TokenClassifierOutput",
]


@dataclass
class TokenClassifierOutput:
    """``logits`` (B, T, n_labels); ``loss`` over tokens whose label is not -100, or None."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None


@dataclass
class SpanOutput:
    """``start_logits`` and ``end_logits`` (B, T); ``loss`` when positions were given."""

    start_logits: torch.Tensor
    end_logits: torch.Tensor
    loss: torch.Tensor | None = None


class BertForTokenClassification(nn.Module):
    """BERT + dropout + a linear tagger over ``config.labels`` (e.g. BIO tags) at every token.

    Introduced in chapter 13.
    """

    kind = "token-classifier"

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        if not isinstance(config, BertConfig) or len(config.labels) < 2:
            raise ConfigError(
                "BertForTokenClassification needs a BertConfig with at least two labels, e.g. "
                "BertConfig(..., labels=('O', 'B-PER', 'I-PER'))."
            )
        self.config = config
        self.bert = BertEncoder(config, pooler=False)
        self.drop = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.n_embd, len(config.labels))
        init_bert_weights(self.classifier)

    @property
    def labels(self) -> tuple[str, ...]:
        """The tag names, in logit order."""
        return self.config.labels

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> TokenClassifierOutput:
        """Logits (B, T, n_labels); with ``labels`` (B, T; -100 = not scored) also the loss."""
        hidden = self.bert(input_ids, attention_mask, token_type_ids=token_type_ids).hidden
        logits = self.classifier(self.drop(hidden))
        loss = None
        if labels is not None:
            if not isinstance(labels, torch.Tensor) or labels.shape != logits.shape[:2]:
                raise InputError(
                    f"labels must have the shape of input_ids {tuple(logits.shape[:2])}."
                )
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                ignore_index=IGNORE_INDEX,
            )  # fmt: skip
        return TokenClassifierOutput(logits, loss)


class BertForQuestionAnswering(nn.Module):
    """BERT + a Linear(C, 2): a start and an end logit at every token, for extractive QA.

    Introduced in chapter 13.
    """

    kind = "question-answering"

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        if not isinstance(config, BertConfig):
            raise ConfigError(f"Expected a BertConfig, got {type(config).__name__}.")
        self.config = config
        self.bert = BertEncoder(config, pooler=False)
        self.qa_outputs = nn.Linear(config.n_embd, 2)
        init_bert_weights(self.qa_outputs)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        token_type_ids: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
    ) -> SpanOutput:
        """Start and end logits (B, T); with both positions (B,) also the loss."""
        hidden = self.bert(input_ids, attention_mask, token_type_ids=token_type_ids).hidden
        start_logits, end_logits = self.qa_outputs(hidden).unbind(dim=-1)
        loss = None
        if (start_positions is None) != (end_positions is None):
            raise InputError("Pass both start_positions and end_positions, or neither.")
        if start_positions is not None:
            loss = (
                F.cross_entropy(start_logits.float(), start_positions)
                + F.cross_entropy(end_logits.float(), end_positions)
            ) / 2
        return SpanOutput(start_logits, end_logits, loss)
