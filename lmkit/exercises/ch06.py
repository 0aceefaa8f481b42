"""Chapter 6 exercises: causal scaled dot-product attention, the sinusoidal table, and splitting
and merging attention heads.

Introduced in chapter 6. ``diagnose`` recomputes the usual wrong answers on the very case that
failed (a missing √d_k, a missing or flipped mask, sin and cos swapped, a reshape without a
transpose) and names the one the reader's output matches, with :func:`matching_slip`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from lmkit.exercises.core import Case, Exercise, register


def matching_slip(got: Any, slips: list[tuple[Any, str]]) -> str | None:
    """The explanation of the first ``(wrong_answer, explanation)`` pair that ``got`` matches.

    Tensors match when shapes agree and values are close (rtol 1e-4, atol 1e-5); numbers match
    when equal up to rounding. ``diagnose`` functions use it to name a typical mistake after
    recomputing it on the failed case. Introduced in chapter 6; chapter 7 reuses it.
    """
    for wrong, explanation in slips:
        if isinstance(wrong, torch.Tensor):
            if (
                isinstance(got, torch.Tensor)
                and got.shape == wrong.shape
                and torch.allclose(
                    got.detach().double().cpu(), wrong.double(), rtol=1e-4, atol=1e-5
                )
            ):
                return explanation
            continue
        try:
            if math.isclose(float(got), float(wrong), rel_tol=1e-9):
                return explanation
        except (TypeError, ValueError, RuntimeError):
            continue
    return None


# ------------------------------------------------------------ 1. causal scaled dot-product attention
def _attend(q, k, v, *, scale: float, mask: str, dim: int = -1) -> torch.Tensor:
    t = q.shape[-2]
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., T, T)
    if mask != "none":
        allowed = torch.ones(t, t, dtype=torch.bool).tril()
        if mask == "upper":
            allowed = allowed.T
        scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=dim) @ v


def _causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return _attend(q, k, v, scale=1 / math.sqrt(q.shape[-1]), mask="lower")


def _attention_cases(gen: torch.Generator) -> list[Case]:
    def qkv(*shape: int, scale: float = 1.0):
        return tuple(torch.randn(*shape, generator=gen) * scale for _ in range(3))

    return [
        Case(qkv(4, 8, scale=2.0), "q, k, v of shape (T=4, d=8)"),
        Case(qkv(2, 3, 6, 16), "a batch with heads: (B=2, H=3, T=6, d=16)"),
        Case(qkv(1, 1, 4), "a single token (T=1): it can only attend to itself"),
        Case(qkv(3, 5, 64, scale=0.5), "(B=3, T=5, d=64)"),
    ]


def _attention_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    q, k, v = args
    d = q.shape[-1]
    slips = [
        (
            _attend(q, k, v, scale=1.0, mask="lower"),
            "the scores were not divided by √d_k. Use (q @ kᵀ) / math.sqrt(d_k).",
        ),
        (
            _attend(q, k, v, scale=1 / d, mask="lower"),
            "the scores were divided by d_k; divide by its square root √d_k.",
        ),
        (
            _attend(q, k, v, scale=1 / math.sqrt(d), mask="none"),
            "no causal mask: every token also looked at the tokens after it. Set the scores "
            "above the diagonal to -inf before the softmax.",
        ),
        (
            _attend(q, k, v, scale=1 / math.sqrt(d), mask="upper"),
            "the mask is flipped: tokens looked at the future and not the past. Keep the "
            "lower triangle (torch.tril), key position <= query position.",
        ),
        (
            _attend(q, k, v, scale=1 / math.sqrt(d), mask="lower", dim=-2),
            "softmax ran over the queries (dim=-2). Each query's weights over the keys must "
            "sum to 1: softmax over the last dimension.",
        ),
    ]
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch06.causal_attention",
        title="causal scaled dot-product attention softmax(QKᵀ/√d_k + mask) V",
        kind="function",
        reference=_causal_attention,
        make_cases=_attention_cases,
        rtol=1e-4,
        atol=1e-5,
        hints=(
            "scores = q @ k.transpose(-2, -1) / math.sqrt(d_k); set scores where key position > "
            "query position to float('-inf'); softmax over the last dim; multiply by v.",
        ),
        diagnose=_attention_diagnose,
    )
)


# ------------------------------------------------------------ 2. sinusoidal position encodings
def _angles(
    max_len: int, dim: int, exponent_of: Callable[[torch.Tensor], torch.Tensor], start: int = 0
) -> torch.Tensor:
    position = torch.arange(start, start + max_len, dtype=torch.float64).unsqueeze(1)  # (P, 1)
    pair = torch.arange(0, dim, 2, dtype=torch.float64)  # 0, 2, 4, … = "2i"
    return position / 10000.0 ** exponent_of(pair)  # (P, dim/2)


def _interleave(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    return torch.stack((first, second), dim=-1).flatten(-2)  # columns f0 s0 f1 s1 …


def _sinusoidal(max_len: int, dim: int) -> torch.Tensor:
    angle = _angles(max_len, dim, lambda pair: pair / dim)
    return _interleave(angle.sin(), angle.cos()).float()


def _sinusoid_cases(gen: torch.Generator) -> list[Case]:
    max_len = int(torch.randint(5, 40, (1,), generator=gen))
    dim = 2 * int(torch.randint(2, 17, (1,), generator=gen))
    return [
        Case((4, 2), "max_len=4, dim=2 (one sin/cos pair)"),
        Case((10, 8), "max_len=10, dim=8"),
        Case((max_len, dim), f"random sizes max_len={max_len}, dim={dim}"),
    ]


def _sinusoid_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    max_len, dim = args
    right = _angles(max_len, dim, lambda pair: pair / dim)
    per_index = _angles(max_len, dim, lambda pair: (pair / 2) / dim)
    from_one = _angles(max_len, dim, lambda pair: pair / dim, start=1)
    slips = [
        (
            _interleave(right.cos(), right.sin()),
            "sin and cos are swapped: even columns (0, 2, 4, …) hold the sine, odd ones the cosine.",
        ),
        (
            torch.cat((right.sin(), right.cos()), dim=-1),
            "all sines come first and then all cosines; the 2017 table interleaves them: "
            "column 2i is sin, column 2i+1 the cosine of the same angle.",
        ),
        (
            _interleave(per_index.sin(), per_index.cos()),
            "the exponent used the pair number i; it is 2i/dim (the even column index over dim).",
        ),
        (
            _interleave(from_one.sin(), from_one.cos()),
            "positions start at 1; the first row is position 0 (sin 0 = 0, cos 0 = 1).",
        ),
    ]
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch06.sinusoidal_encoding",
        title="the sinusoidal position table PE (max_len, dim)",
        kind="function",
        reference=_sinusoidal,
        make_cases=_sinusoid_cases,
        rtol=1e-4,
        atol=1e-5,
        hints=(
            "angle[p, i] = p / 10000^(2i/dim) for pairs i = 0 … dim/2 − 1; PE[:, 0::2] = sin(angle), "
            "PE[:, 1::2] = cos(angle).",
        ),
        diagnose=_sinusoid_diagnose,
    )
)


# ------------------------------------------------------------ 3. split heads
def _split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    b, t, c = x.shape
    return x.reshape(b, t, n_heads, c // n_heads).transpose(1, 2)  # (B, H, T, hd)


def _split_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case(
            (torch.arange(24.0).reshape(1, 3, 8), 2), "x = arange(24) as (B=1, T=3, C=8), 2 heads"
        ),
        Case((torch.randn(2, 5, 12, generator=gen), 3), "(B=2, T=5, C=12), 3 heads"),
        Case((torch.randn(3, 4, 16, generator=gen), 4), "(B=3, T=4, C=16), 4 heads"),
    ]


def _split_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    x, n_heads = args
    b, t, c = x.shape
    slips = [
        (
            x.reshape(b, n_heads, t, c // n_heads),
            "you reshaped straight to (B, H, T, hd). The shape is right but the numbers are "
            "scrambled: the features of one token are contiguous, so reshape to (B, T, H, hd) "
            "first and then swap T and H with transpose(1, 2).",
        ),
        (
            x.reshape(b, t, n_heads, c // n_heads),
            "this is (B, T, H, hd): the heads are not yet a batch dimension. Add transpose(1, 2).",
        ),
    ]
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch06.split_heads",
        title="split (B, T, C) into heads (B, H, T, C/H)",
        kind="function",
        reference=_split_heads,
        make_cases=_split_cases,
        hints=(
            "x.view(B, T, H, C // H) keeps each token's features together; then .transpose(1, 2).",
        ),
        diagnose=_split_diagnose,
    )
)


# ------------------------------------------------------------ 4. merge heads
def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, t, hd = x.shape
    return x.transpose(1, 2).reshape(b, t, h * hd)  # (B, T, C): heads side by side


def _merge_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.arange(24.0).reshape(1, 2, 3, 4),), "x = arange(24) as (B=1, H=2, T=3, hd=4)"),
        Case((torch.randn(2, 3, 5, 4, generator=gen),), "(B=2, H=3, T=5, hd=4)"),
        Case((torch.randn(1, 4, 2, 8, generator=gen),), "(B=1, H=4, T=2, hd=8)"),
    ]


def _merge_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    (x,) = args
    b, h, t, hd = x.shape
    slips = [
        (
            x.reshape(b, t, h * hd),
            "you reshaped (B, H, T, hd) straight to (B, T, C). The shape is right but each "
            "row now mixes several tokens of one head. Move the heads next to hd first: "
            "transpose(1, 2), then reshape (contiguous() or reshape handles the copy).",
        ),
    ]
    if isinstance(got, torch.Tensor) and got.shape == (b, h, t * hd):
        return "the result is (B, H, T·hd); it must be (B, T, H·hd): one row per token."
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch06.merge_heads",
        title="merge heads (B, H, T, hd) back into (B, T, H·hd)",
        kind="function",
        reference=_merge_heads,
        make_cases=_merge_cases,
        hints=("x.transpose(1, 2) gives (B, T, H, hd); then .reshape(B, T, H * hd).",),
        diagnose=_merge_diagnose,
    )
)
