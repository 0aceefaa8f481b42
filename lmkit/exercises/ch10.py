"""Chapter 10 exercises: the top-p filter, temperature with top-k, one beam-search step, and
the repetition penalty.

Introduced in chapter 10. ``diagnose`` rebuilds the usual slips on the case that failed (the
token that crosses p left out, temperature applied after the softmax, a forgotten
renormalisation, beams ranked one by one, negative logits divided by the penalty) and says
which one the answer matches.
"""

from __future__ import annotations

from typing import Any

import torch

from lmkit.decoding.sampling import apply_repetition_penalty, top_k_filter, top_p_filter
from lmkit.exercises.core import Case, Exercise, register
from lmkit.exercises.feedback import matching_slip


def _logits(gen: torch.Generator, *shape: int, scale: float = 2.0) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale


def _keep_mask_sorted(probs: torch.Tensor, p: float, inclusive: bool) -> torch.Tensor:
    """Which tokens a nucleus keeps: the crossing token included (correct) or not (a slip)."""
    sorted_p, order = torch.sort(probs, dim=-1, descending=True)
    cum = torch.cumsum(sorted_p, dim=-1)
    keep_sorted = (cum - sorted_p < p) if inclusive else (cum < p)
    keep_sorted[..., 0] = True if inclusive else keep_sorted[..., 0]
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


# ------------------------------------------------------------ 1. the top-p (nucleus) filter
def _top_p_probs(logits: torch.Tensor, p: float) -> torch.Tensor:
    return torch.softmax(top_p_filter(logits, p), dim=-1)


def _top_p_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((_logits(gen, 10), 0.6), "logits (10,), p=0.6"),
        Case((_logits(gen, 3, 16), 0.9), "logits (3, 16), p=0.9"),
        Case((_logits(gen, 2, 8, scale=4.0), 0.3), "peaked logits (2, 8), p=0.3"),
        Case((_logits(gen, 12, scale=0.5), 0.75), "flat logits (12,), p=0.75"),
    ]


def _top_p_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    logits, p = args
    probs = torch.softmax(logits.double(), -1)
    keep = _keep_mask_sorted(probs, p, inclusive=True)
    strict = _keep_mask_sorted(probs, p, inclusive=False)
    kept = probs * keep
    renorm = kept / kept.sum(-1, keepdim=True)
    excl = probs * strict
    sorted_p = torch.sort(renorm, dim=-1, descending=True).values
    slips = [
        (
            kept,
            "the right tokens are kept, but their probabilities no longer add up to 1: "
            "renormalise, dividing by their sum (or set the others' logits to -inf and softmax).",
        ),
        (
            sorted_p,
            "the values are right but in sorted order: put each probability back at its "
            "token's position (scatter with the sort's indices).",
        ),
    ]
    if strict.any(-1).all():
        slips.insert(
            0,
            (
                excl / excl.sum(-1, keepdim=True),
                "the token that crosses p was left out. Keep a token while the probability "
                "*before* it is still below p (cumsum - p_token < p), so the kept set holds at "
                "least p.",
            ),
        )
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch10.top_p_filter",
        title="top-p (nucleus): keep the smallest set of top tokens holding probability p",
        kind="function",
        reference=_top_p_probs,
        make_cases=_top_p_cases,
        rtol=1e-5,
        atol=1e-7,
        hints=(
            "softmax, sort descending, cumsum; keep a token if the mass before it is < p; "
            "zero the rest at their original positions and renormalise.",
        ),
        diagnose=_top_p_diagnose,
    )
)


# ------------------------------------------------------------ 2. temperature, then top-k
def _temperature_top_k(logits: torch.Tensor, temperature: float, k: int) -> torch.Tensor:
    return torch.softmax(top_k_filter(logits / temperature, k), dim=-1)


def _tk_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((_logits(gen, 10), 0.5, 3), "logits (10,), T=0.5, k=3"),
        Case((_logits(gen, 2, 12), 2.0, 5), "logits (2, 12), T=2.0, k=5"),
        Case((_logits(gen, 3, 6), 1.5, 6), "logits (3, 6), T=1.5, k=6 (the whole vocabulary)"),
    ]


def _tk_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    logits, t, k = args
    logits = logits.double()

    def topk_probs(scores: torch.Tensor, renorm: bool = True) -> torch.Tensor:
        kept = torch.softmax(scores, -1) * (top_k_filter(scores, k) > -torch.inf)
        return kept / kept.sum(-1, keepdim=True) if renorm else kept

    after = torch.softmax(top_k_filter(logits, k), -1) / t
    slips = [
        (
            torch.softmax(top_k_filter(logits * t, k), -1),
            "you multiplied the logits by the temperature; divide by it (T < 1 must sharpen).",
        ),
        (
            topk_probs(logits / t, renorm=False),
            "the top-k tokens are right but their probabilities do not add up to 1: softmax "
            "over the kept logits only (set the rest to -inf first), or renormalise.",
        ),
        (
            after,
            "the temperature was applied after the softmax (probabilities / T). It divides the "
            "logits, before the softmax.",
        ),
        (
            after / after.sum(-1, keepdim=True),
            "the temperature was applied after the softmax and renormalised away, so it had no "
            "effect. Divide the logits by T before the softmax.",
        ),
    ]
    for shift, word in ((1, "one token too many"), (-1, "one token too few")):
        if 1 <= k + shift <= logits.shape[-1]:
            slips.append(
                (
                    torch.softmax(top_k_filter(logits / t, k + shift), -1),
                    f"you kept {word}: keep exactly the k largest logits.",
                )
            )
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch10.temperature_top_k",
        title="divide the logits by T, keep the k largest, softmax",
        kind="function",
        reference=_temperature_top_k,
        make_cases=_tk_cases,
        rtol=1e-5,
        atol=1e-7,
        hints=(
            "scaled = logits / T; the k-th largest is torch.topk(scaled, k).values[..., -1:]; "
            "set scaled < that to -inf; softmax over the last dimension.",
        ),
        diagnose=_tk_diagnose,
    )
)


# ------------------------------------------------------------ 3. one beam-search step
def _beam_step(beam_scores: torch.Tensor, next_logprobs: torch.Tensor, num_beams: int):
    totals = (beam_scores[:, None] + next_logprobs).reshape(-1)
    scores, flat = torch.topk(totals, num_beams)
    vocab = next_logprobs.shape[-1]
    return scores, flat // vocab, flat % vocab


def _beam_cases(gen: torch.Generator) -> list[Case]:
    def case(beams: int, vocab: int, keep: int, label: str) -> Case:
        scores = -torch.rand(beams, generator=gen, dtype=torch.float64) * 3
        logprobs = torch.log_softmax(_logits(gen, beams, vocab), -1)
        return Case((scores, logprobs, keep), label)

    return [
        case(3, 5, 3, "3 beams, vocabulary 5, keep 3"),
        case(2, 6, 4, "2 beams, vocabulary 6, keep 4 (more than there were)"),
        case(4, 4, 2, "4 beams, vocabulary 4, keep 2"),
    ]


def _beam_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    scores, logprobs, keep = args
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return "return three tensors: (new scores, parent beam index, token id), best first."
    vocab = logprobs.shape[-1]
    no_prefix = torch.topk(logprobs.reshape(-1), keep)
    slips = [
        (
            no_prefix.values,
            "the beams' own scores were not added: rank score[beam] + logprob[beam, token], "
            "the log-probability of the whole sequence.",
        )
    ]
    per_beam_best = (scores + logprobs.max(-1).values).sort(descending=True).values[:keep]
    if per_beam_best.numel() == keep:
        slips.append(
            (
                per_beam_best,
                "each beam was extended by its own best token only. Rank all beams × tokens "
                "together: two of the survivors may share a parent.",
            )
        )
    got_scores = got[0]
    message = matching_slip(got_scores, slips)
    if message:
        return message
    if isinstance(got[1], torch.Tensor) and torch.equal(got[1].long(), expected[2]):
        return f"parent and token look swapped: parent = flat // {vocab}, token = flat % {vocab}."
    return None


register(
    Exercise(
        id="ch10.beam_step",
        title="one beam-search step: the num_beams best (beam, token) extensions",
        kind="function",
        reference=_beam_step,
        make_cases=_beam_cases,
        hints=(
            "totals = beam_scores[:, None] + next_logprobs (B, V); flatten, torch.topk; "
            "parent = index // V, token = index % V.",
        ),
        diagnose=_beam_diagnose,
    )
)


# ------------------------------------------------------------ 4. the repetition penalty
def _penalty(logits: torch.Tensor, previous_ids: torch.Tensor, penalty: float) -> torch.Tensor:
    return apply_repetition_penalty(logits, previous_ids, penalty)


def _penalty_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((_logits(gen, 1, 8), torch.tensor([[1, 3, 1]]), 1.5), "logits (1, 8), seen 1, 3, 1"),
        Case(
            (_logits(gen, 2, 10), torch.tensor([[0, 2, 2, 9], [4, 5, 6, 4]]), 1.3),
            "logits (2, 10), repeated ids, penalty 1.3",
        ),
        Case((_logits(gen, 1, 6), torch.tensor([[0, 1, 2, 3, 4, 5]]), 2.0), "every token seen"),
    ]


def _penalty_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    logits, ids, penalty = args
    logits = logits.double()
    seen = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, ids, True)
    counts = torch.zeros_like(logits).scatter_add(-1, ids, torch.ones_like(ids, dtype=logits.dtype))
    slips = [
        (
            torch.where(seen, logits / penalty, logits),
            "negative logits were divided by the penalty, which moves them *up* toward 0 and "
            "makes those repeated tokens more likely. Multiply negative logits by the penalty, "
            "divide positive ones.",
        ),
        (
            torch.where(
                seen,
                torch.where(logits < 0, logits * penalty**counts, logits / penalty**counts),
                logits,
            ),
            "a token that appeared twice was penalised twice. Each seen token is penalised "
            "once, however often it appeared (as in CTRL and transformers).",
        ),
        (
            torch.where(seen, logits - penalty, logits),
            "you subtracted the penalty; it divides (positive) or multiplies (negative) logits.",
        ),
        (
            torch.where(~seen, torch.where(logits < 0, logits * penalty, logits / penalty), logits),
            "you penalised the tokens that were *not* seen.",
        ),
    ]
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch10.repetition_penalty",
        title="the repetition penalty: push every already-seen token's logit down",
        kind="function",
        reference=_penalty,
        make_cases=_penalty_cases,
        hints=(
            "seen = logits.gather(-1, previous_ids); torch.where(seen < 0, seen * penalty, "
            "seen / penalty); write back with logits.scatter(-1, previous_ids, ...).",
        ),
        diagnose=_penalty_diagnose,
    )
)
