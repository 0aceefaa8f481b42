"""The decoding figures: next-token bars (raw vs processed) and the beam-search tree."""

from __future__ import annotations

import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from model_factories import fresh_gpt

from lmkit.decoding.beam import beam_search
from lmkit.decoding.generation import TokenStep, stream
from lmkit.errors import InputError
from lmkit.gpt.model import GPT
from lmkit.viz import beam_tree, next_token_bars, token_confidence
from lmkit.viz.decoding import CHOSEN_COLOUR, winning_path

torch.set_num_threads(1)


def label(i: int) -> str:
    return f"t{i}"


def tiny_model(vocab: int = 40) -> GPT:
    return fresh_gpt(0, vocab_size=vocab, block_size=16, n_layer=1, n_head=2, n_embd=16)


def tick_ids(fig) -> list[int]:
    return [int(re.search(r"t(\d+)", tick).group(1)) for tick in fig.layout.xaxis.ticktext]


def bars(fig) -> tuple[dict, dict]:
    raw, processed = fig.to_plotly_json()["data"]
    return raw, processed


def test_bars_show_the_recorded_probabilities_and_highlight_the_chosen_token():
    step = TokenStep(
        index=0, token_id=7, prob=0.6, logprob=math.log(0.6), raw_prob=0.3,
        top_ids=[3, 7, 9], top_probs=[0.5, 0.3, 0.1],
        processed_top_ids=[3, 7], processed_top_probs=[0.4, 0.6], elapsed=0.0,
    )  # fmt: skip
    fig = next_token_bars(step, label)
    raw, processed = bars(fig)
    ticks = fig.layout.xaxis.ticktext
    assert tick_ids(fig) == [3, 7, 9]
    assert list(raw["y"]) == [0.5, 0.3, 0.1]
    # t9 is missing from the processed list, which is shorter than the raw one: exactly 0.
    assert list(processed["y"]) == [0.4, 0.6, 0.0]
    assert list(processed["marker"]["color"]).count(CHOSEN_COLOUR) == 1
    assert list(processed["marker"]["color"])[1] == CHOSEN_COLOUR
    assert "t7" in ticks[1] and "✔" in ticks[1]


def test_a_probability_the_step_does_not_record_is_left_out_not_invented():
    step = TokenStep(
        index=2, token_id=1, prob=0.5, logprob=math.log(0.5), raw_prob=0.5,
        top_ids=[1, 2], top_probs=[0.5, 0.2],
        processed_top_ids=[1, 5], processed_top_probs=[0.5, 0.3], elapsed=0.0,
    )  # fmt: skip
    raw, processed = bars(next_token_bars(step, label))
    # ids in order of raw probability, unknown raw last: 1, 2, 5
    assert list(raw["y"]) == [0.5, 0.2, None]
    assert list(processed["y"]) == [0.5, None, 0.3]  # 2 may be below 0.3: unknown
    assert "not among" in raw["customdata"][2][1]


def test_bars_match_a_direct_softmax_of_the_model_logits_at_two_temperatures():
    model = tiny_model()
    prompt = [1, 2, 3]
    logits = model(torch.tensor([prompt])).logits[0, -1].detach()
    for temperature in (0.5, 1.5):
        step = next(
            stream(model, prompt, strategy="sample", temperature=temperature, seed=0,
                   max_new_tokens=1, top_alternatives=40)
        )  # fmt: skip
        fig = next_token_bars(step, label, top=40)
        raw, processed = bars(fig)
        ids = tick_ids(fig)
        expected_raw = torch.softmax(logits, -1)[ids]
        expected_processed = torch.softmax(logits / temperature, -1)[ids]
        assert torch.allclose(torch.tensor(raw["y"], dtype=torch.float32), expected_raw, atol=1e-5)
        assert torch.allclose(
            torch.tensor(processed["y"], dtype=torch.float32), expected_processed, atol=1e-5
        )


@given(
    probs=st.lists(st.floats(0, 1), min_size=1, max_size=30),
    processed_len=st.integers(0, 30),
    chosen=st.integers(0, 100),
)
@settings(max_examples=60, deadline=None)
def test_bars_never_fail_on_any_recorded_step(probs, processed_len, chosen):
    ids = list(range(len(probs)))
    step = TokenStep(
        index=0, token_id=chosen, prob=0.5, logprob=math.log(0.5), raw_prob=0.1,
        top_ids=ids, top_probs=probs, processed_top_ids=ids[:processed_len],
        processed_top_probs=probs[:processed_len], elapsed=0.0,
    )  # fmt: skip
    raw, processed = bars(next_token_bars(step, label, top=5))
    assert len(raw["y"]) == len(processed["y"]) <= 11
    assert all(v is None or 0 <= v <= 1 for v in [*raw["y"], *processed["y"]])


def test_bad_arguments_raise_input_errors():
    with pytest.raises(InputError):
        next_token_bars("not a step", label)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        beam_tree(None, label)  # type: ignore[arg-type]


def test_beam_tree_has_one_marker_per_node_and_highlights_the_best_path():
    model = tiny_model()
    result = beam_search(model, [1, 2], num_beams=3, max_new_tokens=5)
    fig = beam_tree(result, label).to_plotly_json()
    _others, path, nodes = fig["data"]
    assert len(nodes["x"]) == len(result.tree)
    path_ids = winning_path(result)
    assert path_ids[0] == 0 and path_ids[-1] == result.leaf_ids[0]
    # each edge of the path is drawn as (parent, child, None)
    assert len(path["x"]) == 3 * (len(path_ids) - 1)
    steps = [result.tree[i].step for i in path_ids]
    assert steps == list(range(len(path_ids)))
    # the best sequence's tokens are the path's tokens
    best = result.sequences[0, 2 : 2 + result.lengths[0]].tolist()
    assert [result.tree[i].token_id for i in path_ids[1:]] == best
    # hover shows each node's cumulative log-probability
    assert [c[2] for c in nodes["customdata"]] == [n.cumulative_logprob for n in result.tree]


def test_confidence_curve_plots_the_chosen_tokens_probabilities():
    model = tiny_model()
    steps = list(stream(model, [1, 2], strategy="sample", temperature=0.7, seed=3,
                        max_new_tokens=6))  # fmt: skip
    raw, processed = token_confidence(steps, label).to_plotly_json()["data"]
    assert list(raw["x"]) == [1, 2, 3, 4, 5, 6]
    assert list(raw["y"]) == [s.raw_prob for s in steps]
    assert list(processed["y"]) == [s.prob for s in steps]
    assert list(raw["customdata"]) == [f"t{s.token_id}" for s in steps]
    with pytest.raises(InputError):
        token_confidence([], label)
