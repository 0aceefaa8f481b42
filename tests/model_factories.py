"""Small random models shared by several test files."""

from __future__ import annotations

import torch

from lmkit.bert.model import BertConfig
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT

BERT_VOCAB = 61


GPT_VOCAB = 37


def gpt_config(**overrides) -> GPTConfig:
    """A two-layer, four-head GPT config with a ``GPT_VOCAB``-token vocabulary."""
    base = {"vocab_size": GPT_VOCAB, "block_size": 24, "n_layer": 2, "n_head": 4, "n_embd": 32}
    return GPTConfig(**{**base, **overrides})


def fresh_gpt(seed: int = 0, **overrides) -> GPT:
    """A GPT of :func:`gpt_config` with its own (GPT-2) initialisation, in eval mode."""
    return training_gpt(seed, **overrides).eval()


def training_gpt(seed: int = 0, **overrides) -> GPT:
    """A GPT of :func:`gpt_config` with its own initialisation, in train mode (as made)."""
    torch.manual_seed(seed)
    return GPT(gpt_config(**overrides))


def token_ids(b: int, t: int, vocab: int = GPT_VOCAB, seed: int = 1) -> torch.Tensor:
    """Random ids (b, t) from a generator of their own (the global RNG is left alone)."""
    return torch.randint(0, vocab, (b, t), generator=torch.Generator().manual_seed(seed))


def random_gpt(seed: int = 0, std: float = 0.5, **overrides) -> GPT:
    """A tiny GPT in eval mode with larger-than-usual random weights, so greedy text does not
    just repeat and beam search has real choices."""
    torch.manual_seed(seed)
    settings = {"vocab_size": 64, "block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 32}
    model = GPT(GPTConfig(**{**settings, **overrides}))
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, std)
    return model.eval()


def bert_config(**overrides) -> BertConfig:
    """A two-layer BERT config with three labels (a vocabulary of ``BERT_VOCAB`` ids)."""
    base = {
        "vocab_size": BERT_VOCAB, "max_position": 16, "n_layer": 2, "n_head": 4, "n_embd": 32,
        "intermediate": 48, "dropout": 0.0, "labels": ("neg", "neutral", "pos"),
    }  # fmt: skip
    return BertConfig(**{**base, **overrides})


def random_bert(cls, seed: int = 0, **overrides):
    """A tiny BERT of class ``cls`` (encoder, masked-LM or classifier) in eval mode, with weights
    larger than the 0.02 init, so that differences would show."""
    torch.manual_seed(seed)
    model = cls(bert_config(**overrides)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model


def bert_batch(seed: int = 1):
    """Ids (3, 12), a padding mask with two padded rows, and segment ids."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, BERT_VOCAB, (3, 12), generator=g)
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[1, 7:] = 0
    mask[2, 2:] = 0
    types = torch.randint(0, 2, (3, 12), generator=g)
    return ids, mask, types
