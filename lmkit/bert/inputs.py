"""Input checks for :mod:`lmkit.bert.model`: ids, embeddings, masks and segments, with clear errors.

Introduced in chapter 9. Kept apart so that the model file reads as the architecture only.
"""

from __future__ import annotations

from typing import Any

import torch

from lmkit.errors import InputError


def check_inputs(
    config: Any,
    device: torch.device,
    input_ids: object,
    attention_mask: object,
    inputs_embeds: object,
    token_type_ids: object,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Check a BERT model's inputs against its ``config`` (a :class:`~lmkit.bert.model.BertConfig`);
    return the padding mask (B, T) bool, True at padding (None when there is none), and the
    segment ids (zeros by default). Every problem is an :class:`InputError` saying what to do."""
    if input_ids is None and inputs_embeds is None:
        raise InputError("Pass input_ids (B, T) or inputs_embeds (B, T, C).")
    if inputs_embeds is not None:
        # lmkit's classifier interface: inputs_embeds replaces the lookup of input_ids, which
        # may still be passed (saliency does) as long as it describes the same tokens.
        if input_ids is not None and (
            not isinstance(input_ids, torch.Tensor)
            or tuple(input_ids.shape) != tuple(getattr(inputs_embeds, "shape", ()))[:2]
        ):
            raise InputError(
                "input_ids and inputs_embeds describe different inputs: input_ids has shape "
                f"{getattr(input_ids, 'shape', input_ids)}, inputs_embeds "
                f"{getattr(inputs_embeds, 'shape', inputs_embeds)}; their first two dimensions "
                "(batch, time) must agree."
            )
        if (
            not isinstance(inputs_embeds, torch.Tensor)
            or inputs_embeds.dim() != 3
            or inputs_embeds.shape[-1] != config.n_embd
            or not inputs_embeds.is_floating_point()
        ):
            raise InputError(
                f"inputs_embeds must be a float tensor (B, T, {config.n_embd}), e.g. from "
                f"model.input_embeddings(ids); got {getattr(inputs_embeds, 'shape', inputs_embeds)}."
            )
    else:
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
            hint = " Add a batch dimension with ids.unsqueeze(0)." if _dims(input_ids) == 1 else ""
            raise InputError(
                f"input_ids must be a 2-D LongTensor (batch, time), got "
                f"{getattr(input_ids, 'shape', type(input_ids).__name__)}.{hint}"
            )
        if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
            raise InputError(f"input_ids must hold integer ids, got dtype {input_ids.dtype}.")
        if input_ids.numel():
            lo, hi = int(input_ids.min()), int(input_ids.max())
            if lo < 0 or hi >= config.vocab_size:
                raise InputError(
                    f"Token ids must be in [0, {config.vocab_size}), got values from {lo} to "
                    f"{hi}. Encode the text with the tokenizer saved with this model."
                )
    given = inputs_embeds if inputs_embeds is not None else input_ids
    b, t = given.shape[:2]  # type: ignore[union-attr]
    if b == 0 or t == 0:
        raise InputError(f"Need at least one token per row, got batch {b} x length {t}.")
    if t > config.max_position:
        raise InputError(
            f"The input has {t} tokens but this model reads at most {config.max_position} "
            f"(max_position). Truncate it, e.g. ids[:, :{config.max_position}]."
        )
    if given.device != device:  # type: ignore[union-attr]
        raise InputError(f"The inputs must be on the model's device ({device}); use .to().")
    padding = None
    if attention_mask is not None:
        if not isinstance(attention_mask, torch.Tensor) or tuple(attention_mask.shape) != (b, t):
            raise InputError(
                f"attention_mask must be a tensor of shape ({b}, {t}) with 1 for real tokens and "
                f"0 for padding, got {getattr(attention_mask, 'shape', attention_mask)}."
            )
        if not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
            raise InputError("attention_mask may only hold 0 (padding) and 1 (real token).")
        real = attention_mask.to(device=device, dtype=torch.bool)
        if not bool(real.any(dim=1).all()):
            raise InputError("Every row of attention_mask needs at least one real token (a 1).")
        padding = None if bool(real.all()) else ~real
    if token_type_ids is None:
        token_type_ids = torch.zeros(b, t, dtype=torch.long, device=device)
    elif (
        not isinstance(token_type_ids, torch.Tensor)
        or tuple(token_type_ids.shape) != (b, t)
        or token_type_ids.is_floating_point()
        or int(token_type_ids.min()) < 0
        or int(token_type_ids.max()) >= config.type_vocab_size
    ):
        raise InputError(
            f"token_type_ids must be integer segment ids in [0, {config.type_vocab_size}) of "
            f"shape ({b}, {t})."
        )
    return padding, token_type_ids


def _dims(value: object) -> int | None:
    return value.dim() if isinstance(value, torch.Tensor) else None


__all__ = ["check_inputs"]
