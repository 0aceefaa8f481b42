"""Chapter 7 exercises: answers built from torch.nn and lmkit pass; typical slips get the
feedback designed for them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from exercise_asserts import fails_with
from torch import nn

from lmkit.exercises import check
from lmkit.gpt.blocks import Block
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT


def test_layer_norm_accepts_nn_layernorm_and_names_each_slip():
    def with_module(x, weight, bias, eps):
        norm = nn.LayerNorm(x.shape[-1], eps=eps)
        with torch.no_grad():
            norm.weight.copy_(weight)
            norm.bias.copy_(bias)
            return norm(x)

    assert check("ch07.layer_norm", with_module, seed=1, quiet=True)

    def unbiased(x, w, b, eps):
        return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps) * w + b

    def eps_outside(x, w, b, eps):
        std = x.var(-1, unbiased=False, keepdim=True).sqrt()
        return (x - x.mean(-1, keepdim=True)) / (std + eps) * w + b

    def no_affine(x, w, b, eps):
        return F.layer_norm(x, (x.shape[-1],), eps=eps)

    def over_tokens(x, w, b, eps):
        mean, var = x.mean(0, keepdim=True), x.var(0, unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + eps) * w + b

    fails_with("ch07.layer_norm", unbiased, "unbiased")
    fails_with("ch07.layer_norm", eps_outside, "inside the square root")
    fails_with("ch07.layer_norm", no_affine, "gain")
    fails_with("ch07.layer_norm", over_tokens, "first dimension")


def test_ffn_accepts_nn_modules_and_names_the_seed_formula():
    def with_modules(x, w1, b1, w2, b2):
        first, second = nn.Linear(w1.shape[1], w1.shape[0]), nn.Linear(w2.shape[1], w2.shape[0])
        with torch.no_grad():
            first.weight.copy_(w1), first.bias.copy_(b1)
            second.weight.copy_(w2), second.bias.copy_(b2)
            return nn.Sequential(first, nn.GELU(), second)(x)

    assert check("ch07.ffn", with_modules, seed=2, quiet=True)

    def seed_article(x, w1, b1, w2, b2):  # max(0, W2·tanh(W1 x + b1)) + b2
        return torch.relu(torch.tanh(x @ w1.T + b1) @ w2.T) + b2

    fails_with("ch07.ffn", seed_article, "seed article")
    fails_with("ch07.ffn", lambda x, w1, b1, w2, b2: torch.relu(x @ w1.T + b1) @ w2.T + b2, "ReLU")
    fails_with(
        "ch07.ffn",
        lambda x, w1, b1, w2, b2: F.gelu(x @ w1.T + b1, approximate="tanh") @ w2.T + b2,
        "tanh approximation",
    )
    fails_with("ch07.ffn", lambda x, w1, b1, w2, b2: F.gelu(x @ w1.T + b1) @ w2.T, "b₂")
    fails_with("ch07.ffn", lambda x, w1, b1, w2, b2: (x @ w1.T + b1) @ w2.T + b2, "collapse")


def test_block_parameters_match_a_real_block_and_name_each_slip():
    def counted(d):
        with torch.device("meta"):
            block = Block(GPTConfig(n_embd=d, n_head=1, vocab_size=10, block_size=4))
        return sum(p.numel() for p in block.parameters())

    assert check("ch07.block_parameters", counted, seed=3, quiet=True)
    fails_with("ch07.block_parameters", lambda d: 12 * d * d, "weight matrices only")
    fails_with("ch07.block_parameters", lambda d: 12 * d * d + 9 * d, "layer norms")
    fails_with("ch07.block_parameters", lambda d: 12 * d * d + 11 * d, "gain AND a shift")
    fails_with("ch07.block_parameters", lambda d: 8 * d * d + 11 * d, "4·d_model")
    fails_with("ch07.block_parameters", lambda d: 11 * d * d + 12 * d, "four d×d")
    fails_with("ch07.block_parameters", lambda d: 12 * d * d + 16 * d, "not 4d")


def test_gpt_parameters_match_a_real_model_and_name_each_slip():
    def counted(vocab, block, layers, d):
        config = GPTConfig(vocab_size=vocab, block_size=block, n_layer=layers, n_embd=d, n_head=1)
        with torch.device("meta"):
            return GPT(config).num_parameters()

    assert check("ch07.gpt_parameters", counted, seed=4, quiet=True)

    def untied(vocab, block, layers, d):
        return counted(vocab, block, layers, d) + vocab * d

    fails_with("ch07.gpt_parameters", untied, "ties")
    fails_with(
        "ch07.gpt_parameters", lambda v, b, n, d: counted(v, b, n, d) - 2 * d, "final layer norm"
    )
    fails_with("ch07.gpt_parameters", lambda v, b, n, d: counted(v, b, n, d) - b * d, "position")
    fails_with("ch07.gpt_parameters", lambda v, b, n, d: 0.5, "Values differ")
