"""Tiny classifiers that follow lmkit's classifier interface, for the classify/saliency tests.

They are written here, independently of the code under test, so that lmkit.tasks.text_classify and
lmkit.tasks.saliency are checked against models whose maths the tests can compute by hand.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

import torch
from torch import nn

WORDS = ("the", "movie", "was", "good", "bad", "great", "awful", "not", "very", "food")


class ToyTokenizer:
    """Whitespace words → ids, wrapped in [CLS] … [SEP]; unknown words → [UNK]."""

    special_tokens: ClassVar[dict[str, int]] = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[UNK]": 3}
    pad_id = 0
    unk_id = 3

    def __init__(self) -> None:
        self.vocab = {**self.special_tokens, **{w: 4 + i for i, w in enumerate(WORDS)}}
        self.inverse = {i: w for w, i in self.vocab.items()}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        words = [self.vocab.get(w, 3) for w in text.lower().split()]
        return [1, *words, 2]

    def id_to_token(self, token_id: int) -> str:
        return self.inverse[token_id]


class ToyClassifier(nn.Module):
    """Embedding → (optional tanh layer) → masked mean over tokens → linear head."""

    kind = "classifier"

    def __init__(
        self, vocab_size: int, dim: int = 8, *, nonlinear: bool = False, max_length: int = 12,
        labels: tuple[str, ...] = ("negative", "positive"),
    ) -> None:  # fmt: skip
        super().__init__()
        self.labels = labels
        self.max_length = max_length
        self.embed = nn.Embedding(vocab_size, dim)
        self.mix = nn.Linear(dim, dim) if nonlinear else None
        self.head = nn.Linear(dim, len(labels))

    def input_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embed(input_ids)

    def forward(self, input_ids=None, attention_mask=None, *, inputs_embeds=None,
                return_attention=False):  # fmt: skip
        x = self.embed(input_ids) if inputs_embeds is None else inputs_embeds
        if x.shape[1] > self.max_length:
            raise ValueError("too long")  # the helpers must truncate before calling
        if attention_mask is None:
            attention_mask = torch.ones(x.shape[:2], dtype=torch.long)
        if self.mix is not None:
            x = torch.tanh(self.mix(x))
        mask = attention_mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * mask).sum(1) / mask.sum(1)
        return SimpleNamespace(logits=self.head(pooled), attentions=None)


def toy_loaded(*, nonlinear: bool = False, seed: int = 0, dtype=torch.float32, **kw):
    """A LoadedModel-like object holding a seeded toy classifier and its tokenizer."""
    tokenizer = ToyTokenizer()
    torch.manual_seed(seed)
    model = ToyClassifier(tokenizer.vocab_size, nonlinear=nonlinear, **kw).to(dtype).eval()
    return SimpleNamespace(model=model, tokenizer=tokenizer, name="toy", kind="classifier")
