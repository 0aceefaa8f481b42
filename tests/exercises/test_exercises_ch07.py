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


def _lmkit_block(n_embd, n_head):
    config = GPTConfig(vocab_size=8, block_size=16, n_layer=1, n_embd=n_embd, n_head=n_head)
    return Block(config)


class LmkitBlock(nn.Module):
    """lmkit's Block behind the exercise's interface: (n_embd, n_head), forward(x) -> x."""

    def __init__(self, n_embd, n_head):
        super().__init__()
        block = _lmkit_block(n_embd, n_head)
        self.ln_1, self.attn, self.ln_2, self.mlp = block.ln_1, block.attn, block.ln_2, block.mlp

    def forward(self, x):
        return self.main(x, pre_ln=True)

    def main(self, x, *, pre_ln, residual=True, exact_gelu=False):
        def mlp(h):
            if exact_gelu:
                return self.mlp.c_proj(F.gelu(self.mlp.c_fc(h)))
            return self.mlp(h)

        if not pre_ln:
            x = self.ln_1(x + self.attn(x)[0])
            return self.ln_2(x + mlp(x))
        keep = 1.0 if residual else 0.0
        x = keep * x + self.attn(self.ln_1(x))[0]
        return keep * x + mlp(self.ln_2(x))


def _variant(**kwargs):
    class Variant(LmkitBlock):
        def forward(self, x):
            return self.main(x, **kwargs)

    return Variant


def test_gpt_block_accepts_lmkit_block_and_names_each_slip():
    assert check("ch07.gpt_block", LmkitBlock, seed=5, quiet=True)
    fails_with("ch07.gpt_block", _variant(pre_ln=False), "post-LN")
    fails_with("ch07.gpt_block", _variant(pre_ln=True, residual=False), "residual")
    fails_with("ch07.gpt_block", _variant(pre_ln=True, exact_gelu=True), "exact GELU")
    fails_with("ch07.gpt_block", lambda n_embd, n_head: nn.Linear(n_embd, n_embd), "ln_1")

    class NoMask(LmkitBlock):
        def forward(self, x):
            h = self.ln_1(x)
            b, t, c = h.shape
            q, k, v = (z.view(b, t, -1, c // self.attn.n_head).transpose(1, 2)
                       for z in self.attn.c_attn(h).split(c, dim=-1))  # fmt: skip
            y = F.scaled_dot_product_attention(q, k, v)  # no is_causal
            x = x + self.attn.c_proj(y.transpose(1, 2).reshape(b, t, c))
            return x + self.mlp(self.ln_2(x))

    fails_with("ch07.gpt_block", NoMask, "causal")


def test_generate_greedy_accepts_a_hand_loop_and_names_the_first_position_slip():
    def greedy(model, ids, n):
        with torch.no_grad():
            for _ in range(n):
                ids = torch.cat([ids, model(ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        return ids

    def from_first(model, ids, n):
        with torch.no_grad():
            for _ in range(n):
                ids = torch.cat([ids, model(ids).logits[:, 0].argmax(-1, keepdim=True)], dim=1)
        return ids

    assert check("ch07.generate_greedy", greedy, seed=6, quiet=True)
    fails_with("ch07.generate_greedy", from_first, "position 0", seed=6)
    fails_with("ch07.generate_greedy", lambda m, ids, n: greedy(m, ids, n)[:, ids.shape[1]:],
               "prompt followed by")  # fmt: skip
