"""Chapter 8 exercises: correct answers pass; typical slips get the feedback designed for them."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from exercise_asserts import fails_with

from lmkit.exercises import check
from lmkit.training.schedule import warmup_cosine


def test_windows_accept_a_loop_and_name_each_slip():
    def loop(tokens, starts, block_size):
        x = torch.stack([tokens[s : s + block_size] for s in starts.tolist()])
        y = torch.stack([tokens[s + 1 : s + block_size + 1] for s in starts.tolist()])
        return x, y

    assert check("ch08.lm_windows", loop, quiet=True)

    def unshifted(tokens, starts, block_size):
        x, _ = loop(tokens, starts, block_size)
        return x, x.clone()

    def late_x(tokens, starts, block_size):
        _, y = loop(tokens, starts, block_size)
        return y.clone(), y

    fails_with("ch08.lm_windows", unshifted, "shifted one token right")
    fails_with("ch08.lm_windows", late_x, "off by one")


def test_perplexity_accepts_log_softmax_and_names_each_slip():
    def by_hand(logits, targets):
        logp = torch.log_softmax(logits, -1).gather(-1, targets[..., None])
        return math.exp(-logp.mean().item())

    assert check("ch08.perplexity", by_hand, quiet=True)

    def ce(logits, targets):
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten()).item()

    fails_with("ch08.perplexity", ce, "exponential")
    fails_with("ch08.perplexity", lambda lg, t: 2 ** ce(lg, t), "nats")
    per_token = lambda lg, t: F.cross_entropy(lg.flatten(0, 1), t.flatten(), reduction="none")  # noqa: E731
    fails_with("ch08.perplexity", lambda lg, t: per_token(lg, t).exp().mean().item(), "averaged")


def test_training_flops_and_its_slips():
    def six_nd(n_layer, n_embd, vocab_size, n_tokens):
        return 6 * (12 * n_layer * n_embd**2 + vocab_size * n_embd) * n_tokens

    assert check("ch08.training_flops", six_nd, quiet=True)
    fails_with(
        "ch08.training_flops", lambda L, d, V, D: six_nd(L, d, V, D) // 3, "forward pass only"
    )
    fails_with("ch08.training_flops", lambda L, d, V, D: 6 * 12 * L * d * d * D, "output layer")
    fails_with("ch08.training_flops", lambda L, d, V, D: six_nd(L, d, V, 1), "ONE token")


def test_warmup_cosine_accepts_lmkit_and_names_each_slip():
    def lmkit_lr(step, max_lr, min_lr, warmup_steps, decay_steps):
        return warmup_cosine(
            step, max_lr=max_lr, min_lr=min_lr, warmup_steps=warmup_steps, decay_steps=decay_steps
        )

    assert check("ch08.warmup_cosine", lmkit_lr, quiet=True)

    def from_zero(step, max_lr, min_lr, warmup_steps, decay_steps):
        if step < warmup_steps:
            return max_lr * step / warmup_steps
        return lmkit_lr(step, max_lr, min_lr, warmup_steps, decay_steps)

    def to_zero(step, max_lr, min_lr, warmup_steps, decay_steps):
        if step < warmup_steps:
            return lmkit_lr(step, max_lr, min_lr, warmup_steps, decay_steps)
        p = min(1.0, (step - warmup_steps) / (decay_steps - warmup_steps))
        return 0.5 * (1 + math.cos(math.pi * p)) * max_lr

    fails_with("ch08.warmup_cosine", from_zero, "starts at 0")
    fails_with("ch08.warmup_cosine", to_zero, "decays to 0")
