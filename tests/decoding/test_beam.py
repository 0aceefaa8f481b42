"""lmkit.decoding.beam: exhaustive search on tiny vocabularies, the cache, the tree, bad input
(parity with transformers' beam search is in test_beam_hf.py)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from model_factories import random_gpt as make_model

from lmkit.decoding.beam import BeamNode, beam_search
from lmkit.decoding.generation import generate
from lmkit.errors import ConfigError, InputError
from lmkit.gpt.model import GPT

PROMPT = torch.tensor([[5, 9, 2, 33]])


@torch.no_grad()
def exhaustive(model: GPT, prompt: list[int], steps: int, eos: int | None, length_penalty: float):
    """Score every possible continuation (stopping at eos) by sum logprob / length**penalty."""
    vocab = model.config.vocab_size
    hypotheses = []
    for tokens in itertools.product(range(vocab), repeat=steps):
        tokens = list(tokens)
        if eos is not None and eos in tokens:
            tokens = tokens[: tokens.index(eos) + 1]
        seq = torch.tensor([prompt + tokens])
        logprobs = torch.log_softmax(model(seq).logits[0].double(), dim=-1)
        total = sum(float(logprobs[len(prompt) - 1 + i, t]) for i, t in enumerate(tokens))
        hypotheses.append((total / len(tokens) ** length_penalty, tuple(tokens)))
    return sorted(set(hypotheses), reverse=True)


# ----------------------------------------------------------------------------- exact search
def test_wide_beam_finds_the_exhaustive_best_without_eos() -> None:
    model = make_model(3, vocab_size=5)
    steps, beams = 3, 25  # 25 >= 5**2 beams: nothing is ever pruned before the last step
    ours = beam_search(model, [1, 2], num_beams=beams, max_new_tokens=steps)
    ref = exhaustive(model, [1, 2], steps, None, 1.0)[:beams]
    assert [tuple(s[2:].tolist()) for s in ours.sequences] == [t for _, t in ref]
    assert ours.scores.tolist() == pytest.approx([s for s, _ in ref], abs=1e-5)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0, 2.0])
def test_wide_beam_finds_the_exhaustive_best_with_eos(length_penalty: float) -> None:
    model = make_model(4, vocab_size=3)
    steps, beams = 3, 12  # at most 12 candidates per step, so all of them rank in the top 12
    ours = beam_search(
        model,
        [1, 2],
        num_beams=beams,
        max_new_tokens=steps,
        eos_id=0,
        length_penalty=length_penalty,
    )
    ref = exhaustive(model, [1, 2], steps, 0, length_penalty)[:beams]
    got = [tuple(s[2 : 2 + n].tolist()) for s, n in zip(ours.sequences, ours.lengths, strict=True)]
    assert got == [t for _, t in ref]
    assert ours.scores.tolist() == pytest.approx([s for s, _ in ref], abs=1e-5)
    assert any(n < steps for n in ours.lengths)


def test_more_beams_than_continuations_returns_only_real_ones() -> None:
    model = make_model(5, vocab_size=3)
    result = beam_search(model, [1], num_beams=10, max_new_tokens=2)
    assert len(result.sequences) == 9  # 3 * 3 distinct continuations
    assert len({tuple(s.tolist()) for s in result.sequences}) == 9
    assert torch.isfinite(result.scores).all()


def test_one_beam_is_greedy() -> None:
    model = make_model(6)
    result = beam_search(model, PROMPT, num_beams=1, max_new_tokens=12)
    assert torch.equal(result.sequences, generate(model, PROMPT, max_new_tokens=12))


# ----------------------------------------------------------------------------- cache, generate
def test_cache_and_sliding_window_do_not_change_the_search() -> None:
    model = make_model(7, block_size=12, pos_encoding="rotary")
    a = beam_search(model, PROMPT, num_beams=3, max_new_tokens=25, use_cache=True)
    b = beam_search(model, PROMPT, num_beams=3, max_new_tokens=25, use_cache=False)
    assert a.sequences.shape == (3, 29)
    assert torch.equal(a.sequences, b.sequences)
    torch.testing.assert_close(a.scores, b.scores)


def test_generate_beam_strategy_takes_the_best_sequence_per_row() -> None:
    model = make_model(8)
    prompts = torch.tensor([[5, 9, 2], [60, 7, 7]])
    out = generate(model, prompts, strategy="beam", num_beams=3, max_new_tokens=6)
    for row, prompt in zip(out, prompts, strict=True):
        best = beam_search(model, prompt, num_beams=3, max_new_tokens=6).sequences[0]
        assert torch.equal(row, best)


def test_generate_beam_pads_rows_that_stop_early() -> None:
    model = make_model(2)
    free = beam_search(model, PROMPT, num_beams=3, max_new_tokens=10)
    eos = int(free.sequences[1, 4 + 2])
    result = beam_search(model, PROMPT, num_beams=3, max_new_tokens=10, eos_id=eos)
    out = generate(model, PROMPT, strategy="beam", num_beams=3, max_new_tokens=10, eos_id=eos)
    best = result.sequences[0, : 4 + result.lengths[0]]
    assert torch.equal(out[0, : len(best)], best)
    assert int(best[-1]) == eos or result.lengths[0] == 10


# ----------------------------------------------------------------------------- the tree
def test_tree_is_consistent_with_the_result() -> None:
    model = make_model(9)
    result = beam_search(model, PROMPT, num_beams=3, max_new_tokens=5)
    tree = result.tree
    assert tree[0] == BeamNode(0, None, 0, 33, 0.0, 0.0, True, False)
    assert [node.id for node in tree] == list(range(len(tree)))
    for node in tree[1:]:
        parent = tree[node.parent_id]
        assert parent.kept and node.step == parent.step + 1
        assert node.cumulative_logprob == pytest.approx(
            parent.cumulative_logprob + node.logprob, abs=1e-5
        )
    for step in range(1, 5):
        nodes = [n for n in tree if n.step == step]
        assert len(nodes) == 6  # the 2 * num_beams candidates considered
        assert sum(n.kept for n in nodes) == 3
    last = [n for n in tree if n.step == 5]
    assert sum(n.finished for n in last) == 3 and not any(n.kept for n in last)
    for seq, leaf, score in zip(result.sequences, result.leaf_ids, result.scores, strict=True):
        path, node = [], tree[leaf]
        while node.parent_id is not None:
            path.append(node.token_id)
            node = tree[node.parent_id]
        assert path[::-1] == seq[4:].tolist()
        assert tree[leaf].cumulative_logprob / 5 == pytest.approx(float(score), abs=1e-5)


def test_tree_logprobs_match_the_model() -> None:
    model = make_model(10)
    result = beam_search(model, PROMPT, num_beams=2, max_new_tokens=2)
    with torch.no_grad():
        first = torch.log_softmax(model(PROMPT).logits[0, -1], dim=-1)
    for node in (n for n in result.tree if n.step == 1):
        assert node.logprob == pytest.approx(float(first[node.token_id]), abs=1e-5)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_beams": 0}, ConfigError, "num_beams"),
        ({"num_beams": 10_000}, ConfigError, "num_beams"),
        ({"num_beams": 2.0}, ConfigError, "num_beams"),
        ({"max_new_tokens": 0}, ConfigError, "max_new_tokens"),
        ({"max_new_tokens": 10**7}, ConfigError, "max_new_tokens"),
        ({"length_penalty": math.inf}, ConfigError, "length_penalty"),
        ({"eos_id": 64}, ConfigError, "eos_id"),
        ({"use_cache": 1}, ConfigError, "use_cache"),
        ({"idx": torch.zeros(2, 3, dtype=torch.long)}, InputError, "batch size 1"),
        ({"idx": []}, InputError, "empty"),
        ({"idx": [1, 99]}, InputError, r"\[0, 64\)"),
        ({"idx": torch.tensor([0.5])}, InputError, "integer"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    idx = kwargs.pop("idx", [1, 2])
    with pytest.raises(error, match=match):
        beam_search(make_model(), idx, **{"num_beams": 2, "max_new_tokens": 3, **kwargs})


def test_long_prompt_is_cropped_with_a_warning_and_mode_restored() -> None:
    model = make_model(11, dropout=0.3).train()
    prompt = torch.randint(0, 64, (1, 40), generator=torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match="only the last 32"):
        result = beam_search(model, prompt, num_beams=2, max_new_tokens=3)
    assert model.training
    assert torch.equal(result.sequences[:, :40], prompt.expand(2, -1))
    assert not result.sequences.is_inference()
