"""Turn next-token logits into a choice: temperature, top-k, top-p and repetition penalty.

Introduced in chapter 10. A language model hands back one score (logit) per vocabulary entry;
``softmax`` turns them into probabilities. *How* we pick from those probabilities decides
whether text is dull (always the most likely token), creative, or nonsense. Each knob here is a
small pure function on logits of shape ``(B, V)`` or ``(V,)`` that returns new logits, so they
chain, and an app can show how each one reshaped the distribution:

1. :func:`apply_repetition_penalty` makes tokens already in the text less likely (CTRL).
2. :func:`apply_temperature` sharpens (< 1) or flattens (> 1) the distribution.
3. :func:`top_k_filter` keeps the ``k`` most likely tokens.
4. :func:`top_p_filter` keeps the smallest set of top tokens holding probability ``p``.

:func:`process_logits` applies them in that order (the same order as Hugging Face
``generate``) and :func:`sample_next_token` draws from the result. A filtered-out token gets the
logit ``-inf``, which ``softmax`` turns into probability exactly 0. So ``-inf`` is a legal input
value here; NaN and ``+inf`` are not.

Dividing by a tiny temperature (or repetition penalty) makes logits overflow to ``+inf``, so
both are bounded: temperature is 0 (greedy) or at least :data:`MIN_TEMPERATURE`, the penalty
lies in [:data:`MIN_REPETITION_PENALTY`, :data:`MAX_REPETITION_PENALTY`], and a division that
still overflows (huge logits, float16) is blamed on the setting, not the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int, check_number, is_int

MIN_TEMPERATURE = 1e-3  # below this (except 0) sampling is greedy anyway, and logits overflow
MIN_REPETITION_PENALTY = 1e-3
MAX_REPETITION_PENALTY = 1e3


# --------------------------------------------------------------------------- validation
def _check_logits(logits: object) -> None:
    """Raise :class:`InputError` unless ``logits`` is a float (V,) or (B, V) tensor we can sample."""
    if not isinstance(logits, torch.Tensor):
        raise InputError(
            f"logits must be a torch.Tensor of shape (V,) or (B, V), got {type(logits).__name__}."
        )
    if not logits.dtype.is_floating_point:
        raise InputError(
            f"logits must be a floating point tensor, got dtype={logits.dtype}. "
            "Pass the model's output scores, not token ids."
        )
    if logits.dim() not in (1, 2) or logits.shape[-1] == 0 or logits.numel() == 0:
        raise InputError(
            f"logits must have shape (V,) or (B, V) with V >= 1, got {tuple(logits.shape)}. "
            "For model output (B, T, V) take the last position: logits[:, -1, :]."
        )
    if torch.isnan(logits).any():
        raise InputError("logits contain NaN; the model produced invalid scores (check training).")
    if torch.isposinf(logits).any():
        raise InputError("logits contain +inf; scale them down or check the model for overflow.")
    if torch.isneginf(logits).all(dim=-1).any():
        raise InputError(
            "every logit in a row is -inf, so no token can be chosen; a filter removed everything."
        )


def check_temperature(temperature: object) -> float:
    """Return ``temperature`` as a float: 0 (greedy) or a number >= :data:`MIN_TEMPERATURE`;
    :class:`ConfigError` otherwise."""
    hint = (
        " Use temperature=0 (or strategy='greedy') for always picking the most likely token, "
        "1.0 for the model's own distribution, and values in (0, 1) for safer text."
    )
    value = check_number("temperature", temperature, minimum=0, hint=hint)
    if 0 < value < MIN_TEMPERATURE:
        raise ConfigError(
            f"temperature must be 0 or at least {MIN_TEMPERATURE:g}, got {temperature!r}: dividing "
            "the logits by a smaller temperature makes them overflow, and sampling at it is "
            "greedy anyway." + hint
        )
    return value


def check_top_k(top_k: object) -> int | None:
    """Return ``top_k`` as an int, or raise :class:`ConfigError` unless it is None or an int >= 1."""
    if top_k is None:
        return None
    hint = " Use None for no limit; top_k=1 always picks the most likely token; 40-50 is common."
    return check_int("top_k", top_k, minimum=1, hint=hint)


def check_top_p(top_p: object) -> float | None:
    """Return ``top_p`` as a float, or raise :class:`ConfigError` unless it is None or in (0, 1]."""
    if top_p is None:
        return None
    hint = " Use None or top_p=1 to keep every token; 0.9 is a common choice."
    return check_number("top_p", top_p, minimum=0, maximum=1, hint=hint, above=True)


def check_repetition_penalty(penalty: object) -> float:
    """Return ``penalty`` as a float, or raise :class:`ConfigError` unless it lies in
    [:data:`MIN_REPETITION_PENALTY`, :data:`MAX_REPETITION_PENALTY`]."""
    hint = (
        " 1.0 means no penalty; values around 1.1-1.3 discourage repeats; below 1 encourages them."
    )
    value = check_number("repetition_penalty", penalty, minimum=0, hint=hint, above=True)
    if not MIN_REPETITION_PENALTY <= value <= MAX_REPETITION_PENALTY:
        raise ConfigError(
            f"repetition_penalty must be in {MIN_REPETITION_PENALTY:g}..{MAX_REPETITION_PENALTY:g}, "
            f"got {penalty!r}: the logits of repeated tokens are divided or multiplied by it, and "
            "a more extreme value makes them overflow." + hint
        )
    return value


def _check_overflow(before: torch.Tensor, after: torch.Tensor, setting: str, value: float) -> None:
    """Blame ``setting`` (not the model) when scaling by it turned finite logits into +inf."""
    if (torch.isinf(after) & torch.isfinite(before)).any():
        raise InputError(
            f"{setting}={value:g} makes the logits overflow to infinity (they reach "
            f"{float(before.abs().max()):.3g} in {before.dtype}). Use a {setting} closer to 1, or "
            "float32 logits."
        )


# --------------------------------------------------------------------------- the four knobs
def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide logits by ``temperature``: below 1 sharpens the distribution, above 1 flattens it.

    ``temperature=0`` is the limit of sharpening: every token except the most likely one gets
    ``-inf`` (ties go to the lowest id, as ``argmax`` does), so sampling becomes greedy.
    Introduced in chapter 10.
    """
    _check_logits(logits)
    temperature = check_temperature(temperature)
    if temperature == 0:
        best = logits.argmax(dim=-1, keepdim=True)
        keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, best, True)
        return logits.masked_fill(~keep, float("-inf"))
    scaled = logits / temperature
    _check_overflow(logits, scaled, "temperature", temperature)
    return scaled


def top_k_filter(logits: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Keep the ``top_k`` largest logits per row and set the others to ``-inf``.

    Ties: every token whose logit equals the k-th largest is kept too, so more than ``k`` tokens
    can survive when values tie (Hugging Face's ``TopKLogitsWarper`` does the same). ``top_k``
    larger than the vocabulary keeps everything; ``None`` is a no-op. Introduced in chapter 10.
    """
    _check_logits(logits)
    top_k = check_top_k(top_k)
    if top_k is None or top_k >= logits.shape[-1]:
        return logits.clone()
    kth_largest = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (B, 1) or (1,)
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: torch.Tensor, top_p: float | None) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability sums to >= p.

    Walking down the tokens from most to least likely, a token is kept if the probability of
    the tokens *before* it is still below ``top_p``. The most likely token is therefore always
    kept, even when it alone exceeds ``top_p``. Ties: every token whose logit equals the last
    kept one is kept too, so the result never depends on how a sort orders equal values
    (Hugging Face keeps an arbitrary subset of tied tokens; with distinct logits the two agree).
    ``top_p=1`` or ``None`` is a no-op. Probabilities are summed in float32 (or float64 input).
    Introduced in chapter 10.
    """
    _check_logits(logits)
    top_p = check_top_p(top_p)
    if top_p is None or top_p >= 1.0:
        return logits.clone()
    work = logits if logits.dtype == torch.float64 else logits.float()
    sorted_logits, _ = torch.sort(work, dim=-1, descending=True)
    sorted_probs = torch.softmax(sorted_logits, dim=-1)
    # Probability mass strictly before each token in the sorted order.
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    n_keep = (mass_before < top_p).sum(dim=-1, keepdim=True).clamp(min=1)
    threshold = sorted_logits.gather(-1, n_keep - 1).to(logits.dtype)  # last kept logit
    return logits.masked_fill(logits < threshold, float("-inf"))


def apply_repetition_penalty(
    logits: torch.Tensor,
    previous_ids: torch.Tensor | Sequence[int],
    penalty: float,
) -> torch.Tensor:
    """Make tokens that already appear in ``previous_ids`` less likely (CTRL, Keskar et al. 2019).

    A seen token's logit is divided by ``penalty`` if positive and multiplied by it if
    negative, so with ``penalty > 1`` it always moves down; ``penalty < 1`` rewards repeats. Each
    token is penalised once, however often it appeared (like Hugging Face's
    ``RepetitionPenaltyLogitsProcessor``). ``previous_ids`` is ``(B, L)`` for ``(B, V)`` logits
    or ``(L,)`` / a list of ints for ``(V,)`` logits; ``L`` may be 0. Introduced in chapter 10.
    """
    _check_logits(logits)
    penalty = check_repetition_penalty(penalty)
    vocab_size = logits.shape[-1]
    if not isinstance(previous_ids, torch.Tensor):
        if not isinstance(previous_ids, Sequence) or not all(is_int(i) for i in previous_ids):
            raise InputError("previous_ids must be a LongTensor or a list of int token ids.")
        previous_ids = torch.tensor(list(previous_ids), dtype=torch.long, device=logits.device)
    dtype = previous_ids.dtype
    if dtype.is_floating_point or dtype.is_complex or dtype == torch.bool:
        raise InputError(
            f"previous_ids must hold integer token ids, got dtype={previous_ids.dtype}."
        )
    if previous_ids.dim() != logits.dim() or previous_ids.shape[:-1] != logits.shape[:-1]:
        raise InputError(
            f"previous_ids shape {tuple(previous_ids.shape)} does not match logits shape "
            f"{tuple(logits.shape)}: use (B, L) ids for (B, V) logits, or (L,) for (V,)."
        )
    if previous_ids.numel() > 0 and (previous_ids.min() < 0 or previous_ids.max() >= vocab_size):
        raise InputError(
            f"previous_ids must lie in [0, {vocab_size}) (the vocabulary), got values in "
            f"[{int(previous_ids.min())}, {int(previous_ids.max())}]."
        )
    if penalty == 1.0 or previous_ids.numel() == 0:
        return logits.clone()
    previous_ids = previous_ids.to(device=logits.device, dtype=torch.long)
    seen = logits.gather(-1, previous_ids)  # (B, L): duplicates read the same value twice
    seen = torch.where(seen < 0, seen * penalty, seen / penalty)
    penalized = logits.scatter(-1, previous_ids, seen)
    _check_overflow(logits, penalized, "repetition_penalty", penalty)
    return penalized


# --------------------------------------------------------------------------- putting it together
def process_logits(
    logits: torch.Tensor,
    *,
    previous_ids: torch.Tensor | Sequence[int] | None = None,
    repetition_penalty: float = 1.0,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """Repetition penalty, then temperature, then top-k, then top-p: the logits we sample from.

    ``softmax`` of the result is the "processed" distribution an app can draw next to the raw
    one. Introduced in chapter 10.
    """
    _check_logits(logits)
    if previous_ids is not None:
        logits = apply_repetition_penalty(logits, previous_ids, repetition_penalty)
    else:
        check_repetition_penalty(repetition_penalty)
    logits = apply_temperature(logits, temperature)
    logits = top_k_filter(logits, top_k)
    return top_p_filter(logits, top_p)


def _draw(processed: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Sample one id per row from already processed logits; returns shape ``processed.shape[:-1]``."""
    probs = torch.softmax(processed.float(), dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])  # (B, V)
    ids = torch.multinomial(flat, num_samples=1, generator=generator)  # (B, 1)
    return ids.reshape(processed.shape[:-1])


def sample_next_token(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    previous_ids: torch.Tensor | Sequence[int] | None = None,
    repetition_penalty: float = 1.0,
) -> torch.Tensor:
    """Pick the next token id for each row of ``logits`` ((B, V) -> (B,), (V,) -> scalar tensor).

    ``temperature=0`` is greedy decoding (``argmax``; no random numbers are drawn). Otherwise the
    logits go through :func:`process_logits` and one id is drawn from their softmax with
    ``generator`` (a ``torch.Generator`` on the logits' device, for reproducible draws).
    Introduced in chapter 10.
    """
    _check_logits(logits)
    temperature = check_temperature(temperature)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ConfigError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}."
        )
    if generator is not None and generator.device.type != logits.device.type:
        raise ConfigError(
            f"generator is on {generator.device} but logits are on {logits.device}; make it with "
            "torch.Generator(device=logits.device)."
        )
    processed = process_logits(
        logits,
        previous_ids=previous_ids,
        repetition_penalty=repetition_penalty,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
    )
    if temperature == 0:
        return processed.argmax(dim=-1)
    return _draw(processed, generator)


__all__ = [
    "MAX_REPETITION_PENALTY",
    "MIN_REPETITION_PENALTY",
    "MIN_TEMPERATURE",
    "apply_repetition_penalty",
    "apply_temperature",
    "check_repetition_penalty",
    "check_temperature",
    "check_top_k",
    "check_top_p",
    "process_logits",
    "sample_next_token",
    "top_k_filter",
    "top_p_filter",
]
