"""Chapter 12 exercises: answers built from lmkit pass; typical slips get their feedback."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from exercise_asserts import fails_with

from lmkit.exercises import check
from lmkit.nn.lora import add_lora, trainable_parameters
from lmkit.training.losses import dpo_loss


def test_sft_targets():
    def answer(ids, n, shift=True, swap=False, extra=0):
        t = (ids[1:] if shift else ids).clone()
        if swap:
            t[n - 1 :] = -100
        else:
            t[: n - 1 + extra + (0 if shift else 1)] = -100
        return t

    assert check("ch12.sft_targets", answer, seed=1, quiet=True)
    fails_with("ch12.sft_targets", lambda i, n: answer(i, n, shift=False), "not shifted")
    fails_with("ch12.sft_targets", lambda i, n: answer(i, n, swap=True), "masked the response")
    fails_with("ch12.sft_targets", lambda i, n: answer(i, n, extra=1), "too many")


def test_lora_forward_matches_lmkit_and_names_slips():
    from lmkit.nn.lora import LoRALinear

    def with_lmkit(x, w, b, a, bb, alpha, r):
        layer = LoRALinear(torch.nn.Linear(w.shape[1], w.shape[0]).double(), r=r, alpha=alpha)
        with torch.no_grad():
            layer.base.weight.copy_(w)
            layer.base.bias.copy_(b)
            layer.lora_A.copy_(a)
            layer.lora_B.copy_(bb)
            return layer(x)

    assert check("ch12.lora_forward", with_lmkit, seed=1, quiet=True)
    base = lambda x, w, b: x @ w.t() + b  # noqa: E731
    fails_with(
        "ch12.lora_forward",
        lambda x, w, b, a, bb, al, r: base(x, w, b) + al * x @ a.t() @ bb.t(),
        "alpha / r",
    )
    fails_with(
        "ch12.lora_forward",
        lambda x, w, b, a, bb, al, r: base(x, w, b) + al / r * x @ (bb @ a),
        "ΔW.T",
    )


def test_lora_param_count_matches_a_real_model():
    from lmkit.gpt.config import GPTConfig
    from lmkit.gpt.model import GPT

    def counted(n_layer, c, r):
        if c > 200:  # GPT-2 small is too big to build in a test; use the formula
            return n_layer * 16 * c * r
        cfg = GPTConfig(vocab_size=10, block_size=8, n_layer=n_layer, n_head=4, n_embd=c)
        return trainable_parameters(add_lora(GPT(cfg), r=r, alpha=1))

    assert check("ch12.lora_param_count", counted, quiet=True)
    shapes = lambda c: [(c, 3 * c), (c, c), (c, 4 * c), (4 * c, c)]  # noqa: E731
    fails_with(
        "ch12.lora_param_count",
        lambda n, c, r: n * sum(r * (i + o) + i * o for i, o in shapes(c)),
        "frozen",
    )
    fails_with("ch12.lora_param_count", lambda n, c, r: 16 * c * r, "n_layer")
    fails_with(
        "ch12.lora_param_count",
        lambda n, c, r: n * sum(r * i * o for i, o in shapes(c)),
        "r · (in + out)",
    )


def test_dpo_loss_matches_lmkit_and_names_slips():
    assert check("ch12.dpo_loss", dpo_loss, seed=1, quiet=True)

    def z(pc, pr, rc, rr, beta):
        return beta * ((pc - rc) - (pr - rr))

    fails_with("ch12.dpo_loss", lambda *a: F.softplus(z(*a)).mean(), "sign")
    fails_with(
        "ch12.dpo_loss", lambda pc, pr, rc, rr, b: F.softplus(-b * (pc - pr)).mean(), "reference"
    )
    fails_with("ch12.dpo_loss", lambda *a: F.logsigmoid(z(*a)).mean(), "minus")
