"""The KV cache: cached decoding equals the full forward pass for every position encoding; reset,
crop and reorder; clear errors."""

from __future__ import annotations

import pytest
import torch
from model_factories import fresh_gpt, token_ids

from lmkit.errors import ConfigError, InputError
from lmkit.nn.kv_cache import KVCache

ENCODINGS = ["learned", "sinusoidal", "rotary"]


@pytest.mark.parametrize("pos_encoding", ENCODINGS)
def test_kv_cache_step_by_step_equals_full_forward(pos_encoding):
    model = fresh_gpt(pos_encoding=pos_encoding)
    x = token_ids(2, 15)
    full = model(x).logits
    cache = model.new_kv_cache(2)
    with torch.no_grad():
        steps = [model(x[:, t : t + 1], kv_cache=cache).logits for t in range(15)]
    assert cache.length == 15
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)


@pytest.mark.parametrize("pos_encoding", ENCODINGS)
def test_kv_cache_chunked_prefill_equals_full_forward(pos_encoding):
    model = fresh_gpt(pos_encoding=pos_encoding)
    x = token_ids(3, 20)
    full = model(x).logits
    cache = model.new_kv_cache(3, max_len=20)
    with torch.no_grad():
        chunks = [model(x[:, a:b], kv_cache=cache).logits for a, b in ((0, 6), (6, 7), (7, 20))]
        assert torch.allclose(torch.cat(chunks, 1), full, atol=1e-5)
        # The explicit attention path with a cache agrees as well.
        cache.crop(7)
        out = model(x[:, 7:], kv_cache=cache, return_attention=True)
    assert out.attentions[0].shape == (3, 4, 13, 20)
    assert torch.allclose(out.logits, full[:, 7:], atol=1e-5)


def test_kv_cache_writes_in_place():
    model = fresh_gpt()
    cache = model.new_kv_cache(1, max_len=8)
    keys, values = cache.keys, cache.values
    with torch.no_grad():
        model(token_ids(1, 3), kv_cache=cache)
        model(token_ids(1, 1), kv_cache=cache)
    assert cache.keys is keys and cache.values is values
    assert cache.keys.shape == (2, 1, 4, 8, 8)


def test_kv_cache_reset_crop_and_reorder():
    model = fresh_gpt()
    x = token_ids(3, 10)
    full = model(x).logits
    cache = model.new_kv_cache(3)
    with torch.no_grad():
        model(x[:, :6], kv_cache=cache)
        cache.crop(4)  # forget two positions, then feed them again
        again = model(x[:, 4:10], kv_cache=cache).logits
        assert torch.allclose(again, full[:, 4:], atol=1e-5)
        cache.reset()
        assert cache.length == 0
        assert torch.allclose(model(x[:, :3], kv_cache=cache).logits, full[:, :3], atol=1e-5)
        # Beam-search style: keep rows 2, 0, 0 and continue.
        order = torch.tensor([2, 0, 0])
        cache.reorder(order)
        assert cache.batch_size == 3 and cache.length == 3
        cont = model(x[order, 3:5], kv_cache=cache).logits
    assert torch.allclose(cont, model(x[order, :5]).logits[:, 3:], atol=1e-5)
    # Expanding one row into several (different batch size) works too.
    small = model.new_kv_cache(1)
    with torch.no_grad():
        model(x[:1, :4], kv_cache=small)
        small.reorder(torch.zeros(4, dtype=torch.long))
        step = model(x[:1, 4:5].expand(4, 1), kv_cache=small).logits
    assert torch.allclose(step, full[:1, 4:5].expand(4, 1, 37), atol=1e-5)


def test_kv_cache_made_in_inference_mode_works_under_no_grad():
    model = fresh_gpt()
    x = token_ids(1, 6)
    with torch.inference_mode():
        cache = model.new_kv_cache(1)
        model(x[:, :3], kv_cache=cache)
    with torch.no_grad():
        tail = model(x[:, 3:], kv_cache=cache).logits
    assert torch.allclose(tail, model(x).logits[:, 3:], atol=1e-5)


def test_kv_cache_errors():
    model = fresh_gpt()
    cache = model.new_kv_cache(2, max_len=6)
    with torch.no_grad():
        model(token_ids(2, 4), kv_cache=cache)
        with pytest.raises(ConfigError, match=r"KV cache is full.*crop.*reset"):
            model(token_ids(2, 3), kv_cache=cache)
        assert cache.length == 4  # a refused call stores nothing
        with pytest.raises(InputError, match="batch size 3 but the KV cache holds 2"):
            model(token_ids(3, 1), kv_cache=cache)
        other = fresh_gpt(n_layer=3)
        with pytest.raises(ConfigError, match="another model"):
            other(token_ids(2, 1), kv_cache=cache)
        with pytest.raises(InputError, match="must be a KVCache"):
            model(token_ids(2, 1), kv_cache={"k": 1})
    with pytest.raises(InputError, match=r"inference only.*torch\.no_grad"):
        model(token_ids(2, 1), kv_cache=cache)  # autograd on: refused
    with pytest.raises(ConfigError, match="longer than the model's block_size"):
        model.new_kv_cache(1, max_len=25)
    with pytest.raises(ConfigError, match="max_len must be an integer >= 1, got 0"):
        model.new_kv_cache(1, max_len=0)
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1, got 0"):
        model.new_kv_cache(0)
    with pytest.raises(ConfigError, match="floating point"):
        KVCache(1, 1, 1, 4, 4, dtype=torch.int64)
    with pytest.raises(InputError, match="crop length"):
        cache.crop(5)
    with pytest.raises(InputError, match="1-D LongTensor"):
        cache.reorder([0, 1])
    with pytest.raises(InputError, match=r"in \[0, 2\)"):
        cache.reorder(torch.tensor([0, 2]))
    with pytest.raises(InputError, match="integer tensor"):
        cache.reorder(torch.tensor([0.0, 1.0]))
