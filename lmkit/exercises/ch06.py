"""Chapter 6 exercises: causal scaled dot-product attention, the sinusoidal table, a whole
multi-head attention module, and attention with padding (all-padding rows give 0, not NaN).

Introduced in chapter 6. ``diagnose`` recomputes the usual wrong answers on the very case that
failed (a missing √d_k or √d_model instead of √head_dim, a missing or flipped mask, sin and cos
swapped, a reshape without a transpose, a forgotten W_O, NaN rows) and names the one the reader's
output matches, with :func:`matching_slip`. The module exercise takes the reader's class,
builds it, loads the case's weights and compares with ``torch.nn.MultiheadAttention``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from lmkit.exercises.core import Case, Exercise, register
from lmkit.exercises.feedback import matching_slip


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


# ------------------------------------------------------------ 3. a multi-head attention module
MHA_NAMES = ("q_proj", "k_proj", "v_proj", "out_proj")


def _mha_state(d_model: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    state = {}
    for name in MHA_NAMES:
        state[f"{name}.weight"] = torch.randn(d_model, d_model, generator=gen) / math.sqrt(d_model)
        state[f"{name}.bias"] = 0.3 * torch.randn(d_model, generator=gen)
    return state


class _TorchMultiHeadAttention(torch.nn.Module):
    """The reference: the exercise's parameter names, computed by torch.nn.MultiheadAttention."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        for name in MHA_NAMES:
            setattr(self, name, torch.nn.Linear(d_model, d_model))

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        reference = torch.nn.MultiheadAttention(x.shape[-1], self.n_heads, batch_first=True)
        with torch.no_grad():
            projections = [getattr(self, name) for name in MHA_NAMES[:3]]
            reference.in_proj_weight.copy_(torch.cat([p.weight for p in projections]))
            reference.in_proj_bias.copy_(torch.cat([p.bias for p in projections]))
            reference.out_proj.load_state_dict(self.out_proj.state_dict())
        t = x.shape[1]
        future = torch.ones(t, t, dtype=torch.bool).triu(1) if causal else None  # True = blocked
        return reference.eval()(x, x, x, attn_mask=future, need_weights=False)[0]


def build_module(answer: Any, sizes: tuple, state: dict, naming: str) -> torch.nn.Module:
    """The reader's class built with ``sizes``, ``state`` loaded, in eval mode.

    A parameter-name mismatch becomes a TypeError that says how the parts must be named
    (``naming``). Shared by the "build a module" exercises; chapter 7 reuses it.
    """
    module = answer(*sizes)
    try:
        module.load_state_dict(state)
    except (RuntimeError, AttributeError) as exc:
        raise TypeError(f"{naming} ({exc})") from exc
    return module.eval()


def _run_mha_module(answer: Any, args: tuple) -> Any:
    d_model, n_heads, state, x, causal = args
    naming = ("your module's parameters must be four nn.Linear(d_model, d_model) layers named "
              "q_proj, k_proj, v_proj and out_proj, with biases")  # fmt: skip
    with torch.no_grad():
        return build_module(answer, (d_model, n_heads), state, naming)(x, causal=causal)


def _mha_by_hand(state, x, n_heads, causal, *, scale="head", split="right", merge=True,
                 mask="lower", dim=-1) -> torch.Tensor:  # fmt: skip
    def linear(name, inp):
        return inp @ state[f"{name}.weight"].T + state[f"{name}.bias"]

    b, t, c = x.shape
    hd = c // n_heads

    def heads(inp):
        if split == "right":
            return inp.view(b, t, n_heads, hd).transpose(1, 2)
        return inp.reshape(b, n_heads, t, hd)  # the scrambled split

    q, k, v = (heads(linear(name, x)) for name in MHA_NAMES[:3])
    factor = {"head": 1 / math.sqrt(hd), "model": 1 / math.sqrt(c), "none": 1.0}[scale]
    out = _attend(q, k, v, scale=factor, mask=mask if causal else "none", dim=dim)
    out = out.transpose(1, 2).reshape(b, t, c)
    return linear("out_proj", out) if merge else out


def _mha_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for d_model, n_heads, batch, t, causal, label in (
        (8, 2, 1, 4, False, "d_model=8, 2 heads, x (1, 4, 8), no mask"),
        (12, 3, 2, 5, True, "d_model=12, 3 heads, x (2, 5, 12), causal"),
        (16, 4, 2, 6, False, "d_model=16, 4 heads, x (2, 6, 16), no mask"),
        (16, 4, 3, 7, True, "d_model=16, 4 heads, x (3, 7, 16), causal"),
        (6, 1, 1, 1, True, "one head, one token (T=1), causal"),
    ):
        state = _mha_state(d_model, gen)
        x = torch.randn(batch, t, d_model, generator=gen)
        cases.append(Case((d_model, n_heads, state, x, causal), label))
    return cases


def _mha_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    _, n_heads, state, x, causal = args
    if isinstance(got, tuple):
        return "return only the output tensor (B, T, d_model), not a tuple."
    by_hand = lambda **kw: _mha_by_hand(state, x, n_heads, causal, **kw)  # noqa: E731
    slips = [
        (by_hand(scale="model"), "the scores were divided by √d_model; divide by √(head size), "
         "√(d_model / n_heads): each head's dot products have head-size terms."),
        (by_hand(scale="none"), "the scores were not scaled: divide q·kᵀ by √(d_model / n_heads)."),
        (by_hand(split="scrambled"), "the heads were cut with one reshape to (B, H, T, hd), "
         "which mixes tokens: reshape to (B, T, H, hd) first, then transpose(1, 2)."),
        (by_hand(merge=False), "the heads were concatenated but out_proj (W_O) was not applied."),
        (by_hand(dim=-2), "softmax ran over the queries (dim=-2); each query's weights over "
         "the keys must sum to 1: softmax over the last dimension."),
    ]  # fmt: skip
    if causal:
        slips += [
            (by_hand(mask="none"), "causal=True was ignored: block key positions after the "
             "query (scores set to -inf above the diagonal) before the softmax."),
            (by_hand(mask="upper"), "the causal mask is flipped: keep the lower triangle."),
        ]  # fmt: skip
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch06.multi_head_attention",
        title="a multi-head self-attention module, checked against nn.MultiheadAttention",
        kind="function",
        reference=_TorchMultiHeadAttention,
        make_cases=_mha_cases,
        call=_run_mha_module,
        rtol=1e-4,
        atol=1e-5,
        hints=(
            "project with q_proj/k_proj/v_proj, view as (B, T, H, hd) and transpose to "
            "(B, H, T, hd), attend with scores / √hd (mask the future if causal), transpose "
            "back, reshape to (B, T, d_model), then out_proj.",
        ),
        diagnose=_mha_diagnose,
    )
)


# ------------------------------------------------------------ 4. padding, and rows with nothing to see
def _padded_attention(q, k, v, key_padding_mask) -> torch.Tensor:
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, L, S)
    scores = scores.masked_fill(key_padding_mask[:, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # all-padding rows: 0, not NaN
    return weights @ v


def _padding_cases(gen: torch.Generator) -> list[Case]:
    def make(batch, length, d, pads, label):
        q, k, v = (torch.randn(batch, length, d, generator=gen) for _ in range(3))
        mask = torch.arange(length)[None, :] >= (length - torch.tensor(pads))[:, None]
        return Case((q, k, v, mask), label)

    return [
        make(2, 5, 4, [0, 2], "B=2, T=5: the second row has 2 pads"),
        make(3, 4, 8, [1, 0, 3], "B=3, T=4: pads of 1, 0 and 3"),
        make(2, 3, 4, [0, 3], "B=2, T=3: the second row is ALL padding"),
    ]


def _padding_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    q, k, v, mask = args
    if isinstance(got, torch.Tensor) and got.isnan().any():
        return ("a row whose keys are all padding is softmax over only -inf, 0/0 = NaN. Give "
                "such rows zero weights (e.g. weights.nan_to_num(0.0)) so the output is 0.")  # fmt: skip
    flipped = _padded_attention(q, k, v, ~mask).nan_to_num(0.0)
    unmasked = _padded_attention(q, k, v, torch.zeros_like(mask))
    return matching_slip(got, [
        (flipped, "the mask is inverted: True marks padding, which must get zero weight."),
        (unmasked, "the padding was not masked: set scores of padded keys to -inf."),
    ])  # fmt: skip


register(
    Exercise(
        id="ch06.padded_attention",
        title="attention with a key padding mask, zeros (not NaN) for all-padding rows",
        kind="function",
        reference=_padded_attention,
        make_cases=_padding_cases,
        rtol=1e-4,
        atol=1e-5,
        hints=(
            "scores.masked_fill(key_padding_mask[:, None, :], -inf), softmax over the last "
            "dim, replace NaN by 0, then @ v.",
        ),
        diagnose=_padding_diagnose,
    )
)
