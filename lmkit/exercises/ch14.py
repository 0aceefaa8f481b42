"""Chapter 14 exercises: int8 weight quantisation with one scale per output row, attention by
blocks with the online-softmax recurrence (flash attention's idea), the memory one GPU holds
under ZeRO, and the FLOPs of generating text with a 7B model.

Introduced in chapter 14. The references are written here from the definitions; the tests check
torch's own pieces against them (``F.scaled_dot_product_attention``, the integer weights of
``torch.ao`` dynamic quantisation). ``diagnose`` rebuilds the usual slips on the case that
failed (one scale for the whole matrix, scale = absmax / 128 or / 255, truncation instead of
rounding, scales per column; blocks whose partial sums are not rescaled when the running
maximum grows, each block normalised on its own, the 1/sqrt(d) forgotten; ZeRO stages that
partition the wrong part, optimiser states counted without the fp32 master weights; 6N or N
FLOPs per generated token instead of 2N) and names the one the answer matches.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from lmkit.exercises.ch06 import matching_slip
from lmkit.exercises.core import Case, Exercise, register


# ------------------------------------------------------------ 1. int8 weights, a scale per row
def _quantize(
    weight: torch.Tensor, levels: float = 127.0, dim: int | None = 1, rounding=torch.round
):
    w = weight.float()
    absmax = w.abs().amax(dim=dim, keepdim=True) if dim is not None else w.abs().max()
    scale = absmax / levels
    q = rounding(w / scale).clamp(-127, 127).to(torch.int8)
    return q, scale.flatten() if dim is not None else scale


def _int8_quantize(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return _quantize(weight)


def _quantize_cases(gen: torch.Generator) -> list[Case]:
    def matrix(rows, cols, spread):
        w = torch.randn(rows, cols, generator=gen) * 0.05
        return w * torch.logspace(0, spread, rows)[:, None]  # rows of very different sizes

    return [
        Case((torch.tensor([[0.5, -1.0, 0.25], [2.0, 0.1, -0.6]]),), "a 2 × 3 matrix"),
        Case((matrix(8, 16, 2),), "8 × 16, row sizes spread over 100×"),
        Case((matrix(32, 64, 3),), "32 × 64, row sizes spread over 1000×"),
    ]


def _quantize_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    if not isinstance(got, tuple) or len(got) != 2:
        return "return a pair (q, scale): the int8 matrix and one scale per output row."
    (w,) = args
    q, scale = got
    slips = [
        (_quantize(w, dim=None), "you used one scale for the whole matrix: use one per output "
         "row (absmax over dim=1), so small rows keep their precision."),
        (_quantize(w, dim=0), "your scales are per column (dim=0): a Linear's weight is "
         "(out_features, in_features); take the absmax of each ROW."),
        (_quantize(w, 128.0), "scale = absmax / 128 leaves +127 unused: divide by 127 so the "
         "largest weight maps to ±127 exactly."),
        (_quantize(w, 255.0), "scale = absmax / 255 is for unsigned 0..255; int8 is symmetric, "
         "±127."),
        (_quantize(w, rounding=torch.trunc), "you truncated (int8 cast) instead of rounding: "
         "use torch.round before the cast; truncation doubles the error."),
    ]  # fmt: skip
    if not (torch.is_tensor(q) and torch.is_tensor(scale)):
        return "return two tensors: q (int8, the shape of weight) and scale (one per row)."
    if matching_slip(q, [(expected[0].float(), "")]) is None:  # q is wrong: which slip made it?
        for (wrong_q, _), explanation in slips:
            if matching_slip(q, [(wrong_q.float(), "")]) is not None:
                return explanation
        return None
    scale = scale.flatten().double()  # q is right, so the scale is the slip
    scale_slips = [(expected[1] * 127, "you returned the absmax itself; the scale is absmax / 127 "
                    "(q * scale ≈ w).")]  # fmt: skip
    scale_slips += [(wrong_scale, explanation) for (_, wrong_scale), explanation in slips[2:4]]
    return matching_slip(scale, [(e.flatten().double(), x) for e, x in scale_slips])


register(
    Exercise(
        id="ch14.int8_quantize",
        title="int8 weight-only quantisation: q = round(w / scale), one absmax scale per row",
        kind="function",
        reference=_int8_quantize,
        make_cases=_quantize_cases,
        hints=(
            "scale = weight.abs().amax(dim=1) / 127 (shape (out,)); q = torch.round(weight / "
            "scale[:, None]).clamp(-127, 127).to(torch.int8); return q, scale.",
        ),
        diagnose=_quantize_diagnose,
    )
)


# ------------------------------------------------------------ 2. attention by blocks, online softmax
def _softmax_attention(q, k, v, scaled=True):
    scores = q @ k.T / (math.sqrt(q.shape[-1]) if scaled else 1.0)
    return torch.softmax(scores, dim=-1) @ v


def _online_softmax_attention(q, k, v, block):
    return _softmax_attention(q.double(), k.double(), v.double()).to(q.dtype)


def _blockwise(q, k, v, block, rescale=True, each_block_alone=False):
    scale = 1 / math.sqrt(q.shape[-1])
    running_max = torch.full((q.shape[0], 1), float("-inf"), dtype=q.dtype)
    total = torch.zeros(q.shape[0], 1, dtype=q.dtype)
    acc = torch.zeros(q.shape[0], v.shape[1], dtype=q.dtype)
    outs = []
    for start in range(0, k.shape[0], block):
        s = q @ k[start : start + block].T * scale
        if each_block_alone:
            outs.append(torch.softmax(s, dim=-1) @ v[start : start + block])
            continue
        new_max = torch.maximum(running_max, s.amax(dim=1, keepdim=True))
        p = torch.exp(s - new_max)
        fix = torch.exp(running_max - new_max) if rescale else torch.ones_like(new_max)
        total = total * fix + p.sum(dim=1, keepdim=True)
        acc = acc * fix + p @ v[start : start + block]
        running_max = new_max
    if each_block_alone:
        return torch.stack(outs).mean(0)
    return acc / total


def _attention_cases(gen: torch.Generator) -> list[Case]:
    def qkv(t, s, d, size=1.0):
        return tuple(torch.randn(n, d, generator=gen) * size for n in (t, s, s))

    return [
        Case((*qkv(4, 8, 4), 4), "4 queries, 8 keys in 2 blocks of 4"),
        Case((*qkv(6, 10, 8), 3), "6 queries, 10 keys in blocks of 3 (the last block has 1)"),
        Case(
            (*qkv(5, 16, 8, 10.0), 4), "large scores (entries × 10): exp overflows without the max"
        ),
        Case((*qkv(3, 7, 4), 7), "one block holding all 7 keys"),
    ]


def _attention_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    q, k, v, block = args
    return matching_slip(
        got,
        [
            (_blockwise(q, k, v, block, rescale=False), "the partial sums are not rescaled: "
             "when the running maximum grows from m to m', multiply the accumulator and the "
             "denominator by exp(m - m') before adding the new block."),
            (_blockwise(q, k, v, block, each_block_alone=True), "you averaged one softmax per "
             "block: the blocks share ONE denominator, carried along as a running sum."),
            (_softmax_attention(q, k, v, scaled=False), "the scores are not divided by "
             "sqrt(d)."),
        ],
    )  # fmt: skip


register(
    Exercise(
        id="ch14.online_softmax_attention",
        title="softmax(q kᵀ/√d) v computed one block of keys at a time (online softmax)",
        kind="function",
        reference=_online_softmax_attention,
        make_cases=_attention_cases,
        rtol=1e-4,
        atol=1e-5,
        hints=(
            "keep per query a running max m, a running sum l and an accumulator acc; for each "
            "block s = q @ kb.T / sqrt(d): m' = max(m, s.max(1)), p = exp(s - m'), "
            "l = l·exp(m - m') + p.sum(1), acc = acc·exp(m - m') + p @ vb; at the end acc / l.",
        ),
        diagnose=_attention_diagnose,
    )
)


# ------------------------------------------------------------ 3. ZeRO: bytes one GPU holds
_WEIGHTS, _GRADS, _STATES = 2, 2, 12  # fp16 weights and grads; fp32 master copy, m and v


def _zero(n_params, n_gpus, stage, weights=_WEIGHTS, grads=_GRADS, states=_STATES, order=(1, 2, 3)):
    split_states, split_grads, split_weights = (stage >= s for s in order)
    return n_params * (
        (states / n_gpus if split_states else states)
        + (grads / n_gpus if split_grads else grads)
        + (weights / n_gpus if split_weights else weights)
    )


def _zero_memory_per_gpu(n_params: int, n_gpus: int, stage: int) -> float:
    return float(_zero(n_params, n_gpus, stage))


def _zero_cases(gen: torch.Generator) -> list[Case]:
    cases = [Case((175_000_000_000, 64, s), f"GPT-3 175B on 64 GPUs, ZeRO stage {s}")
             for s in range(4)]  # fmt: skip
    n = int(torch.randint(1, 70, (1,), generator=gen)) * 1_000_000_000
    cases += [Case((n, 8, 2), f"{n // 10**9}B parameters on 8 GPUs, stage 2"),
              Case((n, 1, 3), f"{n // 10**9}B parameters on 1 GPU, stage 3")]  # fmt: skip
    return cases


def _zero_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    n, g, stage = args
    return matching_slip(
        got,
        [
            (
                _zero(n, g, stage, states=8),
                "you counted 8 bytes of Adam state per parameter; in "
                "mixed precision the optimiser also keeps an fp32 master copy: 4 + 4 + 4 = 12.",
            ),
            (
                _zero(n, g, stage, order=(3, 2, 1)),
                "the stages are in the wrong order: stage 1 "
                "partitions the optimiser states, 2 adds the gradients, 3 adds the weights.",
            ),
            (_zero(n, g, 0), "nothing was partitioned: stage s > 0 divides parts by n_gpus."),
            (_zero(n, g, 3), "everything was divided by n_gpus: only stage 3 partitions all."),
            (_zero(n, g, stage) / 10**9, "that is in GB; return bytes."),
        ],
    )


register(
    Exercise(
        id="ch14.zero_memory_per_gpu",
        title="bytes of weights, gradients and AdamW states per GPU under ZeRO stage 0-3",
        kind="function",
        reference=_zero_memory_per_gpu,
        make_cases=_zero_cases,
        hints=(
            "per parameter: 2 bytes fp16 weights, 2 bytes fp16 gradients, 12 bytes fp32 master "
            "weights + m + v. Stage 1 divides the 12 by n_gpus, stage 2 also the gradients, "
            "stage 3 also the weights.",
        ),
        diagnose=_zero_diagnose,
    )
)


# ------------------------------------------------------------ 4. FLOPs of generation with 7B
def _generation_flops() -> float:
    return 2 * 7e9 * 1000  # 2N per generated token (one multiply and one add per weight)


def _generation_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    return matching_slip(
        got,
        [
            (
                6 * 7e9 * 1000,
                "6N per token is training (forward + backward); generating is a "
                "forward pass only: 2N.",
            ),
            (
                7e9 * 1000,
                "N per token counts a multiply-add as one operation; FLOPs count the "
                "multiply and the add: 2N.",
            ),
            (2 * 7e9, "that is one token; the answer has 1,000."),
        ],
    )


register(
    Exercise(
        id="ch14.generation_flops",
        title="forward FLOPs for a 7-billion-parameter model to generate 1,000 tokens",
        kind="value",
        reference=_generation_flops,
        rtol=1e-3,
        atol=0.0,
        hints=("each generated token runs every weight once: one multiply and one add each.",),
        diagnose=_generation_diagnose,
    )
)
