"""Masked language modelling: BERT's masking rule and a fill-in-the-blank helper.

Introduced in chapter 9. BERT learns by repairing damaged text. :func:`mask_tokens` picks
each ordinary token with probability 15% (special and padding tokens never); of the picked
ones 80% become ``[MASK]``, 10% a random ordinary token and 10% stay as they are, so the model
cannot tell which tokens to trust and must form a view of every position. The labels hold the
original id at picked positions and -100 (ignored by the loss) everywhere else.

:func:`fill_mask` asks a trained model what belongs in each ``[MASK]`` of a text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lmkit.bert.model import IGNORE_INDEX
from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int, check_number


@dataclass(frozen=True)
class MaskingResult:
    """``input_ids`` with the damage done, and ``labels`` (original id where picked, else -100)."""

    input_ids: torch.Tensor
    labels: torch.Tensor


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    special_ids: Iterable[int],
    generator: torch.Generator | None = None,
    mask_prob: float = 0.15,
    replace_prob: float = 0.8,
    random_prob: float = 0.1,
) -> MaskingResult:
    """BERT's masking of a batch ``input_ids`` (B, T); returns new tensors, the input is kept.

    ``special_ids`` (e.g. [PAD], [CLS], [SEP], [MASK]) are never picked and never used as a
    random replacement. ``generator`` makes the choice reproducible. Introduced in chapter 9.
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        raise InputError(
            f"input_ids must be a (B, T) tensor, got {getattr(input_ids, 'shape', input_ids)}."
        )
    if input_ids.is_floating_point() or input_ids.dtype == torch.bool:
        raise InputError(f"input_ids must hold integer ids, got {input_ids.dtype}.")
    for name, p in (
        ("mask_prob", mask_prob),
        ("replace_prob", replace_prob),
        ("random_prob", random_prob),
    ):
        check_number(name, p, minimum=0, maximum=1, hint=" It is a probability.")
    if replace_prob + random_prob > 1.0:
        raise ConfigError(
            f"replace_prob + random_prob must be <= 1 (the rest stays unchanged), got "
            f"{replace_prob} + {random_prob}."
        )
    special = torch.tensor(sorted(set(int(i) for i in special_ids)), dtype=torch.long)
    if not 0 <= mask_id < vocab_size or int(mask_id) not in special.tolist():
        raise ConfigError(
            f"mask_id {mask_id} must be one of special_ids and inside the vocabulary."
        )
    ordinary = torch.ones(vocab_size, dtype=torch.bool)
    ordinary[special] = False
    ordinary_ids = ordinary.nonzero().squeeze(1)
    if not len(ordinary_ids):
        raise ConfigError("Every id is special: nothing to mask or to draw as a random token.")
    ids = input_ids.detach().cpu().long()
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise InputError(f"input_ids must be in [0, {vocab_size}).")

    candidates = ordinary[ids]  # (B, T): True where a token may be picked
    draw = torch.rand(ids.shape, generator=generator)
    picked = candidates & (draw < mask_prob)
    labels = torch.where(picked, ids, torch.full_like(ids, IGNORE_INDEX))
    # One more uniform number per position decides what happens to a picked token.
    fate = torch.rand(ids.shape, generator=generator)
    to_mask = picked & (fate < replace_prob)
    to_random = picked & (fate >= replace_prob) & (fate < replace_prob + random_prob)
    random_ids = ordinary_ids[torch.randint(len(ordinary_ids), ids.shape, generator=generator)]
    out = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    out = torch.where(to_random, random_ids, out)
    return MaskingResult(out.to(input_ids.device), labels.to(input_ids.device))


@dataclass(frozen=True)
class MaskCandidate:
    """One guess for a blank: the token's text, its id and the model's probability for it."""

    token: str
    token_id: int
    probability: float


def fill_mask(
    loaded_or_model: Any, tokenizer: Any = None, text: str | None = None, *, top_k: int = 5
) -> list[list[MaskCandidate]]:
    """The ``top_k`` most likely tokens for every mask token in ``text``, blank by blank.

    Call it as ``fill_mask(lmkit.load("tiny-bert"), "Tom has a [MASK].")`` or with a model and
    its tokenizer, ``fill_mask(model, tokenizer, text)``. The mask token is the tokenizer's
    (``tokenizer.mask_token``, ``"[MASK]"``); a space just before it is taken to belong to the
    hidden word, as byte-level BPE glues spaces to the following word (" dog"). Special tokens
    are never proposed. Introduced in chapter 9.
    """
    model = getattr(loaded_or_model, "model", loaded_or_model)
    if text is None and isinstance(tokenizer, str):  # fill_mask(loaded, "text")
        text, tokenizer = tokenizer, None
    if tokenizer is None:
        tokenizer = getattr(loaded_or_model, "tokenizer", None)
    if not isinstance(model, nn.Module) or getattr(model, "kind", None) != "masked-lm":
        raise InputError(
            f"fill_mask needs a masked language model (kind 'masked-lm'), e.g. "
            f"lmkit.load('tiny-bert'); got {type(model).__name__}."
        )
    mask_token = getattr(tokenizer, "mask_token", None)
    if mask_token is None:
        raise InputError("fill_mask needs the model's tokenizer, which must have a mask token.")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"text must be a non-empty string with {mask_token}, got {text!r}.")
    if mask_token not in text:
        raise InputError(
            f"The text has no {mask_token} token, so there is nothing to fill in. Write "
            f"{mask_token} where a word is missing, e.g. 'Tom went to the {mask_token}.'"
        )
    top_k = check_int("top_k", top_k, minimum=1)
    text = text.replace(" " + mask_token, mask_token)
    ids = tokenizer.encode(text, allowed_special={mask_token})
    max_len = model.config.max_position
    if len(ids) > max_len:
        raise InputError(
            f"The text is {len(ids)} tokens long; this model reads at most {max_len}. Shorten it."
        )
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(torch.tensor([ids], device=device)).logits[0]  # (T, vocab)
    finally:
        model.train(was_training)
    logits = logits.float()
    logits[:, sorted(tokenizer.special_tokens.values())] = float("-inf")
    probs = torch.softmax(logits, dim=-1)
    mask_id = tokenizer.special_tokens[mask_token]
    out = []
    for position in [i for i, t in enumerate(ids) if t == mask_id]:
        top = torch.topk(probs[position], min(top_k, probs.shape[-1]))
        out.append(
            [
                MaskCandidate(tokenizer.decode([i]), i, float(p))
                for p, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
            ]
        )
    return out


__all__ = ["MaskCandidate", "MaskingResult", "fill_mask", "mask_tokens"]
