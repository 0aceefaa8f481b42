"""Generate tokens from a language model: greedy, sampling or beam search, with a KV cache.

Introduced in chapter 10 (the KV cache it drives comes from chapter 8). Generation is a loop:
feed the context, read the logits of the last position, pick a token (:mod:`lmkit.decoding.sampling`),
append it, repeat. The KV cache makes each step cost one token instead of the whole context:
we *prefill* the prompt once, then feed one new token per step.

The context window. A model only knows ``block_size`` positions. A prompt longer than that
is cropped to its last ``block_size`` tokens (with a warning). When the window fills up during
generation we *slide*: keep the last ``block_size // 2`` tokens and prefill them again, so
generation can run past ``block_size`` and the cache is rebuilt once every ``block_size // 2``
tokens instead of every step. Without the cache (``use_cache=False``) the model sees exactly the
same window, recomputed every step, so both paths give the same tokens.

Works with any model that follows :class:`lmkit.gpt.model.GPT`'s protocol: ``model(idx)`` returns an
object with ``.logits`` (B, T, V), ``model.config`` has ``block_size`` and ``vocab_size``, and
(for the cache) ``model.new_kv_cache(batch_size, max_len)`` plus ``model(idx, kv_cache=cache)``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lmkit.decoding.beam import beam_search
from lmkit.decoding.checks import (
    MAX_NEW_TOKENS,
    as_batch,
    check_model,
    eval_mode,
    model_device,
    warn_if_cropped,
)
from lmkit.decoding.sampling import (
    _draw,
    check_repetition_penalty,
    check_temperature,
    check_top_k,
    check_top_p,
    process_logits,
)
from lmkit.decoding.window import ContextWindow
from lmkit.errors import ConfigError, InputError
from lmkit.nn.padding import pad_right
from lmkit.validators import check_int, check_number

STRATEGIES = ("greedy", "sample", "beam")


@dataclass
class GenerationConfig:
    """Every knob of :func:`generate`; checked when made, so a bad value fails early.

    ``strategy``: ``"greedy"`` (most likely token; ignores temperature/top-k/top-p),
    ``"sample"`` (draw from the processed distribution), or ``"beam"`` (:mod:`lmkit.decoding.beam`).
    ``eos_id`` stops a row once generated (finished rows are padded with ``eos_id``);
    ``bos_id`` is the token to start from when the prompt is empty. ``seed`` makes sampling
    reproducible. ``top_alternatives`` is how many candidates :func:`stream` reports per step.
    Introduced in chapter 10.
    """

    max_new_tokens: int = 50
    strategy: str = "greedy"
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0
    num_beams: int = 4
    length_penalty: float = 1.0
    eos_id: int | None = None
    bos_id: int | None = None
    seed: int | None = None
    use_cache: bool = True
    top_alternatives: int = 5

    def __post_init__(self) -> None:
        check_int("max_new_tokens", self.max_new_tokens, 1, MAX_NEW_TOKENS)
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}.")
        check_temperature(self.temperature)
        check_top_k(self.top_k)
        check_top_p(self.top_p)
        check_repetition_penalty(self.repetition_penalty)
        check_int("num_beams", self.num_beams, 1, 256, " Try 4 or 5.")
        check_number("length_penalty", self.length_penalty)
        for name in ("eos_id", "bos_id"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 0, math.inf, " Use None for no such token.")
        if self.seed is not None:
            check_int("seed", self.seed, 0, 2**63 - 1)
        if not isinstance(self.use_cache, bool):
            raise ConfigError(f"use_cache must be True or False, got {self.use_cache!r}.")
        check_int("top_alternatives", self.top_alternatives, 1, 1000)
        if self.strategy == "beam" and self.repetition_penalty != 1.0:
            raise ConfigError(
                "repetition_penalty is not supported with strategy='beam'; set it to 1.0 or use "
                "strategy='greedy' or 'sample'."
            )


@dataclass(frozen=True)
class TokenStep:
    """One generated token as :func:`stream` reports it (plain Python values, ready to plot).

    ``prob``/``logprob``: the chosen token under the *processed* distribution (after repetition
    penalty, temperature, top-k and top-p; greedy counts as temperature 0, so prob 1).
    ``raw_prob``: the chosen token under the model's own distribution (temperature 1, no
    filter). ``top_ids``/``top_probs``: the most likely tokens of the raw distribution;
    ``processed_top_ids``/``processed_top_probs``: of the processed one (filtered-out tokens,
    whose probability is 0, are left out, so these lists can be shorter). ``elapsed``: seconds
    since generation started, prefill included. Introduced in chapter 10.
    """

    index: int
    token_id: int
    prob: float
    logprob: float
    raw_prob: float
    top_ids: list[int]
    top_probs: list[float]
    processed_top_ids: list[int]
    processed_top_probs: list[float]
    elapsed: float


def resolve_config(config: object, overrides: dict[str, Any]) -> GenerationConfig:
    if config is None:
        config = GenerationConfig()
    elif not isinstance(config, GenerationConfig):
        raise ConfigError(
            f"config must be a GenerationConfig or None, got {type(config).__name__}."
        )
    known = {f.name for f in dataclasses.fields(GenerationConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"Unknown generation setting(s) {unknown}. Known: {sorted(known)}.")
    return dataclasses.replace(config, **overrides) if overrides else config


def _check_special_ids(config: GenerationConfig, vocab_size: int) -> None:
    for name in ("eos_id", "bos_id"):
        value = getattr(config, name)
        if value is not None and value >= vocab_size:
            raise ConfigError(f"{name}={value} is outside the vocabulary [0, {vocab_size}).")


# --------------------------------------------------------------------------- the context window
# --------------------------------------------------------------------------- choosing tokens
def choose_next_tokens(
    logits: torch.Tensor,
    seq: torch.Tensor,
    config: GenerationConfig,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick the next id of every row of ``logits`` (B, V) after ``seq`` (B, L) with ``config``'s
    greedy/sample settings; returns (ids (B,), processed logits (B, V)). The one token choice
    :func:`generate`, :func:`stream` and :mod:`lmkit.serving` share. Introduced in chapter 10."""
    greedy = config.strategy == "greedy" or config.temperature == 0
    penalize = config.repetition_penalty != 1.0
    processed = process_logits(
        logits,
        previous_ids=seq if penalize else None,
        repetition_penalty=config.repetition_penalty,
        temperature=0.0 if greedy else config.temperature,
        top_k=None if greedy else config.top_k,
        top_p=None if greedy else config.top_p,
    )
    ids = processed.argmax(dim=-1) if greedy else _draw(processed, generator)
    return ids, processed


def _generator(config: GenerationConfig, device: torch.device) -> torch.Generator | None:
    if config.seed is None:
        return None
    return torch.Generator(device=device).manual_seed(config.seed)


def prepare_inputs(model: Any, idx: object, config: object, overrides: dict[str, Any]):
    """Checked ``(config, (B, T) CPU batch of ids, block_size)`` for a decoding call: the checks
    :func:`generate`, :func:`stream` and :mod:`lmkit.serving` share. Introduced in chapter 10."""
    config = resolve_config(config, overrides)
    block, vocab = check_model(model)
    _check_special_ids(config, vocab)
    batch = as_batch(idx, vocab, config.bos_id)
    return config, batch, block


def generate(
    model: Any, idx: object, config: GenerationConfig | None = None, **overrides: Any
) -> torch.LongTensor:
    """Continue ``idx`` and return prompt + new tokens as a (B, T + new) LongTensor.

    ``idx`` is a list of ints, a (T,) or a (B, T) tensor of ids; the result is always 2-D, on
    the model's device. Settings come from ``config`` with keyword ``overrides`` on top, e.g.
    ``generate(model, ids, strategy="sample", temperature=0.8, seed=0)``. Rows that produce
    ``eos_id`` stop there and are padded with ``eos_id``; generation ends early once every row
    has. Runs in inference mode with dropout off; the model's train/eval mode is restored.
    Introduced in chapter 10.
    """
    config, batch, block = prepare_inputs(model, idx, config, overrides)
    if config.strategy == "beam":
        return _generate_beam(model, batch, config)
    warn_if_cropped(batch.shape[1], block)
    device = model_device(model)
    with eval_mode(model), torch.inference_mode():
        seq = batch.to(device)
        generator = _generator(config, device)
        window = ContextWindow(model, seq.shape[0], device, config.use_cache)
        logits = window.prefill(seq)
        finished = torch.zeros(seq.shape[0], dtype=torch.bool, device=device)
        for step in range(config.max_new_tokens):
            ids, _ = choose_next_tokens(logits, seq, config, generator)
            if config.eos_id is not None:
                ids = ids.masked_fill(finished, config.eos_id)
                finished |= ids == config.eos_id
            seq = torch.cat([seq, ids[:, None]], dim=1)
            done = config.eos_id is not None and bool(finished.all())
            if done or step == config.max_new_tokens - 1:
                break
            logits = window.advance(seq)
    return seq.clone()  # a normal tensor, usable outside inference mode


def _generate_beam(model: Any, batch: torch.Tensor, config: GenerationConfig) -> torch.Tensor:
    rows = []
    for prompt in batch:
        result = beam_search(
            model,
            prompt,
            num_beams=config.num_beams,
            max_new_tokens=config.max_new_tokens,
            length_penalty=config.length_penalty,
            eos_id=config.eos_id,
            use_cache=config.use_cache,
        )
        rows.append(result.sequences[0, : batch.shape[1] + result.lengths[0]])
    pad = config.eos_id if config.eos_id is not None else 0  # only eos makes rows shorter
    return pad_right(rows, pad)[0]


# --------------------------------------------------------------------------- streaming
def stream(
    model: Any, idx: object, config: GenerationConfig | None = None, **overrides: Any
) -> Iterator[TokenStep]:
    """Yield one :class:`TokenStep` per new token, for a single prompt (batch size 1).

    Gives the same tokens as :func:`generate` with the same settings (greedy or sample; for
    beam search use :func:`lmkit.decoding.beam.beam_search`, which returns the whole search tree).
    Arguments are checked now; the model runs as you iterate. Stops after ``eos_id``.
    Introduced in chapter 10.
    """
    config, batch, block = prepare_inputs(model, idx, config, overrides)
    if config.strategy == "beam":
        raise ConfigError(
            "stream() supports strategy 'greedy' and 'sample'; for beam search use "
            "lmkit.decoding.beam.beam_search(), which also returns the search tree."
        )
    if batch.shape[0] != 1:
        raise InputError(f"stream() takes one prompt (batch size 1), got {batch.shape[0]} rows.")
    warn_if_cropped(batch.shape[1], block)
    return _stream_steps(model, batch, config)


def _stream_steps(model: Any, batch: torch.Tensor, config: GenerationConfig) -> Iterator[TokenStep]:
    # Each step runs in its own inference-mode/eval block, so nothing leaks to the caller's code
    # while the generator is paused at `yield`.
    started = time.perf_counter()
    device = model_device(model)
    with eval_mode(model), torch.inference_mode():
        seq = batch.to(device)
        generator = _generator(config, device)
        window = ContextWindow(model, 1, device, config.use_cache)
        logits = window.prefill(seq)
    for index in range(config.max_new_tokens):
        with eval_mode(model), torch.inference_mode():
            if index > 0:
                logits = window.advance(seq)
            ids, processed = choose_next_tokens(logits, seq, config, generator)
            seq = torch.cat([seq, ids[:, None]], dim=1)
            (step,) = describe_steps(
                logits, processed, ids, config.top_alternatives, [index], [started]
            )
        yield step
        if config.eos_id is not None and step.token_id == config.eos_id:
            return


def describe_steps(
    logits: torch.Tensor,
    processed: torch.Tensor,
    ids: torch.Tensor,
    top_alternatives: int,
    indices: Sequence[int],
    started: Sequence[float],
) -> list[TokenStep]:
    """One :class:`TokenStep` per row: row ``r`` chose ``ids[r]`` from its raw ``logits[r]``
    and ``processed[r]`` (each (B, V)) as its token number ``indices[r]``; ``started[r]`` is
    the ``time.perf_counter()`` at which that row's generation began. Introduced in chapter 10."""
    raw = torch.softmax(logits, dim=-1)  # (B, V)
    logprobs = torch.log_softmax(processed.float(), dim=-1)
    n = min(top_alternatives, raw.shape[-1])
    top_probs, top_ids = (t.tolist() for t in torch.topk(raw, n))
    p_probs, p_ids = (t.tolist() for t in torch.topk(logprobs.exp(), n))
    rows = torch.arange(ids.shape[0])
    chosen = logprobs[rows, ids]
    chosen_logprob, chosen_prob = chosen.tolist(), chosen.exp().tolist()
    chosen_raw = raw[rows, ids].tolist()
    now = time.perf_counter()
    steps = []
    for r, token in enumerate(ids.tolist()):
        kept = [i for i, p in enumerate(p_probs[r]) if p > 0]  # filtered-out tokens: left out
        steps.append(
            TokenStep(
                index=indices[r],
                token_id=token,
                prob=chosen_prob[r],
                logprob=chosen_logprob[r],
                raw_prob=chosen_raw[r],
                top_ids=top_ids[r],
                top_probs=top_probs[r],
                processed_top_ids=[p_ids[r][i] for i in kept],
                processed_top_probs=[p_probs[r][i] for i in kept],
                elapsed=now - started[r],
            )
        )
    return steps


__all__ = [
    "GenerationConfig",
    "TokenStep",
    "choose_next_tokens",
    "describe_steps",
    "generate",
    "prepare_inputs",
    "resolve_config",
    "stream",
]
