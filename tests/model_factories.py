"""Small random models shared by several test files."""

from __future__ import annotations

import torch

from lmkit.gpt.model import GPT, GPTConfig


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
