"""Every attention map of any built-in model for one text, and where generated tokens looked.

Introduced in chapter 6 (reading attention maps) and used by the app's Attention page. One
function, :func:`attention_maps`, serves three kinds of model:

- our **GPT** (``"tiny-gpt"``, kind ``causal-lm``): causal, so every map is lower-triangular;
- our **BERT**-style encoders (``"tiny-bert"``, kind ``masked-lm``, and classifiers): they
  attend in both directions, so the maps are full;
- the pretrained **MiniLM** encoder (``"all-minilm-l6-v2"``, kind ``encoder``), a built-in like
  the others (:mod:`lmkit.minilm.encoder`).

All come back as one :class:`AttentionMaps`: the tokens and a ``(layers, heads, T, T)`` tensor.
A text longer than the model's context (or the caller's ``max_tokens``) is cut, and ``notes``
says so, as it says when MiniLM had to turn characters it does not know into ``[UNK]``.

:func:`generation_attention` answers a different question for a GPT: while it wrote each new
token, where did it look? Because attention is causal, one forward pass over prompt + output
gives exactly the weights each generation step used: the query at position ``p - 1`` is the one
that chose the token at position ``p``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lmkit.errors import ConfigError, InputError
from lmkit.tasks.text_classify import model_max_length
from lmkit.validators import check_int

__all__ = [
    "AttentionMaps",
    "GenerationAttention",
    "attention_maps",
    "generation_attention",
    "max_tokens_of",
]

def _check_index(name: str, value: object, size: int) -> int:
    return check_int(name, value, 0, size - 1, error=InputError)


@dataclass(frozen=True)
class AttentionMaps:
    """What one model attended to in one text.

    ``tokens[i]`` is the display piece of position ``i`` (``[CLS]``/``[SEP]`` included where the
    model adds them); ``attentions`` is float32 on the CPU, ``(n_layers, n_heads, T, T)``, row
    ``i`` of a map being how query ``i`` spread its attention over the keys (each row sums to 1).
    ``causal`` is True for GPT-style models. ``truncated`` says the text was cut to
    ``max_tokens``; ``notes`` are sentences for a reader (truncation, unknown characters).
    """

    model_name: str
    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    attentions: torch.Tensor
    causal: bool
    truncated: bool
    max_tokens: int
    notes: tuple[str, ...] = ()

    @property
    def n_layers(self) -> int:
        return self.attentions.shape[0]

    @property
    def n_heads(self) -> int:
        return self.attentions.shape[1]

    def layer(self, layer: int) -> torch.Tensor:
        """All heads of one layer, ``(n_heads, T, T)``: what :func:`lmkit.viz.attention_grid` takes."""
        return self.attentions[_check_index("layer", layer, self.n_layers)]

    def head(self, layer: int, head: int) -> torch.Tensor:
        """One map, ``(T, T)``: what :func:`lmkit.viz.attention_heatmap` takes."""
        return self.layer(layer)[_check_index("head", head, self.n_heads)]


def max_tokens_of(loaded: Any) -> int:
    """The longest input (in tokens) a loaded lmkit model accepts."""
    limit = model_max_length(getattr(loaded, "model", None))
    if limit is None:
        raise ConfigError(
            f"Cannot tell how many tokens {getattr(loaded, 'name', loaded)!r} accepts: its config "
            "has no block_size or max_position."
        )
    return limit


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}.")
    if not text.strip():
        raise InputError("The text is empty: type a sentence to see its attention maps.")
    return text


def _limit(max_tokens: int | None, model_max: int) -> int:
    if max_tokens is None:
        return model_max
    return min(check_int("max_tokens", max_tokens, 3), model_max)


def _truncation_note(full: int, kept: int, model_max: int, limit: int) -> str:
    why = (
        f"the model reads at most {model_max} tokens"
        if limit == model_max
        else f"at most {limit} tokens are shown"
    )
    return f"The text has {full} tokens; only the first {kept} are used ({why})."


def _unk_note(tokens: tuple[str, ...], model_name: str) -> tuple[str, ...]:
    unknown = sum(token == "[UNK]" for token in tokens)
    if not unknown:
        return ()
    return (
        f"{model_name} is an English model: {unknown} of {len(tokens)} tokens are [UNK] "
        "(characters missing from its vocabulary, e.g. most Chinese characters), so their "
        "maps say little. Our own models (tiny-gpt, tiny-bert) read Chinese.",
    )


def _cut(ids: list[int], limit: int, specials: set[int]) -> list[int]:
    """The first ``limit`` ids, keeping a closing special token ([SEP]) where there is one."""
    if len(ids) <= limit:
        return ids
    if ids[-1] in specials:
        return ids[: limit - 1] + ids[-1:]
    return ids[:limit]


def _display_tokens(tokenizer: Any, ids: list[int]) -> tuple[str, ...]:
    return tuple(tokenizer.id_to_token(i) for i in ids)


@torch.inference_mode()
def _run(model: Any, ids: list[int]) -> torch.Tensor:
    """``(L, H, T, T)`` attention weights of a model called with ``return_attention=True``."""
    device = next(model.parameters()).device
    batch = torch.tensor([ids], dtype=torch.long, device=device)
    output = model(batch, return_attention=True)
    weights = getattr(output, "attentions", None)
    if not weights or any(w is None for w in weights):
        raise ConfigError(
            f"{type(model).__name__} returned no attention weights; it must support "
            "model(ids, return_attention=True)."
        )
    return torch.stack([w[0] for w in weights]).float().cpu()


def attention_maps(model: Any, text: str, *, max_tokens: int | None = None) -> AttentionMaps:
    """Tokens and every layer's per-head attention maps of ``model`` on ``text``.

    ``model`` is a :class:`lmkit.hub.LoadedModel` (``lmkit.load("tiny-gpt")``, a masked-lm, a
    classifier or an encoder such as ``"all-minilm-l6-v2"``). ``max_tokens`` (>= 3) caps the number of tokens
    below the model's own limit (:func:`max_tokens_of`); longer texts are cut, with a note.
    Introduced in chapter 6.
    """
    text = _check_text(text)
    model_max = max_tokens_of(model)
    limit = _limit(max_tokens, model_max)
    tokenizer, kind = model.tokenizer, model.kind
    ids = list(tokenizer.encode(text))
    if not ids:
        raise InputError("The text gave no tokens; type a sentence to see its attention maps.")
    kept = _cut(ids, limit, set(tokenizer.special_tokens.values()))
    notes = (
        (_truncation_note(len(ids), len(kept), model_max, limit),) if len(kept) < len(ids) else ()
    )
    tokens = _display_tokens(tokenizer, kept)
    return AttentionMaps(
        model.name,
        tokens,
        tuple(kept),
        _run(model.model, kept),
        causal=kind == "causal-lm",
        truncated=len(kept) < len(ids),
        max_tokens=limit,
        notes=notes + _unk_note(tokens, model.name),
    )


@dataclass(frozen=True)
class GenerationAttention:
    """Where a GPT looked while it wrote each new token.

    ``tokens`` are the prompt's tokens followed by the generated ones (``prompt_length`` of the
    former). ``attentions`` is ``(n_layers, n_heads, G, T)`` for G generated tokens and
    T = ``len(tokens)``: row ``g`` holds the weights of the query that *chose* generated token
    ``g`` (the position just before it) over every position; positions after that query get 0
    (a causal model cannot see them). ``text`` is the generated text; ``notes`` as in
    :class:`AttentionMaps`.
    """

    tokens: tuple[str, ...]
    prompt_length: int
    attentions: torch.Tensor
    text: str
    truncated: bool
    notes: tuple[str, ...] = ()

    @property
    def generated_tokens(self) -> tuple[str, ...]:
        return self.tokens[self.prompt_length :]

    def head(self, layer: int, head: int) -> torch.Tensor:
        """``(G, T)`` weights of one head."""
        _check_index("layer", layer, self.attentions.shape[0])
        return self.attentions[layer, _check_index("head", head, self.attentions.shape[1])]

    def mean_over_heads(self, layer: int) -> torch.Tensor:
        """``(G, T)`` weights of one layer, averaged over its heads."""
        return self.attentions[_check_index("layer", layer, self.attentions.shape[0])].mean(0)


def generation_attention(
    loaded: Any,
    prompt: str,
    *,
    max_new_tokens: int = 12,
    strategy: str = "greedy",
    seed: int = 0,
) -> GenerationAttention:
    """Generate up to ``max_new_tokens`` with a causal model and record where each one looked.

    ``loaded`` is a :class:`lmkit.hub.LoadedModel` of kind ``causal-lm``. Generation stops at
    the tokenizer's end-of-text token. The prompt is cut from the left so that prompt + output
    fit the model's context. Introduced in chapter 10.
    """
    from lmkit.decoding.generation import generate

    if getattr(loaded, "kind", None) != "causal-lm":
        raise InputError(
            f"{getattr(loaded, 'name', loaded)!r} is not a causal language model; only those "
            "generate text. Pick tiny-gpt."
        )
    prompt = _check_text(prompt)
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, 1)
    block = max_tokens_of(loaded)
    if max_new_tokens >= block:
        raise ConfigError(f"max_new_tokens must be below the context length {block}.")
    tokenizer = loaded.tokenizer
    ids = loaded.prompt_ids(prompt)  # the same conditioning as the Generate page
    room = block - max_new_tokens
    notes: tuple[str, ...] = ()
    kept = ids
    if len(ids) > room:
        kept = loaded.prompt_ids(prompt, room=room)
        notes = (
            f"The prompt has {len(ids)} tokens; only its last {room} are used so that "
            f"{max_new_tokens} new tokens fit the model's {block}-token context.",
        )
    sequence = generate(
        loaded.model,
        kept,
        max_new_tokens=max_new_tokens,
        strategy=strategy,
        seed=seed if strategy == "sample" else None,
        eos_id=tokenizer.eos_id,
    )[0].tolist()
    new = sequence[len(kept) :]
    if tokenizer.eos_id is not None and tokenizer.eos_id in new:
        new = new[: new.index(tokenizer.eos_id) + 1]  # keep the end token: it was chosen too
    full = kept + new
    weights = _run(loaded.model, full)  # (L, H, T, T)
    # Generated token at position p was chosen by query p - 1.
    chooser_rows = torch.arange(len(kept) - 1, len(full) - 1)
    visible_text = tokenizer.decode([i for i in new if i != tokenizer.eos_id])
    return GenerationAttention(
        tokens=_display_tokens(tokenizer, full),
        prompt_length=len(kept),
        attentions=weights[:, :, chooser_rows, :].contiguous(),
        text=visible_text,
        truncated=len(kept) < len(ids),
        notes=notes,
    )
