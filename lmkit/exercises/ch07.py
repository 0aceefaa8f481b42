"""Chapter 7 exercises: layer norm, the feed-forward block, counting a GPT's parameters, a
whole GPT block (a module checked against lmkit's Block with the same weights) and the greedy
generation loop (checked against lmkit's generate).

Introduced in chapter 7. ``diagnose`` rebuilds the usual slips on the case that failed (the
unbiased variance, ε outside the square root, the seed article's FFN formula, a forgotten
bias or layer norm in a parameter count, post-LN instead of pre-LN, a missing residual or
causal mask, the exact GELU, reading the first position's logits) and says which one the
answer matches.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from lmkit.decoding.generation import generate
from lmkit.exercises.ch06 import build_module
from lmkit.exercises.core import Case, Exercise, register
from lmkit.exercises.feedback import matching_slip
from lmkit.gpt.blocks import Block
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT


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


# ------------------------------------------------------------ 3. parameters of a whole GPT
def _block_parameters(d: int) -> int:
    attention = 4 * d * d + 4 * d  # W_Q, W_K, W_V, W_O and their biases
    mlp = (d * 4 * d + 4 * d) + (4 * d * d + d)  # d -> 4d -> d
    norms = 2 * (2 * d)  # two layer norms, gain and shift
    return attention + mlp + norms


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


# ------------------------------------------------------------ 4. a whole GPT block
def _block_config(n_embd: int, n_head: int) -> GPTConfig:
    return GPTConfig(vocab_size=8, block_size=16, n_layer=1, n_embd=n_embd, n_head=n_head)


class _LmkitBlock(Block):
    """The reference: lmkit's Block behind the exercise's interface, forward(x) -> x."""

    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__(_block_config(n_embd, n_head))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)[0]


def _run_block_module(answer: Any, args: tuple) -> Any:
    n_embd, n_head, state, x = args
    naming = ("name the parts as lmkit (and GPT-2) does: ln_1, attn.c_attn (C -> 3C), "
              "attn.c_proj, ln_2, mlp.c_fc (C -> 4C), mlp.c_proj, all with biases")  # fmt: skip
    with torch.no_grad():
        return build_module(answer, (n_embd, n_head), state, naming)(x)


def _block_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for n_embd, n_head, batch, t in ((8, 2, 1, 4), (16, 4, 2, 6), (12, 3, 2, 5), (8, 1, 1, 1)):
        shapes = Block(_block_config(n_embd, n_head)).state_dict()
        state = {}
        for name, tensor in shapes.items():
            noise = torch.randn(tensor.shape, generator=gen)
            if name.startswith("ln_"):  # gains near 1, shifts near 0, neither exactly
                state[name] = (1.0 if name.endswith("weight") else 0.0) + 0.2 * noise
            else:
                fan_in = tensor.shape[-1] if tensor.dim() == 2 else n_embd
                state[name] = noise / math.sqrt(fan_in) * (1.0 if tensor.dim() == 2 else 0.3)
        x = 2 * torch.randn(batch, t, n_embd, generator=gen)
        label = f"n_embd={n_embd}, n_head={n_head}, x ({batch}, {t}, {n_embd})"
        cases.append(Case((n_embd, n_head, state, x), label))
    return cases


def _block_by_hand(state, x, n_head, *, pre_ln=True, residual=True, causal=True, gelu="tanh"):
    def linear(name, inp):
        return F.linear(inp, state[f"{name}.weight"], state[f"{name}.bias"])

    def norm(name, inp):
        return F.layer_norm(inp, inp.shape[-1:], state[f"{name}.weight"], state[f"{name}.bias"])

    def attention(inp):
        b, t, c = inp.shape
        q, k, v = (z.view(b, t, n_head, c // n_head).transpose(1, 2)
                   for z in linear("attn.c_attn", inp).split(c, dim=-1))  # fmt: skip
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return linear("attn.c_proj", y.transpose(1, 2).reshape(b, t, c))

    def mlp(inp):
        hidden = linear("mlp.c_fc", inp)
        act = F.relu(hidden) if gelu == "relu" else F.gelu(hidden, approximate=gelu)
        return linear("mlp.c_proj", act)

    keep = 1.0 if residual else 0.0
    if pre_ln:
        x = keep * x + attention(norm("ln_1", x))
        return keep * x + mlp(norm("ln_2", x))
    x = norm("ln_1", x + attention(x))
    return norm("ln_2", x + mlp(x))


def _block_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    _, n_head, state, x = args
    if isinstance(got, tuple):
        return "return only the new residual stream (B, T, C), not a tuple."
    by_hand = lambda **kw: _block_by_hand(state, x, n_head, **kw)  # noqa: E731
    slips = [
        (by_hand(pre_ln=False), "this is a post-LN block (LN(x + f(x)), 2017/BERT). GPT-2 is "
         "pre-LN: x + attn(ln_1(x)), then x + mlp(ln_2(x))."),
        (by_hand(residual=False), "the residual connections are missing: add each sub-layer's "
         "output to its input, x = x + attn(ln_1(x))."),
        (by_hand(gelu="none"), "you used the exact GELU; GPT-2 (and lmkit) use its tanh "
         "approximation, F.gelu(h, approximate='tanh')."),
        (by_hand(gelu="relu"), "you used ReLU; GPT-2's MLP uses GELU (tanh approximation)."),
    ]  # fmt: skip
    if x.shape[1] > 1:
        slips.append((by_hand(causal=False), "no causal mask: a token saw the tokens after it."))
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch07.gpt_block",
        title="a pre-LN GPT block, checked against lmkit.gpt.blocks.Block with the same weights",
        kind="function",
        reference=_LmkitBlock,
        make_cases=_block_cases,
        call=_run_block_module,
        rtol=1e-4,
        atol=1e-5,
        hints=(
            "x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)). attn: c_attn gives q, k, v (split at "
            "C), heads as (B, H, T, hd), causal softmax(qkᵀ/√hd)v, merge, c_proj. mlp: c_fc, "
            "GELU (tanh), c_proj.",
        ),
        diagnose=_block_diagnose,
    )
)


# ------------------------------------------------------------ 5. the greedy generation loop
def _greedy_reference(model, ids, max_new_tokens) -> torch.Tensor:
    return generate(model, ids, max_new_tokens=max_new_tokens, strategy="greedy")


def _greedy_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for vocab, length, new, block in ((20, 3, 5, 16), (30, 1, 8, 16), (25, 6, 4, 10)):
        with torch.random.fork_rng(devices=[]):  # GPT() draws its weights from the global RNG
            torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
            config = GPTConfig(vocab_size=vocab, block_size=block, n_layer=1, n_embd=16, n_head=2)
            model = GPT(config).eval()
        ids = torch.randint(0, vocab, (1, length), generator=gen)
        label = f"a random GPT (vocab {vocab}), a prompt of {length}, {new} new tokens"
        cases.append(Case((model, ids, new), label))
    return cases


def _greedy_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    model, ids, new = args
    if isinstance(got, torch.Tensor) and got.shape[-1] == new:
        return "return the prompt followed by the new tokens, (1, T + max_new_tokens)."
    seq = ids
    with torch.no_grad():
        for _ in range(new):  # the slip: the first position's logits instead of the last
            seq = torch.cat([seq, model(seq).logits[:, 0].argmax(-1, keepdim=True)], dim=1)
    return matching_slip(got, [(seq, "you read the logits of position 0; the next token "
                                "comes from the LAST position, logits[:, -1].")])  # fmt: skip


register(
    Exercise(
        id="ch07.generate_greedy",
        title="the greedy generation loop: forward, last logits, argmax, append",
        kind="function",
        reference=_greedy_reference,
        make_cases=_greedy_cases,
        hints=(
            "repeat max_new_tokens times: logits = model(ids).logits[:, -1]; "
            "next = logits.argmax(-1, keepdim=True); ids = torch.cat([ids, next], dim=1).",
        ),
        diagnose=_greedy_diagnose,
    )
)
