"""Beam search: keep the ``num_beams`` best partial sequences instead of one, and record the tree.

Introduced in chapter 10. Greedy decoding commits to the single most likely token at every
step and can miss a sequence whose first token looks worse but whose whole is more likely.
Beam search keeps ``num_beams`` candidates ("beams") alive: each step it extends every beam
by every token, scores each extension by its total log-probability, and keeps the best.

Scoring follows Hugging Face ``generate`` (``early_stopping=False``, its default):

* a finished hypothesis scores ``sum(logprob) / (length ** length_penalty)``, where
  ``length`` counts generated tokens (eos included), so ``length_penalty > 0`` favours longer
  sequences and ``0`` ranks by plain total log-probability;
* each step looks at the ``2 * num_beams`` best extensions; those ending in ``eos_id`` *and*
  ranked in the top ``num_beams`` become finished hypotheses (the best ``num_beams`` are kept),
  and the best ``num_beams`` not ending in eos carry on;
* the search stops after ``max_new_tokens`` (the beams still running then count as finished),
  or once ``num_beams`` hypotheses are finished and the best running beam, scored at its
  current length, cannot beat the worst of them.

The KV cache holds one row per beam; when beams are re-chosen, ``cache.reorder`` copies the
rows of their parents, so no beam recomputes its prefix.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

from lmkit.decoding.checks import (
    MAX_NEW_TOKENS,
    as_batch,
    check_model,
    eval_mode,
    model_device,
    warn_if_cropped,
)
from lmkit.decoding.window import ContextWindow
from lmkit.errors import ConfigError, InputError
from lmkit.nn.padding import pad_right
from lmkit.validators import check_int, check_number


@dataclass(frozen=True)
class BeamNode:
    """One candidate extension considered during beam search (a node of the search tree).

    Node 0 is the prompt (``step`` 0, ``token_id`` its last token). ``logprob`` is the token's
    log-probability given its parent; ``cumulative_logprob`` sums them from the prompt.
    ``kept``: chosen as a running beam for the next step. ``finished``: became a completed
    hypothesis here (it ended with eos, or the search reached ``max_new_tokens``).
    Introduced in chapter 10.
    """

    id: int
    parent_id: int | None
    step: int
    token_id: int
    logprob: float
    cumulative_logprob: float
    kept: bool
    finished: bool


@dataclass
class BeamSearchResult:
    """What :func:`beam_search` returns.

    ``sequences`` (N, T + new): prompt and continuation, best first, shorter ones padded with
    ``eos_id``. ``scores`` (N,): length-penalised scores. ``lengths``: generated tokens of each
    sequence (eos included). ``leaf_ids``: the tree node of each sequence's last token (follow
    ``parent_id`` to draw its path). ``tree``: every node considered. ``N`` is ``num_beams``
    unless fewer distinct continuations exist. Introduced in chapter 10.
    """

    sequences: torch.Tensor
    scores: torch.Tensor
    lengths: list[int]
    leaf_ids: list[int]
    tree: list[BeamNode]


@dataclass
class _Hypothesis:
    score: float
    tokens: torch.Tensor  # (T + length,)
    length: int
    node_id: int


MAX_LENGTH_PENALTY = 10


def _check_beam_args(
    num_beams: object, max_new_tokens: object, length_penalty: object, eos_id: object, vocab: int
) -> None:
    check_int("num_beams", num_beams, 1, 256, " Try 4 or 5.")
    check_int("max_new_tokens", max_new_tokens, 1, MAX_NEW_TOKENS)
    # score = logprob / length**penalty: a huge penalty (±1e308) over- or underflows the power
    # to inf or 0; within ±10 it stays finite for every allowed length (up to MAX_NEW_TOKENS).
    check_number(
        "length_penalty", length_penalty, -MAX_LENGTH_PENALTY, MAX_LENGTH_PENALTY,
        " Typical values are 0 (plain log-probability) to 2 (favour longer sequences).",
    )  # fmt: skip
    if eos_id is not None:
        check_int("eos_id", eos_id, 0, vocab - 1, " Use None for no end-of-sequence token.")


def beam_search(
    model: Any,
    idx: object,
    *,
    num_beams: int = 4,
    max_new_tokens: int = 20,
    length_penalty: float = 1.0,
    eos_id: int | None = None,
    use_cache: bool = True,
) -> BeamSearchResult:
    """Beam search from one prompt (a list of ints, a (T,) or a (1, T) tensor of ids).

    See the module docstring for the scoring rules. Runs in inference mode with dropout off;
    the model's train/eval mode is restored. Introduced in chapter 10.
    """
    block, vocab = check_model(model)
    _check_beam_args(num_beams, max_new_tokens, length_penalty, eos_id, vocab)
    if not isinstance(use_cache, bool):
        raise ConfigError(f"use_cache must be True or False, got {use_cache!r}.")
    prompt = as_batch(idx, vocab, None)
    if prompt.shape[0] != 1:
        raise InputError(
            f"beam_search takes one prompt (batch size 1), got {prompt.shape[0]} rows; "
            "call it once per prompt."
        )
    warn_if_cropped(prompt.shape[1], block)
    device = model_device(model)
    with eval_mode(model), torch.inference_mode():
        result = _search(
            model, prompt.to(device), num_beams, max_new_tokens, length_penalty, eos_id, use_cache
        )
    result.sequences = result.sequences.clone()  # normal tensors, usable outside inference mode
    result.scores = result.scores.clone()
    return result


def _search(
    model: Any,
    prompt: torch.Tensor,
    num_beams: int,
    max_new_tokens: int,
    length_penalty: float,
    eos_id: int | None,
    use_cache: bool,
) -> BeamSearchResult:
    # Start with a single beam (the prompt); the first step fans it out to num_beams rows,
    # and the cache rows follow through reorder.
    seq = prompt  # (beams, T + step)
    running = torch.zeros(1, device=prompt.device)  # (beams,) total log-prob of each beam
    window = ContextWindow(model, 1, prompt.device, use_cache)
    logits = window.prefill(seq)  # (beams, V)
    tree = [BeamNode(0, None, 0, int(prompt[0, -1]), 0.0, 0.0, True, False)]
    beam_nodes: list[int | None] = [0]
    finished: list[_Hypothesis] = []

    for step in range(1, max_new_tokens + 1):
        logprobs = torch.log_softmax(logits, dim=-1)  # (beams, V)
        vocab = logprobs.shape[-1]
        totals = (running[:, None] + logprobs).view(-1)  # (beams * V,) every extension
        cand_totals, flat = torch.topk(totals, min(2 * num_beams, totals.numel()))
        cand_beam, cand_token = flat // vocab, flat % vocab
        logprobs_l = logprobs.view(-1)[flat].tolist()
        last = step == max_new_tokens

        totals_l, beams_l, tokens_l = cand_totals.tolist(), cand_beam.tolist(), cand_token.tolist()
        ends = [last or token == eos_id for token in tokens_l]
        node_ids: list[int | None] = []
        for rank, total in enumerate(totals_l):
            parent = beam_nodes[beams_l[rank]]
            if total == -math.inf or parent is None:  # a padding beam (see below)
                node_ids.append(None)
                continue
            node_ids.append(len(tree))
            tree.append(
                BeamNode(
                    len(tree),
                    parent,
                    step,
                    tokens_l[rank],
                    logprobs_l[rank],
                    total,
                    kept=False,
                    finished=False,
                )
            )

        # Finished hypotheses: only the top num_beams ranks may finish (as in HF).
        for rank in range(min(num_beams, len(totals_l))):
            node = node_ids[rank]
            if ends[rank] and node is not None:
                tokens = torch.cat([seq[beams_l[rank]], cand_token[rank : rank + 1]])
                score = totals_l[rank] / step**length_penalty
                finished.append(_Hypothesis(score, tokens, step, node))
                tree[node] = dataclasses.replace(tree[node], finished=True)
        finished.sort(key=lambda h: h.score, reverse=True)
        del finished[num_beams:]
        if last:
            break

        # Running beams: the best num_beams extensions that did not end. With a tiny
        # vocabulary there may be fewer; pad with copies scored -inf that never win.
        alive = [rank for rank in range(len(totals_l)) if not ends[rank]][:num_beams]
        if not alive:
            break
        pads = num_beams - len(alive)
        chosen = torch.tensor(alive + [alive[0]] * pads, device=seq.device)
        index = cand_beam[chosen]
        seq = torch.cat([seq[index], cand_token[chosen][:, None]], dim=1)
        running = cand_totals[chosen].clone()
        if pads:
            running[len(alive) :] = -math.inf
        beam_nodes = [node_ids[r] for r in alive] + [None] * pads
        for node in beam_nodes:
            if node is not None:
                tree[node] = dataclasses.replace(tree[node], kept=True)
        window.reorder(index)

        # Stop when the best running beam can no longer beat the worst finished hypothesis.
        best_possible = float(running[0]) / step**length_penalty
        if len(finished) == num_beams and best_possible <= finished[-1].score:
            break
        logits = window.advance(seq)

    return _pack(finished, eos_id, tree)


def _pack(
    finished: list[_Hypothesis], eos_id: int | None, tree: list[BeamNode]
) -> BeamSearchResult:
    pad = eos_id if eos_id is not None else 0  # without eos all hypotheses have the same length
    return BeamSearchResult(
        sequences=pad_right([h.tokens for h in finished], pad)[0],
        scores=torch.tensor([h.score for h in finished]),
        lengths=[h.length for h in finished],
        leaf_ids=[h.node_id for h in finished],
        tree=tree,
    )


__all__ = ["BeamNode", "BeamSearchResult", "beam_search"]
