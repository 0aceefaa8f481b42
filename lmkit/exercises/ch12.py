"""Chapter 12 exercises: response-masked targets, the LoRA forward, the LoRA parameter count of a
GPT, and the DPO loss of preference pairs.

Introduced in chapter 12. ``diagnose`` rebuilds the usual slips on the case that failed (the
response masked instead of the prompt, the shift by one forgotten or off by one, scaling by
alpha instead of alpha / r, ΔW used without its transpose, the frozen weights counted, the
sign inside the sigmoid flipped, the reference model left out) and names the one the answer
matches.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lmkit.exercises.core import Case, Exercise, register
from lmkit.exercises.feedback import matching_slip

IGNORE = -100


# ------------------------------------------------------------ 1. response-masked targets
def _sft_targets(ids: torch.Tensor, prompt_len: int) -> torch.Tensor:
    targets = ids[1:].clone()
    targets[: prompt_len - 1] = IGNORE
    return targets


def _sft_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for length, prompt_len, label in (
        (9, 4, "9 ids, prompt of 4"),
        (14, 10, "14 ids, prompt of 10"),
        (6, 1, "6 ids, prompt of 1 (only the start token)"),
    ):
        ids = torch.randint(0, 50, (length,), generator=gen)
        cases.append(Case((ids, prompt_len), label))
    return cases


def _sft_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    ids, prompt_len = args
    unshifted = ids.clone()
    unshifted[:prompt_len] = IGNORE
    swapped = ids[1:].clone()
    swapped[prompt_len - 1 :] = IGNORE
    one_more = ids[1:].clone()
    one_more[:prompt_len] = IGNORE
    one_less = ids[1:].clone()
    one_less[: max(prompt_len - 2, 0)] = IGNORE
    return matching_slip(
        got,
        [
            (
                unshifted,
                "the targets are not shifted: position t must predict ids[t + 1], so "
                "take ids[1:] (one shorter than ids) and mask its first prompt_len - 1 entries.",
            ),
            (
                swapped,
                "you masked the response and kept the prompt: -100 goes on the prompt "
                "positions, so that only response tokens are learned.",
            ),
            (
                one_more,
                "one position too many is masked: after the shift the first response "
                "token sits at index prompt_len - 1, and it must be learned (off by one).",
            ),
            (
                one_less,
                "one prompt position too few is masked: after the shift mask exactly "
                "prompt_len - 1 entries (off by one).",
            ),
        ],
    )


register(
    Exercise(
        id="ch12.sft_targets",
        title="response-masked targets: shift by one, -100 on the prompt",
        kind="function",
        reference=_sft_targets,
        make_cases=_sft_cases,
        hints=("targets = ids[1:].clone(); then targets[:prompt_len - 1] = -100.",),
        diagnose=_sft_diagnose,
    )
)


# ------------------------------------------------------------ 2. the LoRA forward
def _lora_forward(x, weight, bias, a, b, alpha, r):
    return x @ weight.t() + bias + (alpha / r) * (x @ a.t() @ b.t())


def _lora_cases(gen: torch.Generator) -> list[Case]:
    def make(n, d_in, d_out, r, alpha, label):
        t = lambda *s: torch.randn(*s, generator=gen, dtype=torch.float64)  # noqa: E731
        return Case(
            (t(n, d_in), t(d_out, d_in), t(d_out), t(r, d_in), t(d_out, r), alpha, r), label
        )

    return [
        make(3, 6, 6, 2, 8.0, "square W (6 x 6), r=2, alpha=8"),
        make(4, 5, 7, 3, 6.0, "W (7 x 5), r=3, alpha=6"),
        make(2, 8, 4, 4, 4.0, "W (4 x 8), r=4, alpha=4"),
    ]


def _lora_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    x, w, bias, a, b, alpha, r = args
    base = x @ w.t() + bias
    low = x @ a.t() @ b.t()
    slips = [
        (base + alpha * low, "the update is scaled by alpha; the scale is alpha / r."),
        (base + (r / alpha) * low, "the scale is upside down: use alpha / r, not r / alpha."),
        (base + low, "the update is not scaled: multiply it by alpha / r."),
        (base, "only the frozen layer is computed: add (alpha / r) · x A^T B^T."),
    ]
    if w.shape[0] == w.shape[1]:
        slips.append(
            (
                base + (alpha / r) * (x @ (b @ a)),
                "ΔW = B @ A is (out, in) like W, so it acts as x @ ΔW.T, not x @ ΔW.",
            )
        )
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch12.lora_forward",
        title="the LoRA forward: frozen W plus (alpha / r) · B A",
        kind="function",
        reference=_lora_forward,
        make_cases=_lora_cases,
        hints=("x @ W.T + b + (alpha / r) * (x @ A.T @ B.T), with A (r, in) and B (out, r).",),
        diagnose=_lora_diagnose,
    )
)


# ------------------------------------------------------------ 3. LoRA parameter count of a GPT
def _lora_count(n_layer: int, n_embd: int, r: int) -> int:
    c = n_embd
    shapes = [(c, 3 * c), (c, c), (c, 4 * c), (4 * c, c)]  # (in, out) of the four Linears
    return n_layer * sum(r * (i + o) for i, o in shapes)


def _count_cases(gen: torch.Generator) -> list[Case]:
    del gen
    return [
        Case((4, 128, 4), "tiny-gpt: 4 layers, 128 dims, r=4"),
        Case((12, 768, 8), "GPT-2 small: 12 layers, 768 dims, r=8"),
        Case((2, 32, 1), "2 layers, 32 dims, r=1"),
    ]


def _count_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    n_layer, c, r = args
    shapes = [(c, 3 * c), (c, c), (c, 4 * c), (4 * c, c)]
    frozen = n_layer * sum(i * o for i, o in shapes)
    return matching_slip(
        got,
        [
            (expected + frozen, "you counted the frozen weights W too: only A and B train."),
            (
                expected + frozen + n_layer * 9 * c,
                "you counted the frozen weights and biases too: only A and B train.",
            ),
            (expected // n_layer, "that is one layer's adapters: multiply by n_layer."),
            (
                n_layer * sum(r * i for i, _ in shapes),
                "only A (r x in) was counted: B is (out x r), so each layer adds r · (in + out).",
            ),
            (
                n_layer * sum(r * i * o for i, o in shapes),
                "r · in · out is not the count: A has "
                "r · in numbers and B has out · r, so r · (in + out).",
            ),
        ],
    )


register(
    Exercise(
        id="ch12.lora_param_count",
        title="trainable parameters of LoRA on a GPT's c_attn, c_proj, c_fc, mlp.c_proj",
        kind="function",
        reference=_lora_count,
        make_cases=_count_cases,
        hints=("each adapted Linear (in -> out) adds r · (in + out); four per layer.",),
        diagnose=_count_diagnose,
    )
)


# ------------------------------------------------------------ 4. the DPO loss
def _dpo(pc, pr, rc, rr, beta):
    return F.softplus(-beta * ((pc - rc) - (pr - rr))).mean()


def _dpo_cases(gen: torch.Generator) -> list[Case]:
    def lp(n):
        return -torch.rand(n, generator=gen, dtype=torch.float64) * 20 - 1

    return [
        Case((lp(1), lp(1), lp(1), lp(1), 0.1), "one pair, beta=0.1"),
        Case((lp(5), lp(5), lp(5), lp(5), 0.5), "5 pairs, beta=0.5"),
        Case((lp(3), lp(3), lp(3), lp(3), 2.0), "3 pairs, beta=2"),
    ]


def _dpo_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    pc, pr, rc, rr, beta = args
    z = beta * ((pc - rc) - (pr - rr))
    return matching_slip(
        got,
        [
            (
                F.softplus(z).mean(),
                "the sign inside the sigmoid is flipped: the loss must "
                "fall as the chosen answer gains on the rejected one, -log σ(+β·margin).",
            ),
            (
                -F.softplus(-z).mean(),
                "the minus in front is missing: the loss is -log σ(z), a positive number.",
            ),
            (
                F.softplus(-beta * (pc - pr)).mean(),
                "the reference model is left out: each "
                "log-probability is measured relative to π_ref.",
            ),
            (F.softplus(-z / beta).mean(), "beta is missing: z = β · margin."),
            (F.softplus(-z).sum(), "that is the sum over pairs; take the mean."),
        ],
    )


register(
    Exercise(
        id="ch12.dpo_loss",
        title="the DPO loss of preference pairs",
        kind="function",
        reference=_dpo,
        make_cases=_dpo_cases,
        hints=("z = beta * ((pc - rc) - (pr - rr)); loss = -logsigmoid(z).mean().",),
        diagnose=_dpo_diagnose,
    )
)
