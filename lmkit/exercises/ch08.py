"""Chapter 8 exercises: training windows, perplexity, the 6·N·D FLOP estimate, the LR schedule.

Introduced in chapter 8. ``diagnose`` rebuilds the usual slips on the case that failed (targets
not shifted or shifted the wrong way, perplexity in base 2 or without the exponential, the
forward-only 2·N·D, a warmup that starts at 0 or a cosine that decays to 0) and names the one
the answer matches.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from lmkit.exercises.core import Case, Exercise, register
from lmkit.exercises.feedback import matching_slip
from lmkit.training.schedule import warmup_cosine


# ------------------------------------------------------------ 1. sliding-window batches
def _windows(tokens: torch.Tensor, starts: torch.Tensor, block_size: int):
    offsets = torch.arange(block_size)
    index = starts[:, None] + offsets  # (B, T)
    return tokens[index], tokens[index + 1]


def _window_cases(gen: torch.Generator) -> list[Case]:
    tokens = torch.randint(0, 50, (40,), generator=gen)
    return [
        Case(
            (torch.arange(10, 30), torch.tensor([0, 5, 12]), 4),
            "tokens 10…29, starts [0, 5, 12], T=4",
        ),
        Case(
            (tokens, torch.randint(0, 40 - 8, (6,), generator=gen), 8),
            "40 random ids, 6 windows of T=8",
        ),
        Case((tokens, torch.tensor([40 - 3 - 1]), 3), "one window that ends on the last token"),
    ]


def _window_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    tokens, starts, block = args
    index = starts[:, None] + torch.arange(block)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "return a pair (x, y), both of shape (len(starts), block_size)."
    x, y = got
    slips_y = [
        (tokens[index], "y equals x: the targets must be the inputs shifted one token right."),
        (
            tokens[(index - 1).clamp_min(0)],
            "y is shifted the wrong way (one token left): y[b, t] is the token AFTER x[b, t].",
        ),
        (tokens[(index + 2).clamp_max(len(tokens) - 1)], "y is shifted by two tokens; by one."),
    ]
    found = matching_slip(y, slips_y)
    if found:
        return found
    if matching_slip(x, [(tokens[index + 1], "")]) is not None:
        return (
            "x starts one token late (off by one): window b is tokens[s : s + T] for s = starts[b]."
        )
    return None


register(
    Exercise(
        id="ch08.lm_windows",
        title="(x, y) training windows: x = tokens[s : s+T], y = tokens[s+1 : s+T+1]",
        kind="function",
        reference=_windows,
        make_cases=_window_cases,
        hints=(
            "index = starts[:, None] + torch.arange(block_size) is a (B, T) table of positions; "
            "x = tokens[index], y = tokens[index + 1].",
        ),
        diagnose=_window_diagnose,
    )
)


def _near_slip(got: Any, slips: list[tuple[float, str]]) -> str | None:
    """Like ``matching_slip`` for float answers, up to float32 rounding (rel 1e-5)."""
    try:
        value = float(got)
    except (TypeError, ValueError, RuntimeError):
        return None
    for wrong, explanation in slips:
        if math.isfinite(wrong) and math.isclose(value, wrong, rel_tol=1e-5, abs_tol=1e-12):
            return explanation
    return None


# ------------------------------------------------------------ 2. perplexity from logits
def _perplexity(logits: torch.Tensor, targets: torch.Tensor) -> float:
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), targets.reshape(-1))
    return math.exp(ce.item())


def _ppl_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case(
            (torch.zeros(1, 4, 10), torch.tensor([[1, 2, 3, 4]])), "all-zero logits over 10 tokens"
        ),
        Case(
            (3 * torch.randn(2, 5, 7, generator=gen), torch.randint(0, 7, (2, 5), generator=gen)),
            "logits (2, 5, 7) with targets (2, 5)",
        ),
        Case(
            (2 * torch.randn(3, 6, 30, generator=gen), torch.randint(0, 30, (3, 6), generator=gen)),
            "logits (3, 6, 30) with targets (3, 6)",
        ),
    ]


def _ppl_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    logits, targets = args
    flat, flat_t = logits.reshape(-1, logits.shape[-1]).double(), targets.reshape(-1)
    per_token = F.cross_entropy(flat, flat_t, reduction="none")
    mean_ce = per_token.mean().item()
    slips = [
        (mean_ce, "this is the mean cross-entropy itself; perplexity is its exponential."),
        (
            2**mean_ce,
            "you raised 2 to the cross-entropy. torch's cross-entropy is in nats (natural log), "
            "so perplexity is e to it: math.exp (or 2 to the loss in bits, loss / ln 2).",
        ),
        (
            per_token.exp().mean().item(),
            "you averaged the per-token exponentials. Average the cross-entropy first, then "
            "take one exponential (a geometric mean of 1/p).",
        ),
        (per_token.sum().exp().item(), "exp of the SUM of the losses; use the mean."),
    ]
    return _near_slip(got, slips)


register(
    Exercise(
        id="ch08.perplexity",
        title="perplexity = exp(mean next-token cross-entropy) from logits (B, T, V) and targets",
        kind="function",
        reference=_perplexity,
        make_cases=_ppl_cases,
        rtol=1e-4,
        hints=("flatten to (B·T, V) and (B·T,), F.cross_entropy gives the mean in nats; exp it.",),
        diagnose=_ppl_diagnose,
    )
)


# ------------------------------------------------------------ 3. training FLOPs, 6·N·D
def _training_flops(n_layer: int, n_embd: int, vocab_size: int, n_tokens: int) -> int:
    n = 12 * n_layer * n_embd**2 + vocab_size * n_embd  # weights used in matrix products
    return 6 * n * n_tokens


def _flops_cases(gen: torch.Generator) -> list[Case]:
    d = 16 * int(torch.randint(2, 20, (1,), generator=gen))
    return [
        Case((12, 768, 50257, 10**9), "GPT-2 small on a billion tokens"),
        Case((2, 32, 100, 4096), "2 layers, d=32, V=100, 4096 tokens"),
        Case((4, d, 2048, 10**6), f"4 layers, d={d}, V=2048, a million tokens"),
    ]


def _flops_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    layers, d, vocab, tokens = args
    blocks, head = 12 * layers * d * d, vocab * d
    slips = [
        (
            2 * (blocks + head) * tokens,
            "2·N·D is the forward pass only; backward costs twice the forward, so training is "
            "3 × 2N = 6N FLOPs per token.",
        ),
        (4 * (blocks + head) * tokens, "backward is 2 × forward, not 1 ×: 2N + 4N = 6N per token."),
        (
            6 * blocks * tokens,
            "the output layer (V·d, tied to the embedding but still a matrix product per "
            "token) is missing from N.",
        ),
        (6 * (blocks + head), "that is the cost of ONE token; multiply by the number of tokens D."),
        (
            6 * (4 * layers * d * d + head) * tokens,
            "a block has 12·d² matmul weights: 4d² attention + 8d² MLP.",
        ),
    ]
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch08.training_flops",
        title="training FLOPs ≈ 6·N·D with N = 12·L·d² + V·d",
        kind="function",
        reference=_training_flops,
        make_cases=_flops_cases,
        hints=("N = 12 * n_layer * n_embd**2 + vocab_size * n_embd; return 6 * N * n_tokens.",),
        diagnose=_flops_diagnose,
    )
)


# ------------------------------------------------------------ 4. warmup + cosine
def _lr(step: int, max_lr: float, min_lr: float, warmup_steps: int, decay_steps: int) -> float:
    return warmup_cosine(
        step, max_lr=max_lr, min_lr=min_lr, warmup_steps=warmup_steps, decay_steps=decay_steps
    )


def _lr_cases(gen: torch.Generator) -> list[Case]:
    warm = int(torch.randint(5, 20, (1,), generator=gen))
    cases = [
        Case((s, 1e-3, 1e-4, 10, 100), f"step {s}, warmup 10, decay 100")
        for s in (0, 4, 10, 55, 100, 150)
    ]
    return [
        *cases,
        Case((warm // 2, 3e-3, 0.0, warm, 200), f"step {warm // 2} of a {warm}-step warmup"),
    ]


def _lr_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    step, max_lr, min_lr, warm, decay = args

    def cosine(progress: float, floor: float) -> float:
        return floor + 0.5 * (1 + math.cos(math.pi * progress)) * (max_lr - floor)

    slips = []
    if step < warm:
        slips += [
            (
                max_lr * step / warm,
                "your warmup starts at 0 (step / warmup_steps): step 0 would not move the "
                "weights. lmkit's line is max_lr · (step + 1) / (warmup_steps + 1).",
            ),
            (
                max_lr * (step + 1) / warm,
                "off by one in the warmup: divide by warmup_steps + 1, so the line reaches "
                "max_lr at step warmup_steps, where the cosine starts.",
            ),
            (
                cosine(0.0, min_lr) if step == 0 else math.nan,
                "there is no warmup in your schedule.",
            ),
        ]
    else:
        progress = min(1.0, (step - warm) / max(1, decay - warm))
        slips += [
            (
                cosine(progress, 0.0),
                "your cosine decays to 0; it ends at min_lr: min_lr + w · (max_lr − min_lr).",
            ),
            (
                cosine(min(1.0, step / decay), min_lr),
                "the cosine's progress counts from step 0; count from the end of warmup: "
                "(step − warmup_steps) / (decay_steps − warmup_steps).",
            ),
            (
                min_lr + (1 - progress) * (max_lr - min_lr),
                "that is a linear decay; use half a cosine.",
            ),
        ]
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch08.warmup_cosine",
        title="learning rate at step t: linear warmup, then cosine from max_lr to min_lr",
        kind="function",
        reference=_lr,
        make_cases=_lr_cases,
        rtol=1e-6,
        atol=1e-12,
        hints=(
            "step < warmup: max_lr·(step+1)/(warmup+1); step > decay: min_lr; otherwise "
            "p = (step − warmup)/(decay − warmup) and min_lr + ½(1 + cos πp)(max_lr − min_lr).",
        ),
        diagnose=_lr_diagnose,
    )
)
