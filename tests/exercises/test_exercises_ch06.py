"""Chapter 6 exercises: answers built from torch/lmkit references pass; typical slips get the
feedback designed for them."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from exercise_asserts import fails_with

from lmkit.exercises import check
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


def test_split_and_merge_heads_catch_reshape_without_transpose():
    def split(x, n_heads):
        return torch.stack(x.chunk(n_heads, dim=-1), dim=1)  # (B, H, T, hd)

    def merge(x):
        return torch.cat(x.unbind(dim=1), dim=-1)  # heads side by side

    assert check("ch06.split_heads", split, seed=3, quiet=True)
    assert check("ch06.merge_heads", merge, seed=3, quiet=True)
    # the pair is an exact round trip
    x = torch.randn(2, 5, 12)
    assert torch.equal(merge(split(x, 3)), x)

    def split_no_transpose(x, n_heads):
        b, t, c = x.shape
        return x.reshape(b, n_heads, t, c // n_heads)

    fails_with("ch06.split_heads", split_no_transpose, "scrambled")
    fails_with(
        "ch06.split_heads",
        lambda x, h: x.reshape(*x.shape[:2], h, -1),
        "transpose(1, 2)",
    )
    fails_with(
        "ch06.merge_heads",
        lambda x: x.reshape(x.shape[0], x.shape[2], -1),
        "mixes several tokens",
    )
    fails_with("ch06.merge_heads", lambda x: x.flatten(2), "(B, H, T·hd)")


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
