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

import contextlib
import dataclasses
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from lmkit.decoding.sampling import (
    _draw,
    check_repetition_penalty,
    check_temperature,
    check_top_k,
    check_top_p,
    process_logits,
)
from lmkit.errors import ConfigError, InputError

STRATEGIES = ("greedy", "sample", "beam")
MAX_NEW_TOKENS = 100_000


class Tokenizer(Protocol):
    """What the text helpers need from a tokenizer."""

    def encode(self, text: str) -> list[int]: ...  # pragma: no cover
    def decode(self, ids: list[int]) -> str: ...  # pragma: no cover


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(name: str, value: object, lo: int, hi: float, hint: str = "") -> None:
    if not _is_int(value) or not lo <= value <= hi:
        allowed = f">= {lo}" if hi == math.inf else f"in {lo}..{hi}"
        raise ConfigError(f"{name} must be an integer {allowed}, got {value!r}.{hint}")


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
        _check_int("max_new_tokens", self.max_new_tokens, 1, MAX_NEW_TOKENS)
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}.")
        check_temperature(self.temperature)
        check_top_k(self.top_k)
        check_top_p(self.top_p)
        check_repetition_penalty(self.repetition_penalty)
        _check_int("num_beams", self.num_beams, 1, 256, " Try 4 or 5.")
        lp = self.length_penalty
        if not isinstance(lp, (int, float)) or isinstance(lp, bool) or not math.isfinite(lp):
            raise ConfigError(f"length_penalty must be a finite number, got {lp!r}.")
        for name in ("eos_id", "bos_id"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 0, math.inf, " Use None for no such token.")
        if self.seed is not None:
            _check_int("seed", self.seed, 0, 2**63 - 1)
        if not isinstance(self.use_cache, bool):
            raise ConfigError(f"use_cache must be True or False, got {self.use_cache!r}.")
        _check_int("top_alternatives", self.top_alternatives, 1, 1000)
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


# --------------------------------------------------------------------------- input checks
def _check_model(model: object) -> tuple[int, int]:
    """Return (block_size, vocab_size) or raise :class:`InputError` if ``model`` does not fit."""
    config = getattr(model, "config", None)
    block, vocab = getattr(config, "block_size", None), getattr(config, "vocab_size", None)
    if not callable(model) or not _is_int(block) or not _is_int(vocab) or block < 1 or vocab < 1:
        raise InputError(
            f"model must be a language model like lmkit.gpt.model.GPT (callable, with config.block_size "
            f"and config.vocab_size), got {type(model).__name__}."
        )
    return block, vocab


def _model_device(model: Any) -> torch.device:
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    first = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return first.device if first is not None else torch.device("cpu")


def _resolve_config(config: object, overrides: dict[str, Any]) -> GenerationConfig:
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


def _as_batch(idx: object, vocab_size: int, bos_id: int | None) -> torch.LongTensor:
    """Token ids as a (B, T) LongTensor on the CPU: from a list of ints, a 1-D or a 2-D tensor."""
    if isinstance(idx, torch.Tensor):
        if idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex():
            raise InputError(
                f"idx must hold integer token ids, got dtype {idx.dtype}. "
                "Tokenize text first (tokenizer.encode) or use .long() if the values are ids."
            )
        if idx.dim() not in (1, 2):
            raise InputError(f"idx must be 1-D (T,) or 2-D (B, T), got shape {tuple(idx.shape)}.")
        batch = idx.detach().to("cpu", torch.long)
        batch = batch.unsqueeze(0) if batch.dim() == 1 else batch  # (B, T)
    elif isinstance(idx, Sequence) and not isinstance(idx, (str, bytes)):
        if not all(_is_int(i) for i in idx):
            raise InputError(
                "idx as a list must contain only int token ids, e.g. [15496, 995]; for a batch "
                "pass a 2-D LongTensor."
            )
        bad = [i for i in idx if not 0 <= i < vocab_size]
        if bad:  # checked here too: a huge int would overflow torch.long
            raise InputError(
                f"Token ids must lie in [0, {vocab_size}) (the model's vocabulary), got {bad[:5]}."
            )
        batch = torch.tensor([list(idx)], dtype=torch.long).reshape(1, len(idx))
    else:
        raise InputError(
            f"idx must be a list of ints or a LongTensor of token ids, got {type(idx).__name__}. "
            "For text use generate_text(model, tokenizer, prompt)."
        )
    if batch.shape[0] == 0:
        raise InputError("idx has no rows (batch size 0); give at least one prompt.")
    if batch.shape[1] == 0:
        if bos_id is None:
            raise InputError(
                "The prompt is empty: the model needs at least one token to continue. Give a "
                "prompt, or set bos_id (e.g. the tokenizer's beginning/end-of-text id)."
            )
        batch = torch.full((batch.shape[0], 1), bos_id, dtype=torch.long)
    lo, hi = int(batch.min()), int(batch.max())
    if lo < 0 or hi >= vocab_size:
        raise InputError(
            f"Token ids must lie in [0, {vocab_size}) (the model's vocabulary), got values in "
            f"[{lo}, {hi}]. Check that the tokenizer matches the model."
        )
    return batch


def _check_special_ids(config: GenerationConfig, vocab_size: int) -> None:
    for name in ("eos_id", "bos_id"):
        value = getattr(config, name)
        if value is not None and value >= vocab_size:
            raise ConfigError(f"{name}={value} is outside the vocabulary [0, {vocab_size}).")


def _warn_if_cropped(length: int, block_size: int) -> None:
    if length > block_size:
        warnings.warn(
            f"The prompt has {length} tokens but the model's context is block_size={block_size}; "
            f"only the last {block_size} tokens are used.",
            UserWarning,
            stacklevel=3,
        )


@contextlib.contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Switch off dropout for the duration, then restore whatever mode the model was in."""
    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train(True)


def _last_logits(output: Any) -> torch.Tensor:
    logits = output.logits if hasattr(output, "logits") else output
    if isinstance(logits, tuple):  # nanoGPT style (logits, loss)
        logits = logits[0]
    return logits[:, -1, :].float()  # (B, V)


# --------------------------------------------------------------------------- the context window
class _ContextWindow:
    """Feeds a growing (B, L) sequence to the model and returns the last position's logits.

    The model sees ``seq[:, start:]``. When that would exceed ``block_size`` we slide ``start``
    so only the last ``block_size // 2`` tokens remain, and (with a cache) prefill them again.
    """

    def __init__(self, model: Any, batch_size: int, device: torch.device, use_cache: bool):
        self.model = model
        self.block_size = model.config.block_size
        self.keep = max(1, self.block_size // 2)
        self.start = 0
        self.cache = None
        if use_cache and hasattr(model, "new_kv_cache"):
            self.cache = model.new_kv_cache(batch_size, self.block_size, device=device)

    def _forward_window(self, seq: torch.Tensor) -> torch.Tensor:
        window = seq[:, self.start :]  # (B, <= block_size)
        if self.cache is None:
            return _last_logits(self.model(window))
        self.cache.reset()
        return _last_logits(self.model(window, kv_cache=self.cache))

    def prefill(self, seq: torch.Tensor) -> torch.Tensor:
        """Logits (B, V) after the prompt, cropped to its last ``block_size`` tokens."""
        self.start = max(0, seq.shape[1] - self.block_size)
        return self._forward_window(seq)

    def advance(self, seq: torch.Tensor) -> torch.Tensor:
        """Logits (B, V) after ``seq``, which has one more token than at the last call."""
        if seq.shape[1] - self.start > self.block_size:
            self.start = seq.shape[1] - self.keep
            return self._forward_window(seq)
        if self.cache is None:
            return self._forward_window(seq)
        return _last_logits(self.model(seq[:, -1:], kv_cache=self.cache))

    def reorder(self, index: torch.Tensor) -> None:
        """Keep cache rows ``index`` (beam search); the caller reorders ``seq`` the same way."""
        if self.cache is not None:
            self.cache.reorder(index)


# --------------------------------------------------------------------------- choosing tokens
def _choose(
    logits: torch.Tensor,
    seq: torch.Tensor,
    config: GenerationConfig,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick the next id of every row; returns (ids (B,), processed logits (B, V))."""
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


def _prepare(model: Any, idx: object, config: object, overrides: dict[str, Any]):
    config = _resolve_config(config, overrides)
    block, vocab = _check_model(model)
    _check_special_ids(config, vocab)
    batch = _as_batch(idx, vocab, config.bos_id)
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
    config, batch, block = _prepare(model, idx, config, overrides)
    if config.strategy == "beam":
        return _generate_beam(model, batch, config)
    _warn_if_cropped(batch.shape[1], block)
    device = _model_device(model)
    with _eval_mode(model), torch.inference_mode():
        seq = batch.to(device)
        generator = _generator(config, device)
        window = _ContextWindow(model, seq.shape[0], device, config.use_cache)
        logits = window.prefill(seq)
        finished = torch.zeros(seq.shape[0], dtype=torch.bool, device=device)
        for step in range(config.max_new_tokens):
            ids, _ = _choose(logits, seq, config, generator)
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
    from lmkit.decoding.beam import beam_search  # beam imports this module

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
    width = max(len(r) for r in rows)
    pad = config.eos_id if config.eos_id is not None else 0  # only eos makes rows shorter
    out = torch.full((len(rows), width), pad, dtype=torch.long, device=rows[0].device)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


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
    config, batch, block = _prepare(model, idx, config, overrides)
    if config.strategy == "beam":
        raise ConfigError(
            "stream() supports strategy 'greedy' and 'sample'; for beam search use "
            "lmkit.decoding.beam.beam_search(), which also returns the search tree."
        )
    if batch.shape[0] != 1:
        raise InputError(f"stream() takes one prompt (batch size 1), got {batch.shape[0]} rows.")
    _warn_if_cropped(batch.shape[1], block)
    return _stream_steps(model, batch, config)


def _top(probs: torch.Tensor, n: int, drop_zeros: bool) -> tuple[list[int], list[float]]:
    values, ids = torch.topk(probs, min(n, probs.shape[-1]))
    if drop_zeros:
        ids, values = ids[values > 0], values[values > 0]
    return ids.tolist(), values.tolist()


def _stream_steps(model: Any, batch: torch.Tensor, config: GenerationConfig) -> Iterator[TokenStep]:
    # Each step runs in its own inference-mode/eval block, so nothing leaks to the caller's code
    # while the generator is paused at `yield`.
    started = time.perf_counter()
    device = _model_device(model)
    with _eval_mode(model), torch.inference_mode():
        seq = batch.to(device)
        generator = _generator(config, device)
        window = _ContextWindow(model, 1, device, config.use_cache)
        logits = window.prefill(seq)
    for index in range(config.max_new_tokens):
        with _eval_mode(model), torch.inference_mode():
            if index > 0:
                logits = window.advance(seq)
            ids, processed = _choose(logits, seq, config, generator)
            seq = torch.cat([seq, ids[:, None]], dim=1)
            token = int(ids[0])
            raw = torch.softmax(logits[0], dim=-1)
            logprobs = torch.log_softmax(processed[0].float(), dim=-1)
            top_ids, top_probs = _top(raw, config.top_alternatives, drop_zeros=False)
            p_ids, p_probs = _top(logprobs.exp(), config.top_alternatives, drop_zeros=True)
            step = TokenStep(
                index=index,
                token_id=token,
                prob=float(logprobs[token].exp()),
                logprob=float(logprobs[token]),
                raw_prob=float(raw[token]),
                top_ids=top_ids,
                top_probs=top_probs,
                processed_top_ids=p_ids,
                processed_top_probs=p_probs,
                elapsed=time.perf_counter() - started,
            )
        yield step
        if config.eos_id is not None and token == config.eos_id:
            return


# --------------------------------------------------------------------------- text helpers
def _encode(tokenizer: Any, prompt: object) -> list[int]:
    if not callable(getattr(tokenizer, "encode", None)) or not callable(
        getattr(tokenizer, "decode", None)
    ):
        raise InputError(
            "tokenizer must have encode(str) -> list[int] and decode(list[int]) -> str, got "
            f"{type(tokenizer).__name__}."
        )
    if not isinstance(prompt, str):
        raise InputError(f"prompt must be a str, got {type(prompt).__name__}.")
    ids = tokenizer.encode(prompt)
    ids = getattr(ids, "ids", ids)  # a `tokenizers` Encoding carries its ids in .ids
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    if not all(_is_int(i) for i in ids):
        raise InputError("tokenizer.encode must return a list of int token ids.")
    return ids


def _continuation(new_ids: list[int], eos_id: int | None) -> list[int]:
    """The generated ids up to (not including) the first eos."""
    if eos_id is not None and eos_id in new_ids:
        return new_ids[: new_ids.index(eos_id)]
    return new_ids


def generate_text(
    model: Any,
    tokenizer: Tokenizer,
    prompt: str,
    config: GenerationConfig | None = None,
    **overrides: Any,
) -> str:
    """Continue ``prompt`` and return only the new text (decoded up to, not including, eos).

    ``tokenizer`` is anything with ``encode(str) -> list[int]`` and ``decode(list[int]) -> str``.
    Introduced in chapter 10.
    """
    ids = _encode(tokenizer, prompt)
    config = _resolve_config(config, overrides)
    out = generate(model, ids, config)
    start = len(ids) if ids else 1  # an empty prompt starts from bos_id
    return tokenizer.decode(_continuation(out[0, start:].tolist(), config.eos_id))


def stream_text(
    model: Any,
    tokenizer: Tokenizer,
    prompt: str,
    config: GenerationConfig | None = None,
    **overrides: Any,
) -> Iterator[tuple[TokenStep, str]]:
    """Yield ``(TokenStep, text_delta)`` per new token; the deltas add up to the continuation.

    Each delta comes from decoding *all* generated ids and taking what is new, because one
    character can span several byte-level tokens: while the decoded text ends in the
    replacement character U+FFFD (an incomplete character) that part is held back, and the
    delta is ``""``. The final step flushes everything, so ``"".join(deltas)`` equals
    ``tokenizer.decode(new ids)`` exactly, for tokenizers whose decoding of a longer sequence
    extends that of a shorter one (true for byte-level BPE). Introduced in chapter 10.
    """
    ids = _encode(tokenizer, prompt)
    config = _resolve_config(config, overrides)
    steps = stream(model, ids, config)  # checks arguments now

    def deltas() -> Iterator[tuple[TokenStep, str]]:
        generated: list[int] = []
        emitted = ""
        warned = False
        for step in steps:
            hit_eos = config.eos_id is not None and step.token_id == config.eos_id
            if not hit_eos:
                generated.append(step.token_id)
            last = hit_eos or step.index == config.max_new_tokens - 1
            text = tokenizer.decode(generated)
            ready = text if last else text.rstrip("\ufffd")
            if ready.startswith(emitted):
                delta, emitted = ready[len(emitted) :], ready
            else:
                delta = ""
                if not warned:
                    warnings.warn(
                        "tokenizer.decode is not prefix-stable (decoding more tokens changed "
                        "earlier text), so streamed text may differ from the final decode.",
                        UserWarning,
                        stacklevel=2,
                    )
                    warned = True
            yield step, delta

    return deltas()


__all__ = [
    "GenerationConfig",
    "TokenStep",
    "generate",
    "generate_text",
    "stream",
    "stream_text",
]
