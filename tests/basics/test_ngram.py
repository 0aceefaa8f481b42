"""The n-gram model against an independent count (collections.Counter) and known properties."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lmkit.basics.ngram import BigramModel, NGramModel
from lmkit.basics.ngram_counts import BOS, EOS
from lmkit.errors import ConfigError, InputError

CORPUS = ["我喜欢吃苹果。", "我喜欢猫。", "苹果是水果。", "猫喜欢吃鱼。"]


def counted_bigrams(sentences):
    """Bigram and context counts with explicit boundary markers, counted here independently."""
    pairs, contexts = Counter(), Counter()
    for sentence in sentences:
        padded = [BOS, *sentence, EOS]
        pairs.update(itertools.pairwise(padded))
        contexts.update(padded[:-1])
    return pairs, contexts


def test_bigram_probabilities_match_counter_with_and_without_smoothing():
    pairs, contexts = counted_bigrams(CORPUS)
    vocab_size = len(set("".join(CORPUS))) + 1  # every character, plus EOS
    for k in (0.0, 0.5, 1.0):
        model = BigramModel(k=k).fit(CORPUS)
        assert model.num_outcomes == vocab_size
        for prev in [BOS, *sorted(set("".join(CORPUS)))]:
            probs = model.next_token_probs([prev] if prev != BOS else [])
            for token, p in zip(model.outcomes, probs.tolist(), strict=True):
                expected = (pairs[(prev, token)] + k) / (contexts[prev] + k * vocab_size)
                assert p == pytest.approx(expected, abs=1e-12)
                assert model.prob(token, [prev] if prev != BOS else []) == pytest.approx(expected)


def test_changing_k_after_fitting_keeps_the_counts():
    model = BigramModel(k=0.0).fit(CORPUS)
    model.k = 2.0
    assert torch.allclose(
        model.next_token_probs("我"), BigramModel(k=2.0).fit(CORPUS).next_token_probs("我")
    )
    with pytest.raises(ConfigError, match="add-k"):
        model.k = -0.5


def test_score_agrees_with_the_full_distribution():
    model = NGramModel(3, k=0.3).fit(CORPUS)
    for row in model.score("猫喜欢吃苹果。"):
        probs = model.next_token_probs(list(row.context))
        assert row.prob == pytest.approx(probs[model.outcomes.index(row.token)].item())


def test_counts_and_context_counts_are_the_raw_counts():
    pairs, contexts = counted_bigrams(CORPUS)
    model = BigramModel().fit(CORPUS)
    assert model.count("喜", "欢") == pairs[("喜", "欢")] == 3
    assert model.count([], "我") == pairs[(BOS, "我")]
    assert model.context_count("吃") == contexts["吃"]
    assert model.count("鱼", "猫") == 0


def test_log_prob_is_the_chain_rule_product_of_counted_ratios():
    pairs, contexts = counted_bigrams(CORPUS)
    model = BigramModel().fit(CORPUS)
    sentence = "猫喜欢吃苹果。"
    padded = [BOS, *sentence, EOS]
    exact = Fraction(1)
    for a, b in itertools.pairwise(padded):
        exact *= Fraction(pairs[(a, b)], contexts[a])
    assert model.log_prob(sentence) == pytest.approx(math.log(exact), abs=1e-12)
    rows = model.score(sentence)
    assert [r.token for r in rows] == [*sentence, EOS]
    assert len(rows) == model.num_predictions(sentence) == len(sentence) + 1


def test_trigram_matches_counter():
    data = [["the", "cat", "sat"], ["the", "cat", "ran"], ["a", "cat", "sat"]]
    trigrams, contexts = Counter(), Counter()
    for sentence in data:
        padded = [BOS, BOS, *sentence, EOS]
        trigrams.update(zip(padded, padded[1:], padded[2:], strict=False))
        contexts.update(itertools.pairwise(padded))
    model = NGramModel(3, k=0.25).fit(data)
    size = model.num_outcomes
    probs = model.next_token_probs(["the", "cat"])
    for token, p in zip(model.outcomes, probs.tolist(), strict=True):
        expected = (trigrams[("the", "cat", token)] + 0.25) / (
            contexts[("the", "cat")] + 0.25 * size
        )
        assert p == pytest.approx(expected)
    # Only the last n-1 tokens matter.
    assert torch.equal(model.next_token_probs(["a", "the", "cat"]), probs)


def test_unigram_is_relative_frequency():
    data = ["aab", "b"]
    model = NGramModel(1).fit(data)
    counts = Counter("aab" + "b")
    counts[EOS] = 2
    total = sum(counts.values())
    probs = dict(zip(model.outcomes, model.next_token_probs().tolist(), strict=True))
    assert probs == pytest.approx({t: c / total for t, c in counts.items()})


sentences = st.lists(st.text(alphabet="abcd", min_size=0, max_size=8), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(sentences, st.sampled_from([0.1, 1.0, 3.0]), st.integers(1, 3))
def test_every_distribution_sums_to_one(data, k, n):
    model = NGramModel(n, k=k).fit(data)
    for context in ["", "a", "ab", "dd", "cba"]:
        known = "".join(c for c in context if c in model.vocab)
        probs = model.next_token_probs(known)
        assert probs.sum().item() == pytest.approx(1.0, abs=1e-12)
        assert (probs > 0).all()


@settings(max_examples=30, deadline=None)
@given(sentences, st.sampled_from([0.0, 0.5, 2.0]))
def test_perplexity_equals_geometric_mean_form(data, k):
    model = BigramModel(k=k).fit(data)
    probs = [row.prob for s in data for row in model.score(s)]
    geometric = math.prod(probs) ** (-1 / len(probs))
    assert model.perplexity(data) == pytest.approx(geometric, rel=1e-9)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_uniform_model_has_perplexity_equal_to_vocab_size(n):
    vocab = list("abcdefg")
    model = NGramModel(n, k=1.0, vocab=vocab).fit([])  # no data: add-k gives a uniform model
    test = ["abc", "gfedcba", ""]
    assert model.perplexity(test) == pytest.approx(len(vocab) + 1)  # + EOS
    plain = NGramModel(n, k=1.0, vocab=vocab, add_boundaries=False).fit([])
    assert plain.perplexity(["abcdefg"]) == pytest.approx(len(vocab))


def test_unseen_bigram_without_smoothing_gives_zero_probability_and_infinite_perplexity():
    model = BigramModel().fit(CORPUS)
    assert model.prob("鱼", "我") == 0.0
    assert model.log_prob("我吃鱼。") == -math.inf
    assert model.perplexity(["我吃鱼。"]) == math.inf
    smoothed = BigramModel(k=1).fit(CORPUS)
    assert math.isfinite(smoothed.perplexity(["我吃鱼。"]))


def test_unseen_context_with_k_zero_is_explained():
    model = BigramModel(vocab="abc").fit(["ab"])
    with pytest.raises(InputError, match="never occurred in training and k=0"):
        model.next_token_probs("c")
    assert model.log_prob("cb") == -math.inf


def test_temperature_sharpens_and_flattens_like_a_softmax_of_log_probs():
    model = BigramModel(k=0.5).fit(CORPUS)
    base = model.next_token_probs("喜")
    for t in (0.5, 2.0):
        expected = torch.softmax(torch.log(base) / t, dim=0)
        assert torch.allclose(model.next_token_probs("喜", temperature=t), expected)
    greedy = model.next_token_probs("喜", temperature=0)
    assert greedy.sum() == 1 and greedy[torch.argmax(base)] == 1
    cold, hot = (
        model.next_token_probs("喜", temperature=0.5),
        model.next_token_probs("喜", temperature=5),
    )
    assert cold.max() > base.max() > hot.max()


def test_sampling_is_seeded_and_follows_the_counts():
    model = BigramModel().fit(CORPUS)
    a = model.sample(30, seed=3)
    assert a == model.sample(30, seed=3)
    assert BOS not in a and EOS not in a
    # Without smoothing every sampled bigram was seen in training.
    pairs, _ = counted_bigrams(CORPUS)
    padded = [BOS, *a]
    assert all(pairs[(x, y)] > 0 for x, y in itertools.pairwise(padded))
    # A deterministic chain: after 苹 always 果.
    assert model.sample(1, prompt="苹", seed=0) == ["果"]
    # Empirical next-token frequencies approach the model's probabilities.
    gen = torch.Generator().manual_seed(0)
    draws = Counter(tuple(model.sample(1, prompt="喜", generator=gen)) for _ in range(2000))
    p_chi = model.prob("欢", "喜")
    assert draws[("欢",)] / 2000 == pytest.approx(p_chi, abs=0.05)


def test_unknown_tokens_raise_or_map_to_unk():
    model = BigramModel().fit(CORPUS)
    with pytest.raises(InputError, match="not in the model's vocabulary"):
        model.log_prob("狗")
    with_unk = BigramModel(k=1, vocab=list("我喜欢"), unk_token="<unk>").fit(["我喜欢狗"])
    assert with_unk.count("欢", "<unk>") == 1
    assert math.isfinite(with_unk.log_prob("我喜欢鱼"))


def test_bigram_transition_matrix_rows_are_next_token_distributions():
    model = BigramModel(k=0.1).fit(CORPUS)
    matrix = model.transition_matrix()
    assert matrix.shape == (len(model.vocab) + 1, len(model.vocab) + 1)
    assert torch.allclose(matrix.sum(dim=1), torch.ones(matrix.shape[0], dtype=torch.float64))
    assert torch.allclose(matrix[0], model.next_token_probs([]))
    row = 1 + model.vocab.index("喜")
    assert torch.allclose(matrix[row], model.next_token_probs("喜"))
    sub = model.transition_matrix(["喜", "欢"])
    assert sub.shape == (3, 3)
    assert sub[1, 1].item() == pytest.approx(model.prob("欢", "喜"))


def test_integer_ids_and_no_boundaries():
    model = NGramModel(2, add_boundaries=False).fit([[1, 2, 3, 1, 2]])
    assert model.outcomes == [1, 2, 3]
    assert model.prob(2, [1]) == 1.0
    assert model.log_prob([1, 2, 3]) == pytest.approx(0.0)
    assert model.num_predictions([1, 2, 3]) == 2
    with pytest.raises(InputError, match="at least 2 tokens"):
        model.score([1])
    with pytest.raises(InputError, match="at least 1 context tokens"):
        model.next_token_probs([])


def test_bad_configuration_is_rejected():
    with pytest.raises(ConfigError, match="n must be an integer >= 1, got 0"):
        NGramModel(0)
    with pytest.raises(ConfigError, match=r"n must be an integer >= 1, got 2\.0"):
        NGramModel(2.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="k \\(add-k smoothing\\)"):
        BigramModel(k=-1)
    with pytest.raises(ConfigError, match="k \\(add-k smoothing\\)"):
        BigramModel(k=float("nan"))
    with pytest.raises(ConfigError, match="vocab is empty"):
        BigramModel(vocab=[])
    with pytest.raises(InputError, match="reserved"):
        BigramModel(vocab=["a", EOS])


def test_bad_inputs_are_explained():
    model = BigramModel(k=1).fit(CORPUS)
    with pytest.raises(InputError, match="call fit"):
        BigramModel().next_token_probs([])
    with pytest.raises(InputError, match=r"Wrap it in a list"):
        BigramModel().fit("我喜欢")
    with pytest.raises(InputError, match="not a single flat sequence"):
        BigramModel().fit([1, 2, 3])
    with pytest.raises(InputError, match="Wrap it in a list"):
        model.perplexity("我喜欢")
    with pytest.raises(InputError, match="hashable"):
        BigramModel().fit([[["a"]]])
    with pytest.raises(ConfigError, match="temperature"):
        model.next_token_probs("我", temperature=-1)
    with pytest.raises(ConfigError, match="max_tokens"):
        model.sample(-1)
    with pytest.raises(ConfigError, match="either seed or generator"):
        model.sample(3, seed=1, generator=torch.Generator())
    with pytest.raises(InputError, match="context must be a sequence"):
        model.next_token_probs(5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="at least one prediction"):
        model.perplexity([])
