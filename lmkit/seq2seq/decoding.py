"""Greedy decoding and beam search for the encoder–decoder model, written by hand.

Introduced in chapter 13. Both encode the source once (:meth:`Seq2SeqTransformer.encode`) and
then feed one target token per step (:meth:`~Seq2SeqTransformer.decode_step`), starting from
``config.bos_id`` and stopping at ``config.eos_id`` or after ``max_new_tokens`` (``None``: as
many as the decoder has positions, ``config.max_target_len``). The start and
padding tokens (and any ``banned_ids``, such as task tags) are never chosen.

Beam search keeps the ``beam_size`` best partial targets. Each step extends every beam by every
token and looks at the ``2 * beam_size`` best extensions by total log-probability: those ending
in eos and ranked in the top ``beam_size`` become finished hypotheses, scored
``sum(logprob) / length ** length_penalty`` (``length`` counts generated tokens, eos included;
``length_penalty = 0`` ranks by plain log-probability, ``> 0`` favours longer targets), and the
best ``beam_size`` others carry on. The search stops when no beam runs, after
``max_new_tokens`` (running beams then count as finished), or once ``beam_size`` hypotheses are
finished and the best running beam, scored at its current length, cannot beat the worst of
them: the rule of :mod:`lmkit.decoding.beam` (chapter 10), here with the encoder's output
repeated once per beam in the :class:`~lmkit.seq2seq.model.DecoderState`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lmkit.errors import ConfigError, InputError
from lmkit.seq2seq.model import DecoderState, Seq2SeqTransformer
from lmkit.validators import check_int, check_number

__all__ = ["MAX_BEAM_SIZE", "Generated", "beam_search", "greedy"]

MAX_BEAM_SIZE = 16


@dataclass(frozen=True)
class Generated:
    """A decoded target: ``ids`` without the start and end tokens; ``score`` its total
    log-probability (the end token's included when ``finished``); ``finished`` whether the
    model ended it with eos rather than running out of ``max_new_tokens``."""

    ids: list[int]
    score: float
    finished: bool


def _source(model: Seq2SeqTransformer, src: object) -> torch.Tensor:
    if not isinstance(model, Seq2SeqTransformer):
        raise InputError(f"model must be a Seq2SeqTransformer, got {type(model).__name__}.")
    if isinstance(src, torch.Tensor):
        ids = src.reshape(1, -1) if src.dim() == 1 or (src.dim() == 2 and len(src) == 1) else None
    elif isinstance(src, Sequence) and all(isinstance(i, int) for i in src):
        ids = torch.tensor([list(src)], dtype=torch.long)
    else:
        ids = None
    if ids is None:
        raise InputError("src must be one source: a list of token ids or a 1-D tensor.")
    return ids.to(device=model.embed.weight.device, dtype=torch.long)


def _check_length(model: Seq2SeqTransformer, max_new_tokens: object) -> int:
    limit = model.config.max_target_len
    if max_new_tokens is None:  # as many as the decoder has positions
        return limit
    return check_int(
        "max_new_tokens", max_new_tokens, 1, limit,
        f" The decoder has {limit} positions (the start token takes the first).",
    )  # fmt: skip


def _log_probs(model: Seq2SeqTransformer, logits: torch.Tensor, banned: list[int]) -> torch.Tensor:
    logits = logits.float().clone()
    logits[:, banned] = float("-inf")
    return torch.log_softmax(logits, dim=-1)


def _banned(model: Seq2SeqTransformer, banned_ids: Sequence[int]) -> list[int]:
    ids = [model.config.pad_id, model.config.bos_id, *banned_ids]
    if model.config.eos_id in ids:
        raise ConfigError("banned_ids must not hold the end token: decoding could never stop.")
    return ids


@torch.no_grad()
def greedy(
    model: Seq2SeqTransformer,
    src: Sequence[int] | torch.Tensor,
    max_new_tokens: int | None = None,
    *,
    banned_ids: Sequence[int] = (),
) -> Generated:
    """The most likely next token at every step, until eos or ``max_new_tokens``."""
    src_ids = _source(model, src)
    max_new_tokens = _check_length(model, max_new_tokens)
    banned = _banned(model, banned_ids)
    state = model.encode(src_ids)
    token = torch.tensor([model.config.bos_id], device=src_ids.device)
    ids: list[int] = []
    score = 0.0
    for _ in range(max_new_tokens):
        log_probs = _log_probs(model, model.decode_step(state, token), banned)[0]
        best = int(log_probs.argmax())
        score += float(log_probs[best])
        if best == model.config.eos_id:
            return Generated(ids, score, True)
        ids.append(best)
        token = torch.tensor([best], device=src_ids.device)
    return Generated(ids, score, False)


@torch.no_grad()
def beam_search(
    model: Seq2SeqTransformer,
    src: Sequence[int] | torch.Tensor,
    beam_size: int = 4,
    max_new_tokens: int | None = None,
    length_penalty: float = 1.0,
    *,
    banned_ids: Sequence[int] = (),
) -> Generated:
    """The best finished hypothesis of a beam search (see the module docstring)."""
    src_ids = _source(model, src)
    beam_size = check_int("beam_size", beam_size, 1, MAX_BEAM_SIZE)
    max_new_tokens = _check_length(model, max_new_tokens)
    length_penalty = check_number("length_penalty", length_penalty, -10.0, 10.0)
    banned = _banned(model, banned_ids)
    eos = model.config.eos_id
    state: DecoderState = model.encode(src_ids)
    last = torch.tensor([model.config.bos_id], device=src_ids.device)
    running: list[tuple[list[int], float]] = [([], 0.0)]
    finished: list[tuple[float, list[int], float, bool]] = []  # (normalized, ids, score, eos?)

    def normalized(score: float, length: int) -> float:
        return score / length**length_penalty

    for step in range(max_new_tokens):
        log_probs = _log_probs(model, model.decode_step(state, last), banned)  # (R, V)
        totals = torch.tensor([s for _, s in running], device=log_probs.device)[:, None]
        totals = (totals + log_probs).flatten()
        k = min(2 * beam_size, int(torch.isfinite(totals).sum()))
        top_scores, top_index = totals.topk(k)
        vocab = log_probs.shape[1]
        carried: list[tuple[list[int], float]] = []
        parents: list[int] = []
        for rank, (score, index) in enumerate(
            zip(top_scores.tolist(), top_index.tolist(), strict=False)
        ):
            parent, token = divmod(index, vocab)
            ids = running[parent][0] + [token]
            if token == eos:
                if rank < beam_size:
                    finished.append((normalized(score, len(ids)), ids[:-1], score, True))
            else:
                carried.append((ids, score))
                parents.append(parent)
            if len(carried) == beam_size:
                break
        finished = sorted(finished, key=lambda h: h[0], reverse=True)[:beam_size]
        if not carried:
            running = []
            break
        running = carried
        best_running = normalized(max(s for _, s in running), step + 1)
        if len(finished) == beam_size and best_running <= finished[-1][0]:
            running = []
            break
        state = state.reorder(torch.tensor(parents, device=src_ids.device))
        last = torch.tensor([ids[-1] for ids, _ in running], device=src_ids.device)
    for ids, score in running:  # out of steps: unfinished beams compete as they are
        finished.append((normalized(score, len(ids)), ids, score, False))
    _, ids, score, ended = max(finished, key=lambda h: h[0])
    return Generated(ids, score, ended)
