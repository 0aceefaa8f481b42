"""GenerationEngine: every request's tokens equal lmkit's own generate(), batched or not.

The reference is :func:`lmkit.decoding.generation.generate` run on one prompt alone, which has
its own tests against transformers (tests/decoding). Requests join at chosen steps through the
``on_token`` callback, which runs in the engine's worker between two steps.
"""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch
from model_factories import fresh_gpt, random_gpt, token_ids

import lmkit
from lmkit.decoding.generation import GenerationConfig, generate
from lmkit.decoding.window import ContextWindow
from lmkit.errors import ConfigError, InputError
from lmkit.serving import (
    EngineClosedError,
    GenerationEngine,
    GenerationFailed,
    RequestCancelled,
    ServerBusyError,
)
from lmkit.serving.batched_step import decode_step
from lmkit.serving.row_cache import RowKVCache

WAIT = 120  # seconds; only a hang ever reaches it


def _alone(model, prompt, config) -> list[int]:
    return generate(model, prompt, config)[0].tolist()


def _settings(i: int, eos_id: int | None) -> GenerationConfig:
    """Varied settings: greedy and seeded sampling, with and without each filter."""
    return GenerationConfig(
        max_new_tokens=5 + 7 * (i % 6),
        strategy="sample" if i % 2 else "greedy",
        temperature=(0.7, 1.0, 1.3)[i % 3],
        top_k=(None, 5, 20)[i % 3],
        top_p=(None, 0.9)[i % 2 if i % 4 else 0],
        repetition_penalty=(1.0, 1.3)[i % 2],
        seed=100 + i,
        eos_id=eos_id,
    )


@pytest.mark.parametrize("rows", [[0, 1, 2, 3], [4, 1, 5, 2]])  # the first rows (a view) or any
@pytest.mark.parametrize("pos_encoding", ["learned", "sinusoidal", "rotary"])
def test_decode_step_matches_the_models_own_cached_forward(pos_encoding, rows):
    model = fresh_gpt(3, pos_encoding=pos_encoding)
    prompts = [token_ids(1, n, seed=n) for n in (1, 4, 9, 23)]  # 23 + 1 = block_size 24
    new = torch.tensor([5, 6, 7, 8])
    with torch.inference_mode():
        expected = []
        for prompt, token in zip(prompts, new, strict=True):
            window = ContextWindow(model, 1, model.device, use_cache=True)
            window.prefill(prompt)
            expected.append(window.advance(torch.cat([prompt, token.view(1, 1)], dim=1))[0])
        shared = RowKVCache.for_model(model, 6, model.device)
        for row, prompt in zip([0, 3, 4, 5], token_ids(4, 17, seed=99), strict=True):
            window = ContextWindow(model, 1, model.device, use_cache=True)
            window.prefill(prompt[None])  # earlier requests' keys left behind in the rows
            shared.load_row(row, window.cache)
        for row, prompt in zip(rows, prompts, strict=True):
            window = ContextWindow(model, 1, model.device, use_cache=True)
            window.prefill(prompt)
            shared.load_row(row, window.cache)
        got = decode_step(model, shared, rows, new)
    torch.testing.assert_close(got, torch.stack(expected), rtol=1e-5, atol=1e-5)
    assert [shared.lengths[row] for row in rows] == [2, 5, 10, 24]


def test_a_full_row_or_a_bad_load_is_refused():
    model = fresh_gpt(3)
    shared = RowKVCache.for_model(model, 2, model.device)
    with torch.inference_mode():
        window = ContextWindow(model, 1, model.device, use_cache=True)
        window.prefill(token_ids(1, 24, seed=1))  # block_size 24: no room for one more
        shared.load_row(1, window.cache)
        with pytest.raises(ConfigError, match="full"):
            decode_step(model, shared, [1], torch.tensor([3]))
        with pytest.raises(InputError, match="row"):
            shared.load_row(2, window.cache)


@pytest.mark.parametrize("pos_encoding", ["learned", "rotary"])
def test_requests_joining_at_different_steps_give_their_tokens_alone(pos_encoding):
    model = random_gpt(1, pos_encoding=pos_encoding)  # block_size 32: long requests slide
    lengths = [1, 3, 8, 30, 2, 17, 40, 5, 12, 31]  # 40 > block_size: the prompt is cropped
    prompts = [token_ids(1, n, vocab=64, seed=i)[0].tolist() for i, n in enumerate(lengths)]
    configs = [_settings(i, eos_id=None) for i in range(len(prompts))]
    for i in range(3, len(prompts), 3):  # end-of-text: the third token the request makes alone
        third = _alone(model, prompts[i], configs[i])[len(prompts[i]) + 2]
        configs[i] = dataclasses.replace(configs[i], eos_id=third)
    handles = {}
    join_at = {2: (1, 2), 5: (3, 4), 9: (5, 6, 7, 8, 9)}  # step of request 0 -> who joins then

    def join_later(step):
        for index in join_at.get(step.index, ()):
            handles[index] = engine.submit(prompts[index], configs[index])

    with GenerationEngine(model, max_batch=4) as engine:
        configs[0] = GenerationConfig(max_new_tokens=40, strategy="greedy")  # runs throughout
        handles["first"] = engine.submit(prompts[0], configs[0], on_token=join_later)
        handles["first"].result(WAIT)
        results = {i: handles[i].result(WAIT) for i in range(1, len(prompts))}
        assert engine.largest_batch == 4 and engine.steps_run < sum(len(r.new_ids) for r in
                                                                     results.values())  # fmt: skip
    assert handles["first"].result().sequence == _alone(model, prompts[0], configs[0])
    for i, result in results.items():
        assert result.sequence == _alone(model, prompts[i], configs[i]), f"request {i}"
        assert result.finish_reason == ("eos" if i % 3 == 0 else "length")
        if i % 3 == 0:
            assert len(result.new_ids) <= 3
        else:
            assert len(result.new_ids) == configs[i].max_new_tokens


def test_the_shipped_tiny_gpt_gives_each_request_its_own_tokens():
    loaded = lmkit.load("tiny-gpt")
    texts = ["Alice went to the park.", "我喜欢吃苹果。", "Tom has a small dog.", "", "Lucy 喜欢"]
    prompts = [loaded.prompt_ids(t) for t in texts] * 2
    eos = loaded.tokenizer.eos_id
    configs = [_settings(i, eos_id=eos if i % 4 == 0 else None) for i in range(len(prompts))]
    configs[3] = GenerationConfig(max_new_tokens=150, seed=3)  # slides past block_size 128
    with GenerationEngine(loaded.model, loaded.tokenizer) as engine:
        handles = [engine.submit(p, c) for p, c in zip(prompts, configs, strict=True)]
        results = [h.result(WAIT) for h in handles]
        assert engine.largest_batch > 1
    for prompt, config, result in zip(prompts, configs, results, strict=True):
        assert result.sequence == _alone(loaded.model, prompt, config)
        assert [s.token_id for s in result.steps] == result.new_ids


def test_text_prompts_and_streamed_text_pieces():
    loaded = lmkit.load("tiny-gpt")
    with GenerationEngine(loaded.model, loaded.tokenizer) as engine:
        handle = engine.submit("我喜欢吃", max_new_tokens=30, eos_id=loaded.tokenizer.eos_id)
        pieces = list(handle.text_pieces(timeout=WAIT))
        result = handle.result()
    expected = generate(loaded.model, loaded.tokenizer.encode("我喜欢吃"), max_new_tokens=30,
                        eos_id=loaded.tokenizer.eos_id)[0].tolist()  # fmt: skip
    assert result.sequence == expected
    kept = [t for t in result.new_ids if t != loaded.tokenizer.eos_id]
    assert "".join(pieces) == loaded.tokenizer.decode(kept).rstrip("\ufffd")
    assert all(pieces)


def test_cancelled_requests_leave_and_the_others_are_unaffected():
    model = random_gpt(2)
    prompt = [1, 2, 3]
    config = GenerationConfig(max_new_tokens=60, strategy="sample", seed=5)
    seen = []

    def cancel_at_three(step):
        seen.append(step.index)
        if step.index == 2:
            doomed.cancel()

    with GenerationEngine(model) as engine:
        doomed = engine.submit(prompt, config, on_token=cancel_at_three)
        survivor = engine.submit([4, 5], config)
        with pytest.raises(RequestCancelled):
            doomed.result(WAIT)
        with pytest.raises(RequestCancelled):
            list(doomed.steps())  # the stream ends with the same error
        assert survivor.result(WAIT).sequence == _alone(model, [4, 5], config)
        assert engine.load == (0, 0)
    assert seen == [0, 1, 2]  # dropped before a fourth token was made


def test_a_model_error_reaches_the_handles_and_the_engine_keeps_serving():
    model = random_gpt(3)
    failing = {"on": False}
    original = model.lm_head.forward

    def sometimes_broken(x):
        if failing["on"]:
            raise RuntimeError("simulated device failure")
        return original(x)

    model.lm_head.forward = sometimes_broken
    with GenerationEngine(model) as engine:
        failing["on"] = True
        handles = [engine.submit([1, 2], max_new_tokens=10), engine.submit([3], max_new_tokens=10)]
        for handle in handles:
            with pytest.raises(GenerationFailed, match="simulated device failure") as info:
                handle.result(WAIT)
            assert isinstance(info.value.__cause__, RuntimeError)
        failing["on"] = False
        ok = engine.submit([1, 2], max_new_tokens=10).result(WAIT)
        assert engine.alive
    assert ok.sequence == _alone(model, [1, 2], GenerationConfig(max_new_tokens=10))


def test_a_full_queue_says_server_busy():
    model = random_gpt(4)
    entered, release = threading.Event(), threading.Event()

    def hold(step):
        entered.set()
        release.wait(WAIT)

    with GenerationEngine(model, max_batch=1, max_waiting=2) as engine:
        blocker = engine.submit([1], max_new_tokens=3, on_token=hold)
        entered.wait(WAIT)  # the blocker runs (and holds the worker); the queue is empty
        waiting = [engine.submit([2], max_new_tokens=3), engine.submit([3], max_new_tokens=3)]
        with pytest.raises(ServerBusyError, match="busy"):
            engine.submit([4], max_new_tokens=3)
        release.set()
        assert len(blocker.result(WAIT).new_ids) == 3
        assert [len(h.result(WAIT).new_ids) for h in waiting] == [3, 3]


def test_close_stops_the_thread_and_fails_what_is_left():
    model = random_gpt(5)
    engine = GenerationEngine(model, max_batch=1)
    closer, closing = threading.Thread(target=engine.close), threading.Event()

    def close_during_the_first_step(step):
        if step.index == 0:
            closer.start()
            closing.set()
            while not engine.closed:  # close() has been called; this step still finishes
                threading.Event().wait(0.001)

    running = engine.submit([1], max_new_tokens=50, on_token=close_during_the_first_step)
    queued = engine.submit([2], max_new_tokens=5)
    closing.wait(WAIT)
    closer.join(WAIT)
    assert not engine.alive
    for handle in (running, queued):
        with pytest.raises(EngineClosedError):
            handle.result(WAIT)
    with pytest.raises(EngineClosedError):
        engine.submit([1], max_new_tokens=2)


def test_bad_requests_fail_in_the_caller_with_clear_errors():
    model = random_gpt(6)
    with GenerationEngine(model) as engine:
        with pytest.raises(ConfigError, match="beam"):
            engine.submit([1, 2], strategy="beam")
        with pytest.raises(InputError, match="tokenizer"):
            engine.submit("text without a tokenizer")
        with pytest.raises(InputError, match="vocabulary"):
            engine.submit([1, 999])
        with pytest.raises(ConfigError, match="temperature"):
            engine.submit([1], temperature=-1.0)
        with pytest.raises(InputError, match="one prompt"):
            engine.submit(torch.ones(2, 3, dtype=torch.long))
        with pytest.raises(GenerationFailed, match="ZeroDivisionError"):
            engine.submit([1], on_token=lambda step: 1 / 0 if step else None).result(WAIT)
    with pytest.raises(InputError, match="language model"):
        GenerationEngine(torch.nn.Linear(2, 2))
    not_a_gpt = torch.nn.Linear(2, 2)
    not_a_gpt.config = model.config
    with pytest.raises(ConfigError, match="lmkit GPT"):
        GenerationEngine(not_a_gpt)


def test_streaming_in_chunks_gives_every_step_once_in_order():
    model = random_gpt(7)
    with GenerationEngine(model) as engine:
        handle = engine.submit([1, 2, 3], max_new_tokens=25, strategy="sample", seed=1)
        chunked = list(handle.steps(timeout=WAIT, every=0.01))
        result = handle.result(WAIT)
    assert chunked == result.steps and [s.index for s in chunked] == list(range(25))
