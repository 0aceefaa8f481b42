"""Chapter 6 exercises: answers built from torch/lmkit references pass; typical slips get the
feedback designed for them."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from exercise_asserts import fails_with
from torch import nn

from lmkit.exercises import check
from lmkit.nn.attention import MultiHeadAttention, scaled_dot_product_attention
from lmkit.nn.positional import sinusoidal_table


def _attention(q, k, v, *, scale, mask="lower", dim=-1):
    t = q.shape[-2]
    scores = q @ k.transpose(-2, -1) * scale
    allowed = torch.ones(t, t, dtype=torch.bool).tril()
    if mask == "upper":
        allowed = allowed.T
    if mask != "none":
        scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=dim) @ v


def test_causal_attention_accepts_torch_sdpa_and_names_each_slip():
    sdpa = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
    assert check("ch06.causal_attention", sdpa, seed=1, quiet=True)
    fails_with("ch06.causal_attention", lambda q, k, v: _attention(q, k, v, scale=1.0), "√d_k")
    fails_with(
        "ch06.causal_attention",
        lambda q, k, v: _attention(q, k, v, scale=1 / q.shape[-1]),
        "divided by d_k",
    )
    fails_with(
        "ch06.causal_attention",
        lambda q, k, v: _attention(q, k, v, scale=1 / math.sqrt(q.shape[-1]), mask="none"),
        "no causal mask",
    )
    fails_with(
        "ch06.causal_attention",
        lambda q, k, v: _attention(q, k, v, scale=1 / math.sqrt(q.shape[-1]), mask="upper"),
        "flipped",
    )
    fails_with(
        "ch06.causal_attention",
        lambda q, k, v: _attention(q, k, v, scale=1 / math.sqrt(q.shape[-1]), dim=-2),
        "dim=-2",
    )
    stub = fails_with("ch06.causal_attention", lambda q, k, v: None, "return")
    assert "hint" in stub.message


def test_sinusoidal_encoding_accepts_lmkit_table_and_names_each_slip():
    assert check("ch06.sinusoidal_encoding", sinusoidal_table, seed=2, quiet=True)

    def swapped(max_len, dim):
        table = sinusoidal_table(max_len, dim)
        return torch.stack((table[:, 1::2], table[:, 0::2]), dim=-1).flatten(1)

    def halves(max_len, dim):
        table = sinusoidal_table(max_len, dim)
        return torch.cat((table[:, 0::2], table[:, 1::2]), dim=1)

    def pair_index_exponent(max_len, dim):
        p = torch.arange(max_len, dtype=torch.float64)[:, None]
        i = torch.arange(dim // 2, dtype=torch.float64)
        angle = p / 10000 ** (i / dim)
        return torch.stack((angle.sin(), angle.cos()), -1).flatten(1)

    def from_one(max_len, dim):
        return sinusoidal_table(max_len + 1, dim)[1:]

    fails_with("ch06.sinusoidal_encoding", swapped, "swapped")
    fails_with("ch06.sinusoidal_encoding", halves, "interleaves")
    fails_with("ch06.sinusoidal_encoding", pair_index_exponent, "2i/dim")
    fails_with("ch06.sinusoidal_encoding", from_one, "position 0")


class LmkitMHA(MultiHeadAttention):
    """lmkit's MultiHeadAttention behind the exercise's interface."""

    def __init__(self, d_model, n_heads):
        super().__init__(d_model, n_heads)

    def forward(self, x, causal=False):
        return super().forward(x, causal=causal)[0]


class HandMHA(nn.Module):
    """A hand-written module with switchable slips."""

    def __init__(self, d_model, n_heads, *, scale="head", split=True, merge=True, causal_ok=True):
        super().__init__()
        self.n_heads, self.scale, self.split, self.merge = n_heads, scale, split, merge
        self.causal_ok = causal_ok
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (
            nn.Linear(d_model, d_model) for _ in range(4)
        )

    def forward(self, x, causal=False):
        b, t, c = x.shape
        hd = c // self.n_heads

        def heads(z):
            if self.split:
                return z.view(b, t, self.n_heads, hd).transpose(1, 2)
            return z.reshape(b, self.n_heads, t, hd)

        q, k, v = (heads(p(x)) for p in (self.q_proj, self.k_proj, self.v_proj))
        scores = q @ k.transpose(-2, -1) / math.sqrt(hd if self.scale == "head" else c)
        if causal and self.causal_ok:
            scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), -math.inf)
        out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, c)
        return self.out_proj(out) if self.merge else out


def test_multi_head_attention_module_accepts_lmkit_and_hand_modules_and_names_slips():
    assert check("ch06.multi_head_attention", LmkitMHA, seed=3, quiet=True)
    assert check("ch06.multi_head_attention", HandMHA, seed=3, quiet=True)

    def slip(**kwargs):
        return lambda d, h: HandMHA(d, h, **kwargs)

    fails_with("ch06.multi_head_attention", slip(scale="model"), "√d_model")
    fails_with("ch06.multi_head_attention", slip(split=False), "mixes tokens")
    fails_with("ch06.multi_head_attention", slip(merge=False), "out_proj")
    fails_with("ch06.multi_head_attention", slip(causal_ok=False), "causal=True was ignored")
    fails_with("ch06.multi_head_attention", lambda d, h: nn.Linear(d, d), "q_proj")


def test_padded_attention_accepts_lmkit_and_names_the_nan_rows():
    def lmkit_answer(q, k, v, mask):
        return scaled_dot_product_attention(q, k, v, key_padding_mask=mask)

    def leaves_nan(q, k, v, mask):
        scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(
            mask[:, None, :], -math.inf
        )
        return scores.softmax(-1) @ v

    assert check("ch06.padded_attention", lmkit_answer, seed=4, quiet=True)
    fails_with("ch06.padded_attention", leaves_nan, "NaN")
    fails_with("ch06.padded_attention", lambda q, k, v, m: lmkit_answer(q, k, v, ~m), "inverted")
    fails_with(
        "ch06.padded_attention",
        lambda q, k, v, m: lmkit_answer(q, k, v, torch.zeros_like(m)),
        "not masked",
    )


def test_matching_slip_names_the_first_matching_wrong_answer():
    from lmkit.exercises.ch06 import matching_slip

    wrong = torch.tensor([1.0, 2.0])
    slips = [(wrong, "tensor slip"), (12, "number slip")]
    assert matching_slip(torch.tensor([1.0, 2.0 + 1e-7]), slips) == "tensor slip"
    assert matching_slip(torch.tensor([[1.0, 2.0]]), slips) is None  # other shape
    assert matching_slip(torch.tensor([1.0, 2.5]), slips) is None
    assert matching_slip(12.0, slips) == "number slip"
    assert matching_slip(None, slips) is None
    assert matching_slip("twelve", slips) is None
