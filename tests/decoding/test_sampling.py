"""Tests for lmkit.decoding.sampling: parity with Hugging Face logits processors, exact properties, statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lmkit.decoding.sampling import (
    apply_repetition_penalty,
    apply_temperature,
    process_logits,
    sample_next_token,
    top_k_filter,
    top_p_filter,
)
from lmkit.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def hf_proc():
    """transformers' logits processors, the reference (only the parity tests need the hf extra)."""
    return pytest.importorskip("transformers.generation.logits_process")

NEG_INF = float("-inf")


def random_logits(seed: int, batch: int = 6, vocab: int = 80, scale: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, vocab, generator=g) * scale


def dummy_ids(batch: int) -> torch.Tensor:
    return torch.zeros(batch, 1, dtype=torch.long)


# ----------------------------------------------------------------------------- HF parity
@pytest.mark.parametrize("temperature", [0.3, 1.0, 2.5])
def test_temperature_matches_hf(hf_proc, temperature: float) -> None:
    logits = random_logits(0)
    ref = hf_proc.TemperatureLogitsWarper(temperature)(dummy_ids(6), logits.clone())
    torch.testing.assert_close(apply_temperature(logits, temperature), ref)


@pytest.mark.parametrize("top_k", [1, 3, 17, 80, 500])
def test_top_k_matches_hf(hf_proc, top_k: int) -> None:
    logits = random_logits(1)
    ref = hf_proc.TopKLogitsWarper(top_k)(dummy_ids(6), logits.clone())
    assert torch.equal(top_k_filter(logits, top_k), ref)


@pytest.mark.parametrize("seed", [2, 3])
@pytest.mark.parametrize("top_p", [0.05, 0.3, 0.7, 0.9, 0.99, 1.0])
def test_top_p_matches_hf(hf_proc, seed: int, top_p: float) -> None:
    logits = random_logits(seed, batch=8, vocab=120)
    ref = hf_proc.TopPLogitsWarper(top_p)(dummy_ids(8), logits.clone())
    assert torch.equal(top_p_filter(logits, top_p), ref)


@pytest.mark.parametrize("penalty", [0.5, 1.0, 1.3, 2.0])
def test_repetition_penalty_matches_hf(hf_proc, penalty: float) -> None:
    logits = random_logits(4, batch=3, vocab=40)
    g = torch.Generator().manual_seed(5)
    previous = torch.randint(0, 40, (3, 15), generator=g)  # has duplicates
    ref = hf_proc.RepetitionPenaltyLogitsProcessor(penalty)(previous, logits.clone())
    assert torch.equal(apply_repetition_penalty(logits, previous, penalty), ref)


def test_process_logits_matches_hf_chain(hf_proc) -> None:
    logits = random_logits(6, batch=4, vocab=60)
    previous = torch.randint(0, 60, (4, 9), generator=torch.Generator().manual_seed(7))
    chain = hf_proc.LogitsProcessorList(
        [
            hf_proc.RepetitionPenaltyLogitsProcessor(1.2),
            hf_proc.TemperatureLogitsWarper(0.7),
            hf_proc.TopKLogitsWarper(20),
            hf_proc.TopPLogitsWarper(0.8),
        ]
    )
    ref = chain(previous, logits.clone())
    ours = process_logits(
        logits, previous_ids=previous, repetition_penalty=1.2, temperature=0.7, top_k=20, top_p=0.8
    )
    torch.testing.assert_close(ours, ref)


# ----------------------------------------------------------------------------- exact properties
def nucleus_size_reference(row: np.ndarray, p: float) -> int:
    """Smallest number of top tokens whose probability reaches p (float64, plain loop)."""
    probs = np.exp(row - row.max())
    probs /= probs.sum()
    total = 0.0
    for n, prob in enumerate(np.sort(probs)[::-1], start=1):
        total += prob
        if total >= p:
            return n
    return len(row)


@pytest.mark.parametrize("top_p", [0.2, 0.5, 0.95])
def test_top_p_keeps_the_smallest_set_reaching_p(top_p: float) -> None:
    logits = random_logits(8, batch=10, vocab=50, scale=2.0).double()
    filtered = top_p_filter(logits, top_p)
    for row, out in zip(logits, filtered, strict=True):
        kept = torch.isfinite(out)
        assert int(kept.sum()) == nucleus_size_reference(row.numpy(), top_p)
        # the kept tokens are the most likely ones, with unchanged logits
        assert row[kept].min() > row[~kept].max() if (~kept).any() else True
        assert torch.equal(out[kept], row[kept])


def test_top_p_always_keeps_the_most_likely_token() -> None:
    logits = random_logits(9)
    out = top_p_filter(logits, 1e-9)
    assert torch.equal(torch.isfinite(out).sum(dim=-1), torch.ones(6, dtype=torch.long))
    assert torch.equal(out.argmax(dim=-1), logits.argmax(dim=-1))


def test_top_p_keeps_ties_together() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0, -5.0], [2.0, 1.0, 1.0, 1.0, 1.0]])
    out = top_p_filter(logits, 0.3)
    # row 0: one tied token would reach 0.3 on its own, but its equals must stay with it
    assert torch.isfinite(out[0]).tolist() == [True, True, True, True, False]
    # row 1: the top token has ~0.40 >= 0.3 and has no tie, so it stays alone
    assert torch.isfinite(out[1]).tolist() == [True, False, False, False, False]


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.integers(-4, 4), min_size=2, max_size=12),
    top_p=st.floats(0.01, 1.0),
    seed=st.integers(0, 1000),
)
def test_top_p_does_not_depend_on_token_order(values: list[int], top_p: float, seed: int) -> None:
    logits = torch.tensor(values, dtype=torch.float64)
    perm = torch.randperm(len(values), generator=torch.Generator().manual_seed(seed))
    direct = top_p_filter(logits, top_p)
    permuted = top_p_filter(logits[perm], top_p)
    assert torch.equal(direct[perm], permuted)


def test_top_k_keeps_ties_like_hf(hf_proc) -> None:
    logits = torch.tensor([[1.0, 3.0, 3.0, 0.0]])
    out = top_k_filter(logits, 1)
    assert torch.isfinite(out).tolist() == [[False, True, True, False]]
    assert torch.equal(out, hf_proc.TopKLogitsWarper(1)(dummy_ids(1), logits.clone()))


def test_temperature_zero_is_argmax() -> None:
    logits = random_logits(10)
    out = apply_temperature(logits, 0)
    assert torch.equal(torch.isfinite(out).sum(dim=-1), torch.ones(6, dtype=torch.long))
    assert torch.equal(out.argmax(dim=-1), logits.argmax(dim=-1))
    assert torch.equal(sample_next_token(logits, temperature=0), logits.argmax(dim=-1))


def test_one_dimensional_logits_match_batched_rows() -> None:
    logits = random_logits(11, batch=1)
    for fn, arg in [(apply_temperature, 0.5), (top_k_filter, 5), (top_p_filter, 0.6)]:
        assert torch.equal(fn(logits[0], arg), fn(logits, arg)[0])
    assert torch.equal(
        apply_repetition_penalty(logits[0], [1, 2, 2], 1.5),
        apply_repetition_penalty(logits, torch.tensor([[1, 2, 2]]), 1.5)[0],
    )
    token = sample_next_token(logits[0], temperature=0)
    assert token.shape == () and int(token) == int(logits[0].argmax())


def test_functions_do_not_modify_their_input() -> None:
    logits = random_logits(12)
    before = logits.clone()
    top_k_filter(logits, 3)
    top_p_filter(logits, 0.5)
    apply_temperature(logits, 0)
    apply_repetition_penalty(logits, torch.zeros(6, 2, dtype=torch.long), 2.0)
    assert torch.equal(logits, before)


def test_repetition_penalty_always_lowers_seen_tokens() -> None:
    logits = torch.tensor([[2.0, -2.0, 0.5, -0.5]])
    out = apply_repetition_penalty(logits, torch.tensor([[0, 1, 1]]), 2.0)
    assert out.tolist() == [[1.0, -4.0, 0.5, -0.5]]


def test_neg_inf_logits_are_allowed_and_never_sampled() -> None:
    logits = torch.tensor([[0.0, NEG_INF, 1.0, NEG_INF]]).expand(500, 4)
    ids = sample_next_token(logits, generator=torch.Generator().manual_seed(0))
    assert set(ids.tolist()) <= {0, 2}


# ----------------------------------------------------------------------------- statistics
def filtered_distribution_reference(
    logits: np.ndarray, temperature: float, top_k: int, top_p: float
) -> np.ndarray:
    """The distribution sample_next_token should draw from, computed independently in float64."""
    scaled = logits / temperature
    order = np.argsort(-scaled)
    keep = np.zeros(len(scaled), dtype=bool)
    keep[order[:top_k]] = True
    probs = np.exp(scaled - scaled.max()) * keep
    probs /= probs.sum()
    mass = 0.0
    nucleus = np.zeros_like(keep)
    for i in order:
        if not keep[i] or mass >= top_p:
            break
        nucleus[i] = True
        mass += probs[i]
    final = np.exp(scaled - scaled.max()) * nucleus
    return final / final.sum()


def test_sampled_frequencies_match_the_filtered_distribution() -> None:
    logits = torch.tensor([2.0, 1.5, 1.0, 0.8, 0.5, 0.0, -0.5, -1.0, -2.0, -3.0])
    expected = filtered_distribution_reference(logits.double().numpy(), 0.8, 6, 0.9)
    n = 200_000
    ids = sample_next_token(
        logits.expand(n, -1),
        temperature=0.8,
        top_k=6,
        top_p=0.9,
        generator=torch.Generator().manual_seed(1234),
    )
    counts = np.bincount(ids.numpy(), minlength=10)
    support = expected > 0
    assert counts[~support].sum() == 0  # filtered tokens are never drawn
    expected_counts = expected[support] * n
    chi2 = float(((counts[support] - expected_counts) ** 2 / expected_counts).sum())
    dof = int(support.sum()) - 1
    # mean dof, sd sqrt(2 dof): a 6-sigma bound fails by chance with probability < 1e-6
    assert chi2 < dof + 6 * math.sqrt(2 * dof), (chi2, counts, expected_counts)


def test_seeded_sampling_is_reproducible_and_seed_dependent() -> None:
    logits = torch.zeros(200, 50)
    a = sample_next_token(logits, generator=torch.Generator().manual_seed(3))
    b = sample_next_token(logits, generator=torch.Generator().manual_seed(3))
    c = sample_next_token(logits, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_top_k_one_equals_greedy() -> None:
    logits = random_logits(13, batch=50)
    ids = sample_next_token(logits, top_k=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(ids, logits.argmax(dim=-1))


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("logits", "match"),
    [
        (torch.tensor([[0.0, float("nan")]]), "NaN"),
        (torch.tensor([[0.0, float("inf")]]), r"\+inf"),
        (torch.tensor([[NEG_INF, NEG_INF]]), "-inf"),
        (torch.tensor([[1, 2]]), "floating point"),
        (torch.zeros(2, 3, 4), "shape"),
        (torch.zeros(2, 0), "shape"),
        ([0.0, 1.0], "torch.Tensor"),
    ],
)
def test_bad_logits_raise_input_error(logits: object, match: str) -> None:
    for call in (
        lambda: apply_temperature(logits, 1.0),
        lambda: top_k_filter(logits, 2),
        lambda: top_p_filter(logits, 0.5),
        lambda: apply_repetition_penalty(logits, [0], 1.2),
        lambda: sample_next_token(logits),
    ):
        with pytest.raises(InputError, match=match):
            call()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"temperature": -1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_k": True}, "top_k"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_p": float("nan")}, "top_p"),
        ({"repetition_penalty": 0, "previous_ids": [0]}, "repetition_penalty"),
        ({"repetition_penalty": -1.0}, "repetition_penalty"),
        ({"generator": 42}, "generator"),
    ],
)
def test_bad_settings_raise_config_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        sample_next_token(torch.zeros(2, 5), **kwargs)


def test_bad_settings_in_single_functions() -> None:
    logits = torch.zeros(5)
    with pytest.raises(ConfigError, match="temperature"):
        apply_temperature(logits, -0.5)
    with pytest.raises(ConfigError, match="top_k"):
        top_k_filter(logits, -3)
    with pytest.raises(ConfigError, match="top_p"):
        top_p_filter(logits, 0.0)
    with pytest.raises(ConfigError, match="repetition_penalty"):
        apply_repetition_penalty(logits, [1], 0.0)


@pytest.mark.parametrize(
    ("previous", "match"),
    [
        (torch.tensor([[0, 7]]), r"\[0, 5\)"),
        (torch.tensor([[-1]]), r"\[0, 5\)"),
        (torch.tensor([[0.0]]), "integer"),
        (torch.tensor([0, 1]), "shape"),
        (torch.zeros(2, 2, dtype=torch.long), "shape"),
        ([0, 1.5], "list of int"),
    ],
)
def test_bad_previous_ids_raise_input_error(previous: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        apply_repetition_penalty(torch.zeros(1, 5), previous, 1.2)


# ----------------------------------------------------------------------------- extreme settings
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        # finding: 1e-300 gave "logits contain +inf … check the model for overflow"
        ({"temperature": 1e-300}, r"temperature must be 0 or at least 0\.001"),
        ({"temperature": 5e-4}, r"temperature must be 0 or at least 0\.001"),
        ({"repetition_penalty": 1e-300, "previous_ids": [[0]] * 2}, r"repetition_penalty .*0\.001"),
        ({"repetition_penalty": 1e300}, r"repetition_penalty must be in 0\.001\.\.1000"),
    ],
)
def test_extreme_temperatures_and_penalties_are_refused_as_settings(kwargs, match) -> None:
    if "previous_ids" in kwargs:
        kwargs["previous_ids"] = torch.tensor(kwargs["previous_ids"])
    with pytest.raises(ConfigError, match=match):
        sample_next_token(torch.randn(2, 5), **kwargs)


def test_the_bounds_themselves_sample_finely() -> None:
    logits = random_logits(3)
    previous = torch.zeros(6, 3, dtype=torch.long)
    for temperature in (0, 1e-3):
        ids = sample_next_token(logits, temperature=temperature, previous_ids=previous,
                                repetition_penalty=1e-3)  # fmt: skip
        assert ids.shape == (6,)
    sample_next_token(logits, previous_ids=previous, repetition_penalty=1e3)


def test_an_overflowing_division_blames_the_setting_not_the_model() -> None:
    half = torch.tensor([[6.0e4, 1.0, -6.0e4]], dtype=torch.float16)
    with pytest.raises(InputError, match=r"temperature=0\.5 makes the logits overflow") as err:
        apply_temperature(half, 0.5)
    assert "model" not in str(err.value)
    big = torch.tensor([[3e38, 0.0]])
    with pytest.raises(InputError, match=r"temperature=0\.01 makes the logits overflow"):
        sample_next_token(big, temperature=0.01)
    with pytest.raises(InputError, match=r"repetition_penalty=0\.001 makes the logits overflow"):
        apply_repetition_penalty(big[0], [0], 1e-3)


def test_generation_config_refuses_a_tiny_temperature_before_any_model_runs() -> None:
    from lmkit.decoding.generation import GenerationConfig

    with pytest.raises(ConfigError, match="temperature must be 0 or at least"):
        GenerationConfig(strategy="sample", temperature=1e-300)
    with pytest.raises(ConfigError, match="repetition_penalty must be in"):
        GenerationConfig(strategy="sample", repetition_penalty=1e-300)
