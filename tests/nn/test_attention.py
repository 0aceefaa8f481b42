"""Attention against torch's own: F.scaled_dot_product_attention and nn.MultiheadAttention."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lmkit.errors import ConfigError, InputError
from lmkit.nn.attention import (
    CausalSelfAttention,
    MultiHeadAttention,
    causal_mask,
    scaled_dot_product_attention,
)
from lmkit.nn.kv_cache import KVCache
from lmkit.nn.positional import RotaryEmbedding

ATOL = 1e-5


def qkv(b=2, h=3, lq=5, lk=5, d=8, dv=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, lq, d, generator=g)
    k = torch.randn(b, h, lk, d, generator=g)
    v = torch.randn(b, h, lk, dv or d, generator=g)
    return q, k, v


# ------------------------------------------------------------------- the function vs F.sdpa
def test_plain_matches_torch_sdpa():
    q, k, v = qkv(lq=4, lk=7, dv=5)
    assert torch.allclose(
        scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v), atol=ATOL
    )


def test_causal_square_matches_torch_is_causal():
    q, k, v = qkv(lq=6, lk=6)
    ours = scaled_dot_product_attention(q, k, v, causal=True)
    assert torch.allclose(ours, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=ATOL)


def test_causal_with_fewer_queries_is_aligned_bottom_right():
    # The queries are the last 3 of 8 positions, as with a KV cache.
    q, k, v = qkv(lq=3, lk=8)
    allowed = torch.ones(3, 8, dtype=torch.bool).tril(diagonal=8 - 3)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    assert torch.allclose(scaled_dot_product_attention(q, k, v, causal=True), ref, atol=ATOL)
    assert torch.equal(causal_mask(3, 8), allowed)


def test_bool_and_float_attn_masks_match_torch():
    q, k, v = qkv(lq=4, lk=6)
    g = torch.Generator().manual_seed(1)
    allowed = torch.rand(4, 6, generator=g) > 0.3
    allowed[:, 0] = True  # keep every row attendable
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    assert torch.allclose(scaled_dot_product_attention(q, k, v, attn_mask=allowed), ref, atol=ATOL)
    bias = torch.randn(4, 6, generator=g)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    assert torch.allclose(scaled_dot_product_attention(q, k, v, attn_mask=bias), ref, atol=ATOL)


def test_key_padding_mask_matches_torch():
    q, k, v = qkv(b=2, lq=4, lk=6)
    pad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=~pad[:, None, None, :])
    ours, weights = scaled_dot_product_attention(q, k, v, key_padding_mask=pad, return_weights=True)
    assert torch.allclose(ours, ref, atol=ATOL)
    assert torch.all(weights[1, ..., 4:] == 0)


def test_weights_are_softmax_of_scaled_scores():
    q, k, v = qkv(lq=4, lk=6)
    out, weights = scaled_dot_product_attention(q, k, v, return_weights=True)
    expected = torch.softmax(torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(q.shape[-1]), -1)
    assert torch.allclose(weights, expected, atol=ATOL)
    assert torch.allclose(out, expected @ v, atol=ATOL)
    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:-1]), atol=ATOL)


def test_fully_masked_rows_give_zeros_not_nan_and_leave_other_rows_alone():
    q, k, v = qkv(b=2, lq=4, lk=5)
    pad = torch.zeros(2, 5, dtype=torch.bool)
    pad[1] = True  # the second sequence is all padding
    out, weights = scaled_dot_product_attention(q, k, v, key_padding_mask=pad, return_weights=True)
    assert not torch.isnan(out).any() and not torch.isnan(weights).any()
    assert torch.all(out[1] == 0) and torch.all(weights[1] == 0)
    assert torch.allclose(out[0], F.scaled_dot_product_attention(q[:1], k[:1], v[:1])[0], atol=ATOL)
    # A float mask of -inf everywhere in one row behaves the same.
    bias = torch.zeros(4, 5)
    bias[2] = float("-inf")
    out = scaled_dot_product_attention(q, k, v, attn_mask=bias)
    assert torch.all(out[:, :, 2] == 0) and not torch.isnan(out).any()


def test_nan_in_inputs_is_not_hidden():
    q, k, v = qkv(lq=3, lk=3)
    q[0, 0, 0, 0] = float("nan")
    out = scaled_dot_product_attention(q, k, v, causal=True)
    assert torch.isnan(out[0, 0, 0]).all()


def test_dropout_changes_output_only_when_enabled():
    q, k, v = qkv(lq=6, lk=6)
    torch.manual_seed(0)
    dropped = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert not torch.allclose(dropped, scaled_dot_product_attention(q, k, v))


@settings(max_examples=25, deadline=None)
@given(
    b=st.integers(1, 3),
    h=st.integers(1, 3),
    lq=st.integers(1, 6),
    extra=st.integers(0, 4),
    d=st.integers(1, 9),
    causal=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_matches_torch_sdpa(b, h, lq, extra, d, causal, seed):
    lk = lq + extra
    q, k, v = qkv(b, h, lq, lk, d, seed=seed)
    mask = torch.ones(lq, lk, dtype=torch.bool).tril(diagonal=lk - lq) if causal else None
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(scaled_dot_product_attention(q, k, v, causal=causal), ref, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"q": torch.zeros(2, 3, dtype=torch.long)}, "floating point"),
        ({"q": torch.zeros(4)}, "floating point tensor of shape"),
        ({"k": torch.zeros(2, 3, 5, 7)}, "same last dimension"),
        ({"v": torch.zeros(2, 3, 4, 8)}, "same number of positions"),
        ({"k": torch.zeros(4, 3, 5, 8), "v": torch.zeros(4, 3, 5, 8)}, "batch/head dimensions"),
        ({"dropout_p": 1.0}, "dropout_p"),
        ({"key_padding_mask": torch.zeros(2, 4)}, "key_padding_mask"),
        ({"key_padding_mask": torch.zeros(2, 3, dtype=torch.bool)}, "key_padding_mask"),
        ({"attn_mask": torch.zeros(5, 3)}, "attn_mask"),
        ({"attn_mask": torch.zeros(5, 5, dtype=torch.long)}, "attn_mask must be bool"),
    ],
)
def test_function_rejects_bad_input(kwargs, match):
    q, k, v = qkv(b=2, h=3, lq=5, lk=5, d=8)
    args = {"q": q, "k": k, "v": v}
    for name in ("q", "k", "v"):
        if name in kwargs:
            args[name] = kwargs.pop(name)
    with pytest.raises(InputError if "dropout_p" not in kwargs else ConfigError, match=match):
        scaled_dot_product_attention(args["q"], args["k"], args["v"], **kwargs)


def test_causal_with_more_queries_than_keys_is_rejected():
    q, k, v = qkv(lq=5, lk=3)
    with pytest.raises(InputError, match="at least as many keys"):
        scaled_dot_product_attention(q, k, v, causal=True)


# ------------------------------------------------------------- MultiHeadAttention vs nn.MHA
def pair(d_model=16, n_heads=4, *, bias=True, batch_first=True, seed=0):
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(d_model, n_heads, bias=bias, batch_first=batch_first).eval()
    ours = MultiHeadAttention.from_torch(ref).eval()
    return ours, ref


def test_mha_self_attention_matches_torch():
    ours, ref = pair()
    x = torch.randn(2, 7, 16)
    out, w = ours(x, need_weights=True)
    ref_out, ref_w = ref(x, x, x, need_weights=True)
    assert torch.allclose(out, ref_out, atol=ATOL) and torch.allclose(w, ref_w, atol=ATOL)


def test_mha_cross_attention_and_per_head_weights_match_torch():
    ours, ref = pair()
    x, memory = torch.randn(3, 4, 16), torch.randn(3, 9, 16)
    out, w = ours(x, memory, memory, need_weights=True, average_attn_weights=False)
    ref_out, ref_w = ref(x, memory, memory, need_weights=True, average_attn_weights=False)
    assert w.shape == (3, 4, 4, 9)
    assert torch.allclose(out, ref_out, atol=ATOL) and torch.allclose(w, ref_w, atol=ATOL)


def test_mha_key_padding_and_causal_masks_match_torch():
    ours, ref = pair()
    x = torch.randn(2, 6, 16)
    pad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    out, w = ours(x, key_padding_mask=pad, causal=True, need_weights=True)
    blocked = torch.ones(6, 6, dtype=torch.bool).triu(1)  # nn.MHA: True = may NOT attend
    ref_out, ref_w = ref(x, x, x, key_padding_mask=pad, attn_mask=blocked, need_weights=True)
    assert torch.allclose(out, ref_out, atol=ATOL) and torch.allclose(w, ref_w, atol=ATOL)
    # Our bool attn_mask uses the opposite convention (True = may attend).
    out2, _ = ours(x, key_padding_mask=pad, attn_mask=~blocked)
    assert torch.allclose(out2, ref_out, atol=ATOL)


def test_mha_without_bias_and_sequence_first_matches_torch():
    ours, ref = pair(bias=False, batch_first=False)
    assert ours.q_proj.bias is None
    x = torch.randn(5, 2, 16)  # (T, B, E)
    out, w = ours(x, need_weights=True)
    ref_out, ref_w = ref(x, x, x)
    assert out.shape == (5, 2, 16)
    assert torch.allclose(out, ref_out, atol=ATOL) and torch.allclose(w, ref_w, atol=ATOL)


def test_mha_gradients_match_torch():
    ours, ref = pair()
    x = torch.randn(2, 5, 16)
    ours(x)[0].square().sum().backward()
    ref(x, x, x)[0].square().sum().backward()
    assert torch.allclose(ours.out_proj.weight.grad, ref.out_proj.weight.grad, atol=1e-4)
    assert torch.allclose(ours.q_proj.weight.grad, ref.in_proj_weight.grad[:16], atol=1e-4)


def test_mha_rejects_bad_configs_and_inputs():
    with pytest.raises(ConfigError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ConfigError, match="d_model must be an integer >= 1, got 0"):
        MultiHeadAttention(0, 1)
    with pytest.raises(ConfigError, match="dropout"):
        MultiHeadAttention(8, 2, dropout=1.5)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(InputError, match="3-D tensor"):
        mha(torch.zeros(4, 8))
    with pytest.raises(InputError, match="E=8"):
        mha(torch.zeros(1, 4, 6))
    with pytest.raises(InputError, match="batch size"):
        mha(torch.zeros(1, 4, 8), torch.zeros(2, 4, 8))
    with pytest.raises(ConfigError, match="Size mismatch"):
        mha.load_from_torch(nn.MultiheadAttention(16, 2))
    with pytest.raises(ConfigError, match="bias mismatch"):
        mha.load_from_torch(nn.MultiheadAttention(8, 2, bias=False))
    with pytest.raises(InputError, match=r"nn\.MultiheadAttention"):
        mha.load_from_torch(nn.Linear(8, 8))
    with pytest.raises(InputError, match=r"nn\.MultiheadAttention"):
        MultiHeadAttention.from_torch("not a module")


# ------------------------------------------------------------------------ CausalSelfAttention
def test_causal_self_attention_fast_and_explicit_paths_agree():
    torch.manual_seed(0)
    attn = CausalSelfAttention(32, 4).eval()
    x = torch.randn(2, 9, 32, requires_grad=True)
    fast, none = attn(x)
    explicit, weights = attn(x, return_weights=True)
    assert none is None and weights.shape == (2, 4, 9, 9)
    assert torch.allclose(fast, explicit, atol=ATOL)
    # Causal: nothing above the diagonal, every row a distribution.
    assert torch.all(weights.triu(1) == 0)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 9), atol=ATOL)
    (g_fast,) = torch.autograd.grad(fast.sum(), x)
    (g_explicit,) = torch.autograd.grad(explicit.sum(), x)
    assert torch.allclose(g_fast, g_explicit, atol=1e-5)


def test_causal_self_attention_matches_mha_on_the_same_weights():
    # Independent check: split the packed c_attn into nn.MultiheadAttention's in_proj.
    torch.manual_seed(0)
    attn = CausalSelfAttention(16, 4).eval()
    ref = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(attn.c_attn.weight)
        ref.in_proj_bias.copy_(attn.c_attn.bias)
        ref.out_proj.weight.copy_(attn.c_proj.weight)
        ref.out_proj.bias.copy_(attn.c_proj.bias)
    x = torch.randn(3, 7, 16)
    blocked = torch.ones(7, 7, dtype=torch.bool).triu(1)
    assert torch.allclose(attn(x)[0], ref(x, x, x, attn_mask=blocked)[0], atol=ATOL)


@pytest.mark.parametrize("use_rotary", [False, True])
def test_causal_self_attention_with_cache_matches_full_pass(use_rotary):
    torch.manual_seed(0)
    attn = CausalSelfAttention(16, 2).eval()
    rotary = RotaryEmbedding(8, 32) if use_rotary else None
    x = torch.randn(2, 10, 16)
    full, _ = attn(x, rotary=rotary)
    cache = KVCache(1, 2, 2, 8, 32)
    pieces = []
    with torch.no_grad():
        for start, end in ((0, 4), (4, 5), (5, 10)):  # prefill, one step, a chunk
            y, _ = attn(x[:, start:end], rotary=rotary, offset=start, kv_cache=cache)
            cache.advance(end - start)
            pieces.append(y)
    assert torch.allclose(torch.cat(pieces, 1), full, atol=ATOL)
    # The explicit path with a cache gives the same (weights over all 10 keys for the last chunk).
    cache.crop(5)
    with torch.no_grad():
        y, w = attn(x[:, 5:], rotary=rotary, offset=5, kv_cache=cache, return_weights=True)
    assert w.shape == (2, 2, 5, 10)
    assert torch.allclose(y, full[:, 5:], atol=ATOL)


def test_causal_self_attention_rejects_indivisible_sizes():
    with pytest.raises(ConfigError, match="divisible"):
        CausalSelfAttention(10, 4)
