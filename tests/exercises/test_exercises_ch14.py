"""Chapter 14 exercises: answers built from torch's own pieces (F.scaled_dot_product_attention,
torch.ao's per-channel int8 weights, written-out ZeRO tables) pass; typical slips get the
feedback designed for them."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from exercise_asserts import fails_with

from lmkit.exercises import check


def _rows(weight, divisor=127.0, dim=1, rounding=torch.round):
    scale = weight.abs().amax(dim=dim) / divisor
    shaped = scale[:, None] if dim == 1 else scale[None, :]
    return rounding(weight / shaped).clamp(-127, 127).to(torch.int8), scale


def test_int8_quantize_matches_torch_ao_and_names_slips():
    assert check("ch14.int8_quantize", _rows, seed=0, quiet=True)
    assert check("ch14.int8_quantize", _rows, seed=4, quiet=True)
    fails_with("ch14.int8_quantize", lambda w: _rows(w, 128.0), "127")
    fails_with("ch14.int8_quantize", lambda w: _rows(w, dim=0), "per column")
    fails_with("ch14.int8_quantize", lambda w: _rows(w, rounding=torch.trunc), "truncated")

    def one_scale(w):
        scale = w.abs().max() / 127
        return torch.round(w / scale).to(torch.int8), scale.expand(w.shape[0])

    fails_with("ch14.int8_quantize", one_scale, "whole matrix")
    fails_with("ch14.int8_quantize", lambda w: (_rows(w)[0], w.abs().amax(dim=1)), "absmax itself")


def test_int8_rows_agree_with_torch_ao_per_channel_weights():
    quantization = pytest.importorskip("torch.ao.quantization")
    layer = torch.nn.Linear(48, 24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dynamic = quantization.quantize_dynamic(
            torch.nn.Sequential(layer), {torch.nn.Linear: quantization.per_channel_dynamic_qconfig}
        )
        torch_q = dynamic[0].weight().int_repr()
    # torch.ao spreads absmax over the full int8 range (divides by 127.5); ours divides by 127.
    ours = _rows(layer.weight.detach(), 127.5)[0]
    assert (ours.int() - torch_q.int()).abs().max() <= 1
    assert (ours == torch_q).float().mean() > 0.99


def _blocks(q, k, v, block, rescale=True):
    m = torch.full((q.shape[0], 1), float("-inf"))
    total, acc = torch.zeros(q.shape[0], 1), torch.zeros(q.shape[0], v.shape[1])
    for start in range(0, k.shape[0], block):
        s = q @ k[start : start + block].T / math.sqrt(q.shape[1])
        new = torch.maximum(m, s.amax(1, keepdim=True))
        p = torch.exp(s - new)
        fix = torch.exp(m - new) if rescale else torch.ones_like(new)
        total, acc, m = (
            total * fix + p.sum(1, keepdim=True),
            acc * fix + p @ v[start : start + block],
            new,
        )
    return acc / total


def test_online_softmax_matches_sdpa_and_names_slips():
    sdpa = lambda q, k, v, block: F.scaled_dot_product_attention(q, k, v)  # noqa: E731
    assert check("ch14.online_softmax_attention", sdpa, seed=0, quiet=True)
    assert check("ch14.online_softmax_attention", _blocks, seed=2, quiet=True)
    fails_with(
        "ch14.online_softmax_attention", lambda q, k, v, b: _blocks(q, k, v, b, False), "rescaled"
    )
    fails_with(
        "ch14.online_softmax_attention",
        lambda q, k, v, b: torch.softmax(q @ k.T, -1) @ v,
        "sqrt(d)",
    )

    def without_max(q, k, v, block):
        e = torch.exp(q @ k.T / math.sqrt(q.shape[1]))
        return (e @ v) / e.sum(1, keepdim=True)

    fails_with("ch14.online_softmax_attention", without_max, "NaN or infinity")


# ZeRO (Rajbhandari et al., 2020, table 1): bytes per parameter for Ψ parameters, N_d GPUs,
# K = 12 optimiser bytes: baseline (2 + 2 + K)Ψ, P_os (2 + 2 + K/N_d)Ψ, P_os+g (2 + (2 + K)/N_d)Ψ,
# P_os+g+p (2 + 2 + K)Ψ/N_d.
PAPER_TABLE = {
    0: lambda n, g: 16 * n,
    1: lambda n, g: (4 + 12 / g) * n,
    2: lambda n, g: (2 + 14 / g) * n,
    3: lambda n, g: 16 * n / g,
}


def test_zero_memory_matches_the_paper_and_names_slips():
    assert check(
        "ch14.zero_memory_per_gpu", lambda n, g, s: PAPER_TABLE[s](n, g), seed=0, quiet=True
    )
    # The paper's example: 7.5B parameters on 64 GPUs: 120 GB, 31.4 GB, 16.6 GB, 1.88 GB.
    assert [round(PAPER_TABLE[s](7.5e9, 64) / 1e9, 1) for s in range(4)] == [120, 31.4, 16.6, 1.9]
    fails_with(
        "ch14.zero_memory_per_gpu",
        lambda n, g, s: PAPER_TABLE[s](n, g) - 4 * n * (1 / g if s else 1),
        "master copy",
    )
    fails_with("ch14.zero_memory_per_gpu", lambda n, g, s: PAPER_TABLE[s](n, g) / 1e9, "GB")
    fails_with("ch14.zero_memory_per_gpu", lambda n, g, s: PAPER_TABLE[3](n, g), "only stage 3")


def test_generation_flops():
    assert check("ch14.generation_flops", 1.4e13, quiet=True)
    fails_with("ch14.generation_flops", 4.2e13, "training")
    fails_with("ch14.generation_flops", 7e12, "multiply-add")
    fails_with("ch14.generation_flops", 1.4e10, "one token")
