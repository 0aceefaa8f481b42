"""Last-position-only logits: the decoding shortcut gives the same logits and tokens as the full path.

:class:`lmkit.decoding.window.ContextWindow` asks lmkit's GPT for the last position's logits only
(``last_position_only=True``), as nanoGPT does at inference. These tests prove that the shortcut
changes nothing but the work done: the reference is the full forward pass, sliced afterwards.
"""

from __future__ import annotations

import pytest
import torch
from model_factories import random_gpt, token_ids
from torch import nn

from lmkit.decoding.generation import generate, stream
from lmkit.decoding.window import accepts_last_position_only
from lmkit.errors import ConfigError


class FullLogitsOnly(nn.Module):
    """The same GPT behind a forward without ``last_position_only``: decoding then takes the
    full path (logits for every position, sliced to the last), the reference for these tests."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.inner = model
        self.config = model.config

    def new_kv_cache(self, *args, **kwargs):
        return self.inner.new_kv_cache(*args, **kwargs)

    def forward(self, idx, targets=None, *, kv_cache=None):
        return self.inner(idx, targets, kv_cache=kv_cache)


@pytest.mark.parametrize("pos_encoding", ["learned", "rotary"])
@pytest.mark.parametrize("grad", [False, True])
def test_last_position_logits_equal_the_full_forward_sliced(pos_encoding: str, grad: bool) -> None:
    model = random_gpt(pos_encoding=pos_encoding)
    idx = token_ids(3, 11)
    with torch.set_grad_enabled(grad):
        full = model(idx).logits[:, -1:, :]
        last = model(idx, last_position_only=True).logits
    assert last.shape == (3, 1, model.config.vocab_size)
    torch.testing.assert_close(last, full, rtol=1e-5, atol=1e-5)


def test_last_position_logits_with_a_kv_cache() -> None:
    model = random_gpt()
    idx = token_ids(2, 9)
    with torch.no_grad():
        full_cache, last_cache = model.new_kv_cache(2), model.new_kv_cache(2)
        full = model(idx[:, :6], kv_cache=full_cache).logits[:, -1:]
        last = model(idx[:, :6], kv_cache=last_cache, last_position_only=True).logits
        torch.testing.assert_close(last, full, rtol=1e-5, atol=1e-5)
        full = model(idx[:, 6:], kv_cache=full_cache).logits[:, -1:]
        last = model(idx[:, 6:], kv_cache=last_cache, last_position_only=True).logits
    torch.testing.assert_close(last, full, rtol=1e-5, atol=1e-5)
    assert last_cache.length == full_cache.length == 9


@pytest.mark.parametrize("use_cache", [False, True])
@pytest.mark.parametrize("prompt_len", [5, 23])  # 23 + 30 new tokens slides past block_size 24
def test_generate_gives_the_same_tokens_as_the_full_path(use_cache: bool, prompt_len: int) -> None:
    model = random_gpt()
    prompt = token_ids(2, prompt_len)
    fast = generate(model, prompt, max_new_tokens=30, use_cache=use_cache)
    full = generate(FullLogitsOnly(model), prompt, max_new_tokens=30, use_cache=use_cache)
    assert torch.equal(fast, full)


@pytest.mark.parametrize("use_cache", [False, True])
def test_stream_probabilities_match_the_full_path(use_cache: bool) -> None:
    model = random_gpt()
    prompt = token_ids(1, 6)
    settings = {"max_new_tokens": 12, "strategy": "sample", "seed": 3, "use_cache": use_cache}
    fast = list(stream(model, prompt, **settings))
    full = list(stream(FullLogitsOnly(model), prompt, **settings))
    assert [s.token_id for s in fast] == [s.token_id for s in full]
    for a, b in zip(fast, full, strict=True):
        assert a.raw_prob == pytest.approx(b.raw_prob, rel=1e-4, abs=1e-6)
        assert a.top_probs == pytest.approx(b.top_probs, rel=1e-4, abs=1e-6)


def test_decoding_without_cache_runs_the_output_layer_on_one_position() -> None:
    model = random_gpt()
    rows_seen = []
    hook = model.lm_head.register_forward_hook(lambda m, args, out: rows_seen.append(args[0].shape))
    try:
        generate(model, token_ids(1, 8), max_new_tokens=5, use_cache=False)
    finally:
        hook.remove()
    assert rows_seen == [torch.Size([1, 1, model.config.n_embd])] * 5


def test_only_models_that_name_the_keyword_are_asked_for_it() -> None:
    model = random_gpt()
    assert accepts_last_position_only(model) is True
    assert accepts_last_position_only(FullLogitsOnly(model)) is False
    assert accepts_last_position_only(object()) is False


def test_last_position_only_with_targets_is_a_config_error() -> None:
    model = random_gpt()
    idx = token_ids(1, 6)
    with pytest.raises(ConfigError, match="no loss"):
        model(idx, idx, last_position_only=True)
