"""Which tokens made the classifier decide? Per-token saliency for any lmkit classifier.

Introduced in chapter 11 and drawn by the app's Classify page (:mod:`lmkit.viz.saliency`).
Both methods differentiate one number, the **log-probability of the target label**,
``f(e) = log softmax(model(inputs_embeds=e).logits)[target]``, with respect to the token
embeddings ``e`` (T, D) that :meth:`model.input_embeddings` looks up. A token's score is a dot
product over the embedding dimensions, so it is signed: positive = pushed towards the target
label, negative = pushed away from it.

- :func:`gradient_x_input`: ``score_i = e_i · ∂f/∂e_i``, one backward pass. Fast, but it only
  describes the model near the input (a first-order Taylor term).
- :func:`integrated_gradients` (Sundararajan et al., 2017): average the gradient along the
  straight path from a **baseline** ``b`` to ``e`` and multiply by ``e - b``. Its scores add up
  to ``f(e) - f(b)`` (*completeness*), up to the error of the numerical integral, which shrinks
  as ``steps`` grows (:attr:`Saliency.completeness_gap` reports it).

The baseline, a choice worth knowing: by default (``baseline="pad"``) every ordinary token is
replaced by the embedding of the tokenizer's padding token, the closest thing to "no word here"
that the model has seen; ``baseline="zeros"`` uses zero vectors instead (also the fallback when
the tokenizer has no padding token). Special tokens such as ``[CLS]`` and ``[SEP]`` are kept as
they are in the baseline, so their integrated-gradients score is exactly 0 and the scores
explain the words, not the sentence frame. Positions are added by the model after the lookup,
so they are the same in input and baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from lmkit.errors import ConfigError, InputError
from lmkit.tasks.text_classify import classifier_parts, encode_for_model, model_max_length
from lmkit.validators import check_int, is_int

__all__ = ["BASELINES", "Saliency", "gradient_x_input", "integrated_gradients"]

BASELINES = ("pad", "zeros")
MAX_STEPS = 1024


@dataclass(frozen=True)
class Saliency:
    """Per-token scores for one text and one target label. Introduced in chapter 11.

    ``scores[i]`` belongs to ``tokens[i]``; ``special[i]`` marks ``[CLS]``/``[SEP]``-like tokens.
    ``target_score`` is f(input), the log-probability of ``target_label``; for integrated
    gradients ``baseline_score`` is f(baseline) and the scores should add up to their difference.
    """

    tokens: tuple[str, ...]
    scores: tuple[float, ...]
    target_label: str
    probabilities: dict[str, float]
    special: tuple[bool, ...]
    token_ids: tuple[int, ...]
    method: str
    target_score: float
    baseline: str | None = None
    baseline_score: float | None = None
    steps: int | None = None
    truncated: bool = False

    @property
    def completeness_gap(self) -> float | None:
        """``|sum(scores) - (f(input) - f(baseline))|`` for integrated gradients, else None."""
        if self.baseline_score is None:
            return None
        return abs(sum(self.scores) - (self.target_score - self.baseline_score))


def _prepare(loaded: Any, text: str, target: str | int | None) -> dict[str, Any]:
    model, tokenizer = classifier_parts(loaded)
    if not isinstance(text, str) or not text.strip():
        raise InputError("The text is empty: type a sentence to explain.")
    if not callable(getattr(model, "input_embeddings", None)):
        raise InputError("The model has no input_embeddings() method, which saliency needs.")
    ids, truncated, _ = encode_for_model(tokenizer, text, model_max_length(model))
    labels = tuple(model.labels)
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    input_ids = torch.tensor([ids], device=device)
    mask = torch.ones_like(input_ids)
    with torch.no_grad():
        logits = model(input_ids, mask).logits.float()
    probs = torch.softmax(logits, dim=-1)[0].cpu()
    if target is None:
        index = int(probs.argmax())
    elif isinstance(target, str) and target in labels:
        index = labels.index(target)
    elif is_int(target) and 0 <= target < len(labels):
        index = int(target)
    else:
        raise InputError(f"target must be None, a label in {labels} or an index, got {target!r}.")
    specials = set(getattr(tokenizer, "special_tokens", {}).values())
    return {
        "model": model,
        "tokenizer": tokenizer,
        "input_ids": input_ids,
        "mask": mask,
        "index": index,
        "labels": labels,
        "probabilities": dict(zip(labels, probs.tolist(), strict=True)),
        "special": tuple(i in specials for i in ids),
        "tokens": tuple(str(tokenizer.id_to_token(i)) for i in ids),
        "truncated": truncated,
    }


def _target_log_prob(
    model: Any, input_ids: torch.Tensor, mask: torch.Tensor, index: int
) -> Callable[[torch.Tensor], torch.Tensor]:
    """f: embeddings (K, T, D) → the target's log-probability (K,), one per row."""

    def f(embeds: torch.Tensor) -> torch.Tensor:
        k = embeds.shape[0]
        logits = model(input_ids.expand(k, -1), mask.expand(k, -1), inputs_embeds=embeds).logits
        return torch.log_softmax(logits, dim=-1)[:, index]

    return f


def _in_eval_mode(run: Callable[[], Saliency], model: Any) -> Saliency:
    was_training = model.training
    model.eval()  # no dropout: the scores must not be random
    try:
        with torch.enable_grad():
            return run()
    finally:
        model.train(was_training)


def gradient_x_input(loaded: Any, text: str, *, target: str | int | None = None) -> Saliency:
    """Gradient × input: ``score_i = e_i · ∂f/∂e_i`` for f the target's log-probability.

    ``target`` is a label, its index, or ``None`` for the predicted label. Introduced in
    chapter 11.
    """
    p = _prepare(loaded, text, target)
    model = p["model"]

    def run() -> Saliency:
        embeds = model.input_embeddings(p["input_ids"]).detach().requires_grad_(True)
        value = _target_log_prob(model, p["input_ids"], p["mask"], p["index"])(embeds)
        (grad,) = torch.autograd.grad(value.sum(), embeds)
        scores = (grad * embeds).sum(dim=-1)[0]  # (T,)
        return _result(p, scores, "gradient_x_input", float(value[0].detach()))

    return _in_eval_mode(run, model)


def integrated_gradients(
    loaded: Any,
    text: str,
    *,
    target: str | int | None = None,
    steps: int = 32,
    baseline: str = "pad",
    batch_size: int = 16,
) -> Saliency:
    """Integrated gradients from a baseline (see the module docstring) to the input.

    The path integral uses the trapezoidal rule on ``steps`` equal intervals (``steps + 1``
    model evaluations, ``batch_size`` at a time); its error shrinks about as ``1 / steps²``.
    Introduced in chapter 11.
    """
    steps = check_int("steps", steps, minimum=1, maximum=MAX_STEPS)
    if baseline not in BASELINES:
        raise ConfigError(f"baseline must be one of {BASELINES}, got {baseline!r}.")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    p = _prepare(loaded, text, target)
    model, tokenizer, input_ids = p["model"], p["tokenizer"], p["input_ids"]
    pad_id = getattr(tokenizer, "pad_id", None)
    used = "zeros" if baseline == "zeros" or pad_id is None else "pad"

    def run() -> Saliency:
        with torch.no_grad():
            embeds = model.input_embeddings(input_ids)[0]  # (T, D)
            if used == "pad":
                reference = model.input_embeddings(torch.full_like(input_ids, pad_id))[0]
            else:
                reference = torch.zeros_like(embeds)
            keep = torch.tensor(p["special"], device=embeds.device)[:, None]
            start = torch.where(keep, embeds, reference)  # specials stay themselves
        f = _target_log_prob(model, input_ids, p["mask"], p["index"])
        alphas = torch.linspace(0, 1, steps + 1, dtype=embeds.dtype, device=embeds.device)
        weights = torch.full_like(alphas, 1 / steps)
        weights[0] = weights[-1] = 0.5 / steps  # trapezoidal rule
        total = torch.zeros_like(embeds)
        values = torch.empty_like(alphas)
        for lo in range(0, len(alphas), batch_size):
            a = alphas[lo : lo + batch_size, None, None]  # (K, 1, 1)
            path = (start + a * (embeds - start)).detach().requires_grad_(True)  # (K, T, D)
            out = f(path)
            (grad,) = torch.autograd.grad(out.sum(), path)
            total += (grad * weights[lo : lo + batch_size, None, None]).sum(dim=0)
            values[lo : lo + batch_size] = out.detach()
        scores = ((embeds - start) * total).sum(dim=-1)  # (T,)
        return _result(
            p, scores, "integrated_gradients", float(values[-1]),
            baseline=used, baseline_score=float(values[0]), steps=steps,
        )  # fmt: skip

    return _in_eval_mode(run, model)


def _result(p: dict[str, Any], scores: torch.Tensor, method: str, value: float, **extra: Any):
    return Saliency(
        tokens=p["tokens"],
        scores=tuple(float(s) for s in scores.detach().cpu().tolist()),
        target_label=p["labels"][p["index"]],
        probabilities=p["probabilities"],
        special=p["special"],
        token_ids=tuple(p["input_ids"][0].tolist()),
        method=method,
        target_score=value,
        truncated=p["truncated"],
        **extra,
    )
