"""Tests for lmkit.decoding.generation: cache vs no cache, independent argmax loops, HF parity, streaming, text."""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import pytest
import torch
from model_factories import random_gpt as make_model

from lmkit.decoding.generation import GenerationConfig, TokenStep, generate, stream
from lmkit.decoding.sampling import sample_next_token
from lmkit.decoding.text import generate_text, stream_text
from lmkit.errors import ConfigError, InputError
from lmkit.gpt.model import GPT


@torch.no_grad()
def argmax_loop(model: GPT, prompt: torch.Tensor, steps: int) -> torch.Tensor:
    """Greedy decoding written plainly: full forward over the whole sequence every step."""
    seq = prompt
    for _ in range(steps):
        nxt = model(seq).logits[:, -1].argmax(dim=-1, keepdim=True)
        seq = torch.cat([seq, nxt], dim=1)
    return seq


@torch.no_grad()
def sliding_argmax_loop(model: GPT, prompt: torch.Tensor, steps: int) -> torch.Tensor:
    """Greedy decoding with the documented window rule, computed from scratch each step."""
    block, keep = model.config.block_size, model.config.block_size // 2
    seq = prompt
    start = max(0, seq.shape[1] - block)
    for _ in range(steps):
        if seq.shape[1] - start > block:
            start = seq.shape[1] - keep
        nxt = model(seq[:, start:]).logits[:, -1].argmax(dim=-1, keepdim=True)
        seq = torch.cat([seq, nxt], dim=1)
    return seq


PROMPTS = torch.tensor([[5, 9, 2, 33, 1], [60, 7, 7, 12, 40]])


class ByteTokenizer:
    """ids 0..255 are bytes; decoding replaces broken UTF-8 with U+FFFD, like byte-level BPE."""

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")


class ScriptedModel:
    """A duck-typed 'model' that always predicts the next byte of a fixed script."""

    def __init__(self, script: bytes, prompt_len: int) -> None:
        self.script, self.prompt_len = script, prompt_len
        self.config = SimpleNamespace(block_size=512, vocab_size=256)

    def __call__(self, idx: torch.Tensor) -> SimpleNamespace:
        logits = torch.full((idx.shape[0], idx.shape[1], 256), -10.0)
        position = (idx.shape[1] - self.prompt_len) % len(self.script)
        logits[:, -1, self.script[position]] = 10.0
        return SimpleNamespace(logits=logits)


# ----------------------------------------------------------------------------- greedy
def test_greedy_equals_independent_argmax_loop() -> None:
    model = make_model()
    out = generate(model, PROMPTS, max_new_tokens=20)
    assert torch.equal(out, argmax_loop(model, PROMPTS, 20))
    assert len(set(out[0, 5:].tolist())) > 3  # the test model is not degenerate


@pytest.mark.parametrize("pos_encoding", ["learned", "sinusoidal", "rotary"])
@pytest.mark.parametrize("new_tokens", [10, 70])  # 70 > block_size=32: the window slides
def test_greedy_with_cache_equals_without(pos_encoding: str, new_tokens: int) -> None:
    model = make_model(1, pos_encoding=pos_encoding)
    cached = generate(model, PROMPTS, max_new_tokens=new_tokens, use_cache=True)
    uncached = generate(model, PROMPTS, max_new_tokens=new_tokens, use_cache=False)
    assert cached.shape == (2, 5 + new_tokens)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached, sliding_argmax_loop(model, PROMPTS, new_tokens))


def test_generation_runs_far_past_block_size() -> None:
    model = make_model(2, block_size=8)
    out = generate(model, [1, 2, 3], max_new_tokens=40)
    assert out.shape == (1, 43)
    assert torch.equal(out, sliding_argmax_loop(model, torch.tensor([[1, 2, 3]]), 40))


@pytest.mark.parametrize("repetition_penalty", [1.0, 1.5])
def test_greedy_matches_hugging_face_generate(repetition_penalty: float) -> None:
    model = make_model(3)
    pytest.importorskip("transformers")
    from lmkit.gpt.interop import to_hf

    hf = to_hf(model).eval()
    ours = generate(model, PROMPTS, max_new_tokens=15, repetition_penalty=repetition_penalty)
    ref = hf.generate(
        PROMPTS,
        attention_mask=torch.ones_like(PROMPTS),
        max_new_tokens=15,
        do_sample=False,
        repetition_penalty=repetition_penalty,
        pad_token_id=0,
    )
    assert torch.equal(ours, ref)
    if repetition_penalty == 1.0:
        assert not torch.equal(
            ours, generate(model, PROMPTS, max_new_tokens=15, repetition_penalty=1.5)
        )


def test_input_forms_give_the_same_result() -> None:
    model = make_model()
    ids = [5, 9, 2, 33]
    expected = generate(model, torch.tensor([ids]), max_new_tokens=6)
    assert torch.equal(generate(model, ids, max_new_tokens=6), expected)
    assert torch.equal(generate(model, torch.tensor(ids), max_new_tokens=6), expected)
    assert torch.equal(
        generate(model, torch.tensor(ids, dtype=torch.int32), max_new_tokens=6), expected
    )
    config = GenerationConfig(max_new_tokens=6)
    assert torch.equal(generate(model, ids, config), expected)


def test_result_is_a_normal_tensor_and_training_mode_is_restored() -> None:
    model = make_model(dropout=0.5).train()
    out = generate(model, [1, 2, 3], max_new_tokens=5)
    assert model.training
    assert not out.is_inference() and out.dtype == torch.long
    # dropout was off while generating: same as the eval-mode model
    assert torch.equal(out, argmax_loop(model.eval(), torch.tensor([[1, 2, 3]]), 5))
    model.train()
    steps = list(stream(model, [1, 2, 3], max_new_tokens=5))
    assert model.training and [s.token_id for s in steps] == out[0, 3:].tolist()
    # generated ids can be fed back for training (no inference-tensor error)
    model(out, targets=out).loss.backward()


def test_eos_stops_rows_and_pads_them() -> None:
    model = make_model(5)
    free = generate(model, PROMPTS, max_new_tokens=12)
    eos = int(free[0, 5 + 3])  # row 0 makes this token at its 4th step
    out = generate(model, PROMPTS, max_new_tokens=12, eos_id=eos)
    for row, free_row in zip(out.tolist(), free.tolist(), strict=True):
        new, free_new = row[5:], free_row[5:]
        if eos in free_new:
            cut = free_new.index(eos) + 1
            assert new[:cut] == free_new[:cut] and all(t == eos for t in new[cut:])
        else:
            assert new == free_new[: len(new)]
    assert out[0, 5:].tolist()[3] == eos


def test_generation_ends_early_when_every_row_has_eos() -> None:
    model = make_model(5)
    free = generate(model, [5, 9, 2], max_new_tokens=10)
    eos = int(free[0, 3 + 2])
    out = generate(model, [5, 9, 2], max_new_tokens=10, eos_id=eos)
    first = free[0, 3:].tolist().index(eos)
    assert out.shape[1] == 3 + first + 1 and int(out[0, -1]) == eos


# ----------------------------------------------------------------------------- sampling
def test_seeded_sampling_is_reproducible() -> None:
    model = make_model()
    kwargs = {"strategy": "sample", "max_new_tokens": 30, "temperature": 1.5}
    a = generate(model, PROMPTS, seed=7, **kwargs)
    b = generate(model, PROMPTS, seed=7, **kwargs)
    c = generate(model, PROMPTS, seed=8, **kwargs)
    d = generate(model, PROMPTS, seed=7, use_cache=False, **kwargs)
    assert torch.equal(a, b) and torch.equal(a, d)
    assert not torch.equal(a, c)


def test_sampling_equals_a_manual_sampling_loop() -> None:
    model = make_model(6)
    out = generate(
        model,
        PROMPTS,
        strategy="sample",
        seed=3,
        temperature=0.9,
        top_k=10,
        top_p=0.9,
        max_new_tokens=12,
    )
    generator = torch.Generator().manual_seed(3)
    seq = PROMPTS
    with torch.no_grad():
        for _ in range(12):
            logits = model(seq).logits[:, -1]
            nxt = sample_next_token(
                logits, temperature=0.9, top_k=10, top_p=0.9, generator=generator
            )
            seq = torch.cat([seq, nxt[:, None]], dim=1)
    assert torch.equal(out, seq)


@pytest.mark.parametrize("settings", [{"top_k": 1}, {"temperature": 0}])
def test_degenerate_sampling_equals_greedy(settings: dict) -> None:
    model = make_model(7)
    greedy = generate(model, PROMPTS, max_new_tokens=15)
    sampled = generate(model, PROMPTS, strategy="sample", seed=0, max_new_tokens=15, **settings)
    assert torch.equal(greedy, sampled)


# ----------------------------------------------------------------------------- streaming
@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"strategy": "sample", "seed": 1, "temperature": 0.7, "top_k": 8},
        {"strategy": "sample", "seed": 2, "top_p": 0.8, "repetition_penalty": 1.3},
    ],
)
def test_stream_tokens_equal_generate(settings: dict) -> None:
    model = make_model(8)
    out = generate(model, [3, 1, 4, 1, 5], max_new_tokens=25, **settings)
    steps = list(stream(model, [3, 1, 4, 1, 5], max_new_tokens=25, **settings))
    assert [s.index for s in steps] == list(range(25))
    assert [s.token_id for s in steps] == out[0, 5:].tolist()


def test_stream_reports_raw_and_processed_distributions() -> None:
    model = make_model(9)
    prompt = [3, 1, 4]
    steps = list(
        stream(
            model,
            prompt,
            strategy="sample",
            seed=0,
            temperature=0.5,
            top_k=3,
            max_new_tokens=4,
            top_alternatives=6,
        )
    )
    with torch.no_grad():
        raw = torch.softmax(model(torch.tensor([prompt])).logits[0, -1], dim=-1)
    first = steps[0]
    assert isinstance(first, TokenStep)
    ref_probs, ref_ids = torch.topk(raw, 6)
    assert first.top_ids == ref_ids.tolist()
    assert first.top_probs == pytest.approx(ref_probs.tolist(), abs=1e-6)
    assert first.raw_prob == pytest.approx(float(raw[first.token_id]), abs=1e-6)
    # processed: temperature 0.5 then the top 3, renormalised
    sharp = torch.softmax(torch.log(ref_probs[:3]) / 0.5, dim=-1)
    assert first.processed_top_ids == ref_ids[:3].tolist()
    assert first.processed_top_probs == pytest.approx(sharp.tolist(), abs=1e-5)
    for step in steps:
        assert step.token_id in step.processed_top_ids
        assert step.logprob == pytest.approx(math.log(step.prob), abs=1e-6)
        assert sum(step.processed_top_probs) == pytest.approx(1.0, abs=1e-5)
    assert [s.elapsed for s in steps] == sorted(s.elapsed for s in steps)


def test_stream_greedy_prob_is_one_and_stops_at_eos() -> None:
    model = make_model(10)
    free = [s.token_id for s in stream(model, [1, 2], max_new_tokens=10)]
    eos = free[2]
    steps = list(stream(model, [1, 2], max_new_tokens=10, eos_id=eos))
    assert [s.token_id for s in steps] == free[: free.index(eos) + 1]
    assert all(s.prob == 1.0 and s.processed_top_ids == [s.token_id] for s in steps)


# ----------------------------------------------------------------------------- text
def test_generate_text_returns_the_decoded_continuation() -> None:
    model = make_model(11, vocab_size=256)
    tok = ByteTokenizer()
    text = generate_text(model, tok, "hi", max_new_tokens=10)
    ids = generate(model, tok.encode("hi"), max_new_tokens=10)[0, 2:].tolist()
    assert text == tok.decode(ids)


@pytest.mark.parametrize("prompt", ["你好", "a"])
def test_stream_text_deltas_add_up_on_a_real_model(prompt: str) -> None:
    model = make_model(12, vocab_size=256)
    tok = ByteTokenizer()
    kwargs = {"strategy": "sample", "seed": 4, "max_new_tokens": 30}
    pieces = [delta for _, delta in stream_text(model, tok, prompt, **kwargs)]
    assert len(pieces) == 30
    assert "".join(pieces) == generate_text(model, tok, prompt, **kwargs)


def test_stream_text_never_splits_multibyte_characters() -> None:
    script = "héllo 世界 🙂!".encode()
    model = ScriptedModel(script, prompt_len=1)
    tok = ByteTokenizer()
    pairs = list(stream_text(model, tok, "x", max_new_tokens=len(script)))
    deltas = [d for _, d in pairs]
    assert "".join(deltas) == "héllo 世界 🙂!"
    assert not any("\ufffd" in d for d in deltas)
    assert "世" in deltas and "🙂" in deltas  # each emitted whole, once its last byte arrived
    assert deltas.count("") == len(script) - len("héllo 世界 🙂!")


def test_stream_text_flushes_a_broken_character_at_the_end() -> None:
    script = "ok世".encode()[:4]  # stops after the first byte of 世
    tok = ByteTokenizer()
    deltas = [d for _, d in stream_text(ScriptedModel(script, 1), tok, "x", max_new_tokens=4)]
    assert "".join(deltas) == tok.decode(list(script)) == "ok\ufffd"


def test_stream_text_stops_at_eos_without_decoding_it() -> None:
    script = b"ab\x00cd"
    tok = ByteTokenizer()
    pairs = list(stream_text(ScriptedModel(script, 1), tok, "x", max_new_tokens=5, eos_id=0))
    assert [s.token_id for s, _ in pairs] == [97, 98, 0]
    assert "".join(d for _, d in pairs) == "ab"
    assert generate_text(ScriptedModel(script, 1), tok, "x", max_new_tokens=5, eos_id=0) == "ab"


def test_stream_text_warns_for_tokenizers_that_rewrite_earlier_text() -> None:
    class Reversing(ByteTokenizer):
        def decode(self, ids: list[int]) -> str:
            return super().decode(ids)[::-1]

    with pytest.warns(UserWarning, match="prefix-stable"):
        list(stream_text(ScriptedModel(b"abc", 1), Reversing(), "x", max_new_tokens=3))


# ----------------------------------------------------------------------------- prompts
def test_long_prompt_is_cropped_with_a_warning() -> None:
    model = make_model(13)
    prompt = torch.randint(0, 64, (1, 45), generator=torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match="only the last 32"):
        out = generate(model, prompt, max_new_tokens=5)
    assert torch.equal(out[:, :45], prompt)
    assert torch.equal(out, sliding_argmax_loop(model, prompt, 5))
    with pytest.warns(UserWarning, match="block_size=32"):
        stream(model, prompt, max_new_tokens=2)


def test_empty_prompt_needs_bos() -> None:
    model = make_model()
    with pytest.raises(InputError, match="empty"):
        generate(model, [], max_new_tokens=3)
    with pytest.raises(InputError, match="empty"):
        generate_text(model, ByteTokenizer(), "", max_new_tokens=3)
    out = generate(model, [], max_new_tokens=3, bos_id=0)
    assert torch.equal(out, generate(model, [0], max_new_tokens=3))
    with warnings.catch_warnings():
        # lmkit's own warnings are UserWarnings; a dependency's deprecation notice is not ours.
        warnings.simplefilter("error", UserWarning)
        steps = list(stream(model, torch.zeros(1, 0, dtype=torch.long), bos_id=0, max_new_tokens=3))
    assert [s.token_id for s in steps] == out[0, 1:].tolist()


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("idx", "match"),
    [
        ([1, -2, 3], r"\[0, 64\)"),
        ([1, 64], r"\[0, 64\)"),
        ([1, 2**70], r"\[0, 64\)"),
        (torch.tensor([[1, 99]]), r"\[0, 64\)"),
        (torch.tensor([[1.0, 2.0]]), "integer"),
        (torch.tensor([[True, False]]), "integer"),
        (torch.zeros(1, 2, 3, dtype=torch.long), "1-D"),
        (torch.zeros(0, 3, dtype=torch.long), "no rows"),
        ("hello", "list of ints"),
        ([1, True], "only int"),
        ([1, 2.0], "only int"),
    ],
)
def test_bad_prompts_raise_input_error(idx: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        generate(make_model(), idx, max_new_tokens=2)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_k": 0}, "top_k"),
        ({"num_beams": 0}, "num_beams"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": 10**9}, r"max_new_tokens must be an integer in 1\.\.100000"),
        ({"max_new_tokens": 5.0}, "max_new_tokens"),
        ({"strategy": "creative"}, "strategy"),
        ({"repetition_penalty": 0}, "repetition_penalty"),
        ({"length_penalty": float("nan")}, "length_penalty"),
        ({"eos_id": -1}, "eos_id"),
        ({"seed": -5}, "seed"),
        ({"use_cache": "yes"}, "use_cache"),
        ({"top_alternatives": 0}, "top_alternatives"),
        ({"strategy": "beam", "repetition_penalty": 1.2}, "beam"),
    ],
)
def test_bad_settings_raise_config_error(settings: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        GenerationConfig(**settings)
    with pytest.raises(ConfigError, match=match):
        generate(make_model(), [1, 2], **settings)


def test_other_bad_calls() -> None:
    model = make_model()
    with pytest.raises(ConfigError, match="Unknown generation setting"):
        generate(model, [1], temprature=0.5)
    with pytest.raises(ConfigError, match="eos_id=64"):
        generate(model, [1], eos_id=64)
    with pytest.raises(ConfigError, match="GenerationConfig"):
        generate(model, [1], config=0.5)
    with pytest.raises(InputError, match="language model"):
        generate(object(), [1])
    with pytest.raises(InputError, match="batch size 1"):
        stream(model, PROMPTS)
    with pytest.raises(ConfigError, match="beam_search"):
        stream(model, [1], strategy="beam")
    with pytest.raises(InputError, match="prompt must be a str"):
        generate_text(model, ByteTokenizer(), [1, 2])
    with pytest.raises(InputError, match="tokenizer must have"):
        generate_text(model, object(), "hi")
    with pytest.raises(InputError, match="tokenizer must have"):
        stream_text(model, object(), "hi")
