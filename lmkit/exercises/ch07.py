"""Chapter 7 exercises: layer norm, the feed-forward block, and counting a GPT's parameters.

Introduced in chapter 7. ``diagnose`` rebuilds the usual slips on the case that failed (the
unbiased variance, ε outside the square root, the seed article's FFN formula, a forgotten
bias or layer norm in a parameter count) and says which one the answer matches.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from lmkit.exercises.ch06 import matching_slip
from lmkit.exercises.core import Case, Exercise, register


# ------------------------------------------------------------ 1. layer norm
def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float):
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)


def _ln_cases(gen: torch.Generator) -> list[Case]:
    def case(shape: tuple[int, ...], eps: float, scale: float, label: str) -> Case:
        c = shape[-1]
        x = torch.randn(*shape, generator=gen) * scale + 3.0
        weight = 1 + 0.5 * torch.randn(c, generator=gen)
        bias = 0.5 * torch.randn(c, generator=gen)
        return Case((x, weight, bias, eps), label)

    return [
        case((4, 8), 1e-5, 2.0, "x (4, 8), eps=1e-5"),
        case((2, 3, 6), 0.5, 1.0, "x (2, 3, 6) with a large eps=0.5 (so where ε goes matters)"),
        case((5, 3), 1e-5, 10.0, "x (5, 3): only 3 features per row"),
    ]


def _ln_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    x, weight, bias, eps = args
    x = x.double()
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=False, keepdim=True)
    slips = [
        (
            (x - mean) / torch.sqrt(x.var(-1, unbiased=True, keepdim=True) + eps) * weight + bias,
            "you used the unbiased variance (divide by C − 1, torch.var's default). Layer norm "
            "divides by C: x.var(-1, unbiased=False) or ((x - mean)**2).mean(-1).",
        ),
        (
            (x - mean) / (var.sqrt() + eps) * weight + bias,
            "ε was added to the standard deviation; it goes inside the square root: "
            "sqrt(var + eps).",
        ),
        (
            (x - mean) / torch.sqrt(var + eps),
            "the normalised values are right, but the gain (weight) and shift (bias) were not "
            "applied: multiply by weight, then add bias.",
        ),
        (
            (x - x.mean(0, keepdim=True))
            / torch.sqrt(x.var(0, unbiased=False, keepdim=True) + eps)
            * weight
            + bias,
            "you normalised over the first dimension (across tokens, like batch norm). Layer "
            "norm normalises each token over its own features: the last dimension.",
        ),
    ]
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch07.layer_norm",
        title="layer norm y = (x − μ)/√(σ² + ε) · γ + β over the last dimension",
        kind="function",
        reference=_layer_norm,
        make_cases=_ln_cases,
        rtol=1e-4,
        atol=1e-5,
        hints=(
            "mean and variance over dim=-1 with keepdim=True; the variance divides by C "
            "(unbiased=False); then (x - mean) / sqrt(var + eps) * weight + bias.",
        ),
        diagnose=_ln_diagnose,
    )
)


# ------------------------------------------------------------ 2. the feed-forward block
def _ffn(x, w1, b1, w2, b2) -> torch.Tensor:
    return F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2)


def _ffn_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, shape, d in (
        ("x (3, 4), d_model=4, inner width 16", (3, 4), 4),
        ("x (2, 5, 8), d_model=8, inner width 32", (2, 5, 8), 8),
    ):
        cases.append(
            Case(
                (
                    torch.randn(*shape, generator=gen),
                    torch.randn(4 * d, d, generator=gen) / math.sqrt(d),
                    torch.randn(4 * d, generator=gen) * 0.5,
                    torch.randn(d, 4 * d, generator=gen) / math.sqrt(4 * d),
                    torch.randn(d, generator=gen) * 0.5,
                ),
                label,
            )
        )
    return cases


def _ffn_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    x, w1, b1, w2, b2 = (a.double() for a in args)
    hidden = F.linear(x, w1, b1)
    slips = [
        (
            torch.clamp_min(F.linear(torch.tanh(hidden), w2), 0) + b2,
            "this is the seed article's max(0, W₂·tanh(W₁x + b₁)) + b₂. The activation goes "
            "between the two layers, and nothing clips the output: W₂·GELU(W₁x + b₁) + b₂.",
        ),
        (
            F.linear(torch.relu(hidden), w2, b2),
            "you used ReLU (the 2017 paper's choice); this exercise asks for GELU "
            "(torch.nn.functional.gelu), as in BERT and GPT-2.",
        ),
        (
            F.linear(F.gelu(hidden, approximate="tanh"), w2, b2),
            "you used GELU's tanh approximation (GPT-2's 'gelu_new'); this exercise asks for "
            "the exact form, F.gelu(h) with its default approximate='none'.",
        ),
        (
            F.linear(F.gelu(hidden), w2),
            "the output bias b₂ is missing.",
        ),
        (
            F.linear(hidden, w2, b2),
            "there is no activation between the layers, so the two layers collapse into one "
            "linear map. Apply GELU to W₁x + b₁.",
        ),
    ]
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch07.ffn",
        title="feed-forward block FFN(x) = W₂·GELU(W₁x + b₁) + b₂",
        kind="function",
        reference=_ffn,
        make_cases=_ffn_cases,
        rtol=1e-4,
        atol=1e-5,
        hints=(
            "weights are stored like nn.Linear's, (out, in): h = x @ w1.T + b1 "
            "(or F.linear(x, w1, b1)), then F.gelu(h) @ w2.T + b2.",
        ),
        diagnose=_ffn_diagnose,
    )
)


# ------------------------------------------------------------ 3. parameters of one block
def _block_parameters(d: int) -> int:
    attention = 4 * d * d + 4 * d  # W_Q, W_K, W_V, W_O and their biases
    mlp = (d * 4 * d + 4 * d) + (4 * d * d + d)  # d -> 4d -> d
    norms = 2 * (2 * d)  # two layer norms, gain and shift
    return attention + mlp + norms


def _block_cases(gen: torch.Generator) -> list[Case]:
    d = 8 * int(torch.randint(2, 40, (1,), generator=gen))
    return [
        Case((4,), "d_model = 4"),
        Case((768,), "d_model = 768 (GPT-2 small)"),
        Case((d,), f"d_model = {d}"),
    ]


def _block_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    (d,) = args
    slips = [
        (12 * d * d, "you counted the weight matrices only; add the biases and layer norms."),
        (
            12 * d * d + 9 * d,
            "the two layer norms (a gain and a shift of size d each) are missing.",
        ),
        (12 * d * d + 11 * d, "each layer norm has a gain AND a shift: 2d per layer norm."),
        (8 * d * d + 11 * d, "the MLP's inner width is 4·d_model, not 2·d_model."),
        (
            11 * d * d + 12 * d,
            "the attention has four d×d projections: Q, K, V and the output projection W_O.",
        ),
        (
            12 * d * d + 16 * d,
            "the MLP's second layer maps back to d, so its bias has d entries, not 4d.",
        ),
    ]
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch07.block_parameters",
        title="number of parameters in one GPT-2 block of width d_model",
        kind="function",
        reference=_block_parameters,
        make_cases=_block_cases,
        hints=(
            "attention: 4 projections d×d plus 4 biases of d; MLP: d×4d + 4d and 4d×d + d; "
            "two layer norms of 2d each.",
        ),
        diagnose=_block_diagnose,
    )
)


# ------------------------------------------------------------ 4. parameters of a whole GPT
def _gpt_parameters(vocab_size: int, block_size: int, n_layer: int, n_embd: int) -> int:
    d = n_embd
    return vocab_size * d + block_size * d + n_layer * _block_parameters(d) + 2 * d


def _gpt_cases(gen: torch.Generator) -> list[Case]:
    vocab = int(torch.randint(50, 5000, (1,), generator=gen))
    return [
        Case((50257, 1024, 12, 768), "GPT-2 small: vocab 50257, block 1024, 12 layers, d=768"),
        Case((65, 64, 2, 32), "a tiny model: vocab 65, block 64, 2 layers, d=32"),
        Case((vocab, 128, 4, 64), f"vocab {vocab}, block 128, 4 layers, d=64"),
    ]


def _gpt_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    vocab, block, _layers, d = args
    slips = [
        (
            expected + vocab * d,
            "you counted the output layer separately. GPT-2 ties it to the token embedding "
            "(the same matrix), so it adds nothing.",
        ),
        (expected - 2 * d, "the final layer norm (ln_f, 2d parameters) is missing."),
        (expected - block * d, "the learned position embeddings (block_size × d) are missing."),
        (
            expected - vocab * d - block * d,
            "the embedding tables are missing: token (vocab × d) and position (block × d).",
        ),
    ]
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch07.gpt_parameters",
        title="number of parameters of a GPT-2-style model (tied output layer)",
        kind="function",
        reference=_gpt_parameters,
        make_cases=_gpt_cases,
        hints=(
            "token embedding V·d + position embedding block·d + n_layer blocks + the final "
            "layer norm (2d); the output layer reuses the token embedding.",
        ),
        diagnose=_gpt_diagnose,
    )
)
