"""Chapter 10 exercises: answers built from lmkit and transformers pass; typical slips get the
feedback designed for them."""

from __future__ import annotations

import torch
from exercise_asserts import fails_with
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TopPLogitsWarper,
)

from lmkit.decoding.sampling import apply_temperature, top_k_filter
from lmkit.exercises import check


def test_top_p_accepts_transformers_and_names_each_slip():
    def with_hf(logits, p):
        row = logits.reshape(-1, logits.shape[-1]).float()
        out = TopPLogitsWarper(p)(None, row).double().softmax(-1)
        return out.reshape(logits.shape)

    assert check("ch10.top_p_filter", with_hf, seed=1, quiet=True)

    def nucleus(logits, p, inclusive=True, renorm=True, unsort=True):
        probs = logits.softmax(-1)
        sorted_p, order = probs.sort(-1, descending=True)
        cum = sorted_p.cumsum(-1)
        keep = (cum - sorted_p < p) if inclusive else (cum < p)
        kept = sorted_p * keep
        if renorm:
            kept = kept / kept.sum(-1, keepdim=True)
        return torch.zeros_like(probs).scatter(-1, order, kept) if unsort else kept

    assert check("ch10.top_p_filter", nucleus, seed=2, quiet=True)
    fails_with("ch10.top_p_filter", lambda x, p: nucleus(x, p, renorm=False), "renormalise")
    fails_with("ch10.top_p_filter", lambda x, p: nucleus(x, p, unsort=False), "sorted order")
    # the strict slip is only recognisable when the top token alone stays below p
    result = check("ch10.top_p_filter", lambda x, p: nucleus(x, p, inclusive=False), seed=3,
                   quiet=True)  # fmt: skip
    assert not result and ("crosses p" in result.message or "NaN" in result.message)


def test_temperature_top_k_accepts_lmkit_and_names_each_slip():
    def with_lmkit(logits, t, k):
        return top_k_filter(apply_temperature(logits, t), k).softmax(-1)

    assert check("ch10.temperature_top_k", with_lmkit, seed=1, quiet=True)
    fails_with(
        "ch10.temperature_top_k",
        lambda x, t, k: top_k_filter(x * t, k).softmax(-1),
        "multiplied",
    )
    fails_with(
        "ch10.temperature_top_k",
        lambda x, t, k: top_k_filter(x, k).softmax(-1) / t,
        "after the softmax",
    )
    fails_with(
        "ch10.temperature_top_k",
        lambda x, t, k: (x / t).softmax(-1) * (top_k_filter(x, k) > -torch.inf),
        "add up to 1",
    )
    fails_with(
        "ch10.temperature_top_k",
        lambda x, t, k: top_k_filter(x / t, k + 1).softmax(-1),
        "too many",
    )


def test_beam_step_accepts_a_hand_written_step_and_names_each_slip():
    def step(scores, logprobs, n):
        vocab = logprobs.shape[-1]
        totals = (scores[:, None] + logprobs).flatten()
        best, flat = totals.topk(n)
        return best, flat // vocab, flat % vocab

    assert check("ch10.beam_step", step, seed=1, quiet=True)

    def no_prefix(scores, logprobs, n):
        best, flat = logprobs.flatten().topk(n)
        return best, flat // logprobs.shape[-1], flat % logprobs.shape[-1]

    def own_best(scores, logprobs, n):
        values, tokens = logprobs.max(-1)
        totals, parents = (scores + values).sort(descending=True)
        return totals[:n], parents[:n], tokens[parents[:n]]

    def swapped(scores, logprobs, n):
        best, parent, token = step(scores, logprobs, n)
        return best, token, parent

    fails_with("ch10.beam_step", no_prefix, "not added")
    fails_with("ch10.beam_step", own_best, "own best token")
    fails_with("ch10.beam_step", swapped, "swapped")


def test_repetition_penalty_accepts_transformers_and_names_each_slip():
    def with_hf(logits, ids, penalty):
        return RepetitionPenaltyLogitsProcessor(penalty)(ids, logits.clone())

    assert check("ch10.repetition_penalty", with_hf, seed=1, quiet=True)

    def divide_all(logits, ids, penalty):
        seen = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, ids, True)
        return torch.where(seen, logits / penalty, logits)

    def per_occurrence(logits, ids, penalty):
        out = logits.clone()
        for row, seq in zip(out, ids, strict=True):
            for i in seq.tolist():
                row[i] = row[i] * penalty if row[i] < 0 else row[i] / penalty
        return out

    fails_with("ch10.repetition_penalty", divide_all, "negative logits were divided")
    fails_with("ch10.repetition_penalty", per_occurrence, "penalised twice")
