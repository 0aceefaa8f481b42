"""Text in, text out: :func:`generate_text` and :func:`stream_text` over the token loops.

Introduced in chapter 10.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

from lmkit.decoding.generation import (
    GenerationConfig,
    TokenStep,
    generate,
    resolve_config,
    stream,
)
from lmkit.decoding.prompts import Tokenizer, continuation, prompt_ids


def generate_text(
    model: Any,
    tokenizer: Tokenizer,
    prompt: str,
    config: GenerationConfig | None = None,
    *,
    start_id: int | None = None,
    **overrides: Any,
) -> str:
    """Continue ``prompt`` and return only the new text (decoded up to, not including, eos).

    ``tokenizer`` is anything with ``encode(str) -> list[int]`` and ``decode(list[int]) -> str``.
    ``start_id`` is fed before the prompt (:func:`lmkit.decoding.prompts.prompt_ids`), e.g. the
    end-of-text id for a model that saw it before every training text. Introduced in chapter 10.
    """
    ids = prompt_ids(tokenizer, prompt, start_id=start_id)
    config = resolve_config(config, overrides)
    out = generate(model, ids, config)
    start = len(ids) if ids else 1  # an empty prompt starts from bos_id
    return tokenizer.decode(continuation(out[0, start:].tolist(), config.eos_id))


def stream_text(
    model: Any,
    tokenizer: Tokenizer,
    prompt: str,
    config: GenerationConfig | None = None,
    *,
    start_id: int | None = None,
    **overrides: Any,
) -> Iterator[tuple[TokenStep, str]]:
    """Yield ``(TokenStep, text_delta)`` per new token; the deltas add up to the continuation.

    Each delta comes from decoding *all* generated ids and taking what is new, because one
    character can span several byte-level tokens: while the decoded text ends in the
    replacement character U+FFFD (an incomplete character) that part is held back, and the
    delta is ``""``. The final step flushes everything, so ``"".join(deltas)`` equals
    ``tokenizer.decode(new ids)`` exactly, for tokenizers whose decoding of a longer sequence
    extends that of a shorter one (true for byte-level BPE). ``start_id`` as in
    :func:`generate_text`. Introduced in chapter 10.
    """
    ids = prompt_ids(tokenizer, prompt, start_id=start_id)
    config = resolve_config(config, overrides)
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


__all__ = ["generate_text", "stream_text"]
