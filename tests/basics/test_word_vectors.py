"""Word vectors: counting, pairs, both losses and their hand-written gradients, training on a
corpus with planted structure, similarity look-ups and PCA."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmkit.basics.glove import (
    GloVe,
    cooccurrence_matrix,
    glove_gradients,
    glove_loss,
    glove_weight,
    train_glove,
)
from lmkit.basics.vocabulary import Vocabulary, build_vocab, tokenize_sentences
from lmkit.basics.word2vec import (
    SkipGram,
    noise_distribution,
    sgns_gradients,
    sgns_loss,
    skipgram_pairs,
    subsample,
    train_skipgram,
)
from lmkit.basics.word_vectors import WordVectors, cosine_matrix, cosine_similarity, pca
from lmkit.errors import ConfigError, InputError


# ---------------------------------------------------------------- text and vocabulary
def test_tokenize_sentences_lowercases_splits_and_keeps_chinese_characters():
    text = "The Dog ran. It's late!\n我喜欢吃苹果。苹果是水果"
    assert tokenize_sentences(text) == [
        ["the", "dog", "ran"],
        ["it's", "late"],
        list("我喜欢吃苹果"),
        list("苹果是水果"),
    ]
    with pytest.raises(InputError, match="must be a str"):
        tokenize_sentences(["not", "a", "string"])


def test_build_vocab_counts_sorts_and_filters():
    sentences = [["b", "a", "c"], ["a", "b", "a", "d"]]
    vocab = build_vocab(sentences, min_count=2)
    expected = Counter(w for s in sentences for w in s)
    assert vocab.words == ("a", "b")  # by count, then alphabetically; c and d dropped
    assert vocab.counts == (expected["a"], expected["b"])
    assert vocab.id("b") == 1 and "c" not in vocab and len(vocab) == 2
    assert vocab.encode([["a", "c", "b"]]) == [[0, 1]]
    assert build_vocab(sentences, max_size=3).words == ("a", "b", "c")


def test_vocab_errors_are_explained():
    vocab = build_vocab([["apple", "apples", "pear"]])
    with pytest.raises(InputError, match="Close words: apple"):
        vocab.id("appel")
    with pytest.raises(InputError, match="min_count=5"):
        build_vocab([["a", "b"]], min_count=5)
    with pytest.raises(ConfigError, match="min_count"):
        build_vocab([["a"]], min_count=0)
    with pytest.raises(ConfigError, match="max_size"):
        build_vocab([["a"]], max_size=-1)
    with pytest.raises(ConfigError, match="same length"):
        Vocabulary(("a", "b"), (1,))


# ---------------------------------------------------------------- pairs, subsampling, noise
def _naive_pairs(sentences, window):
    pairs = []
    for s in sentences:
        for i, center in enumerate(s):
            for j in range(max(0, i - window), min(len(s), i + window + 1)):
                if j != i:
                    pairs.append((center, s[j]))
    return Counter(pairs)


@pytest.mark.parametrize("window", [1, 2, 4])
def test_skipgram_pairs_match_a_naive_loop_and_stay_inside_sentences(window):
    gen = torch.Generator().manual_seed(window)
    sentences = [torch.randint(0, 9, (n,), generator=gen).tolist() for n in (1, 5, 3, 8)]
    centers, contexts = skipgram_pairs(sentences, window)
    assert Counter(zip(centers.tolist(), contexts.tolist(), strict=True)) == _naive_pairs(
        sentences, window
    )


def test_skipgram_pairs_errors():
    with pytest.raises(InputError, match="too short"):
        skipgram_pairs([[1], [2]], 2)
    with pytest.raises(ConfigError, match="window"):
        skipgram_pairs([[1, 2]], 0)


def test_subsample_keeps_each_word_with_probability_sqrt_t_over_f():
    counts = torch.tensor([900.0, 100.0])  # frequencies 0.9 and 0.1
    sentence = [0] * 9000 + [1] * 1000
    gen = torch.Generator().manual_seed(0)
    kept = subsample([sentence], counts, threshold=0.01, generator=gen)[0]
    share_0, share_1 = kept.count(0) / 9000, kept.count(1) / 1000
    assert share_0 == pytest.approx(math.sqrt(0.01 / 0.9), abs=0.02)
    assert share_1 == pytest.approx(math.sqrt(0.01 / 0.1), abs=0.04)
    # A threshold above every frequency keeps everything, in order, sentence by sentence.
    assert subsample([[1, 0], [0]], counts, threshold=1.0) == [[1, 0], [0]]
    with pytest.raises(ConfigError, match="threshold"):
        subsample([[0]], counts, threshold=0)


def test_noise_distribution_is_the_three_quarter_power_unigram():
    counts = np.array([10.0, 5.0, 1.0, 0.0])
    expected = counts**0.75 / (counts**0.75).sum()
    assert np.allclose(noise_distribution(torch.tensor(counts)).numpy(), expected)
    # The 3/4 power gives rare words more weight than their raw share.
    assert noise_distribution(torch.tensor(counts))[2] > counts[2] / counts.sum()
    with pytest.raises(InputError, match="non-negative"):
        noise_distribution(torch.tensor([1.0, -1.0]))


# ---------------------------------------------------------------- SGNS loss and gradients
def _sgns_inputs(b=4, k=3, d=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)
        for shape in ((b, d), (b, d), (b, k, d))
    )


def test_sgns_loss_equals_the_written_out_objective():
    v, u_o, u_k = (t.detach() for t in _sgns_inputs())
    per_pair = []
    for i in range(v.shape[0]):
        positive = math.log(1 / (1 + math.exp(-float(u_o[i] @ v[i]))))
        negative = sum(math.log(1 / (1 + math.exp(float(u @ v[i])))) for u in u_k[i])
        per_pair.append(-(positive + negative))
    got = sgns_loss(v, u_o, u_k, reduction="none")
    assert torch.allclose(got, torch.tensor(per_pair, dtype=torch.float64))
    assert torch.allclose(sgns_loss(v, u_o, u_k), got.mean())
    assert torch.allclose(sgns_loss(v, u_o, u_k, reduction="sum"), got.sum())


def test_sgns_hand_gradients_match_autograd():
    v, u_o, u_k = _sgns_inputs(b=6, k=5, d=4, seed=1)
    sgns_loss(v, u_o, u_k, reduction="sum").backward()
    for mine, auto in zip(sgns_gradients(v, u_o, u_k), (v.grad, u_o.grad, u_k.grad), strict=True):
        assert torch.allclose(mine, auto, atol=1e-12)


def test_sgns_loss_is_stable_for_huge_scores():
    v = torch.full((1, 2), 100.0)
    loss = sgns_loss(v, v.clone(), -v.clone().unsqueeze(1))
    assert torch.isfinite(loss) and loss.item() < 1e-6


def test_sgns_errors():
    v, u_o, u_k = _sgns_inputs()
    with pytest.raises(InputError, match=r"\(B, D\)"):
        sgns_loss(v[0], u_o[0], u_k)
    with pytest.raises(InputError, match=r"\(B, K, D\)"):
        sgns_loss(v, u_o, u_k[:, :, :2])
    with pytest.raises(ConfigError, match="reduction"):
        sgns_loss(v, u_o, u_k, reduction="max")


def test_skipgram_module_uses_center_and_context_tables():
    model = SkipGram(7, 3, torch.Generator().manual_seed(0))
    assert torch.count_nonzero(model.context.weight) == 0  # word2vec starts contexts at zero
    assert model.center.weight.abs().max() <= 0.5 / 3
    centers, contexts, negatives = (
        torch.tensor([1, 2]),
        torch.tensor([3, 4]),
        torch.tensor([[5], [6]]),
    )
    with torch.no_grad():
        model.context.weight.normal_()
    expected = sgns_loss(
        model.center.weight[centers],
        model.context.weight[contexts],
        model.context.weight[negatives],
    )
    assert torch.allclose(model(centers, contexts, negatives), expected)
    with pytest.raises(ConfigError, match="dim"):
        SkipGram(5, 0)


# ---------------------------------------------------------------- GloVe
def test_cooccurrence_matrix_matches_a_naive_loop_with_distance_weights():
    sentences = [[0, 1, 2, 1], [2, 0]]
    window = 2
    expected = torch.zeros(3, 3)
    for s in sentences:
        for i in range(len(s)):
            for j in range(len(s)):
                if 0 < abs(i - j) <= window:
                    expected[s[i], s[j]] += 1 / abs(i - j)
    got = cooccurrence_matrix(sentences, 3, window)
    assert torch.allclose(got, expected) and torch.equal(got, got.T)
    unweighted = cooccurrence_matrix(sentences, 3, window, distance_weighting=False)
    assert unweighted.sum() == sum(_naive_pairs(sentences, window).values())


def test_cooccurrence_errors():
    with pytest.raises(InputError, match="out of range"):
        cooccurrence_matrix([[0, 5]], 3)
    with pytest.raises(ConfigError, match="too large"):
        cooccurrence_matrix([[0, 1]], 1_000_000)


def test_glove_weight_follows_the_formula_and_caps_at_one():
    x = torch.tensor([1.0, 50.0, 100.0, 400.0])
    expected = [min(1.0, (v / 100) ** 0.75) for v in x.tolist()]
    assert torch.allclose(glove_weight(x), torch.tensor(expected))
    assert torch.allclose(glove_weight(x, x_max=10, alpha=0.5)[0], torch.tensor(0.1**0.5))
    with pytest.raises(InputError, match=">= 0"):
        glove_weight(torch.tensor([-1.0]))
    with pytest.raises(ConfigError, match="x_max"):
        glove_weight(x, x_max=0)


def _glove_inputs(n=7, d=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    tensors = [
        torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)
        for shape in ((n, d), (n, d), (n,), (n,))
    ]
    x = torch.rand(n, generator=gen, dtype=torch.float64) * 200 + 0.1
    return (*tensors, x)


def test_glove_loss_equals_the_written_out_sum():
    w_i, w_j, b_i, b_j, x = (t.detach() for t in _glove_inputs())
    expected = 0.0
    for n in range(len(x)):
        f = min(1.0, (float(x[n]) / 100) ** 0.75)
        residual = float(w_i[n] @ w_j[n] + b_i[n] + b_j[n]) - math.log(float(x[n]))
        expected += f * residual**2
    assert glove_loss(w_i, w_j, b_i, b_j, x).item() == pytest.approx(expected, rel=1e-12)


def test_glove_hand_gradients_match_autograd():
    w_i, w_j, b_i, b_j, x = _glove_inputs(seed=3)
    glove_loss(w_i, w_j, b_i, b_j, x, x_max=50, alpha=0.6).backward()
    mine = glove_gradients(w_i, w_j, b_i, b_j, x, x_max=50, alpha=0.6)
    for got, auto in zip(mine, (w_i.grad, w_j.grad, b_i.grad, b_j.grad), strict=True):
        assert torch.allclose(got, auto, atol=1e-12)


def test_glove_loss_errors():
    w_i, w_j, b_i, b_j, x = _glove_inputs()
    with pytest.raises(InputError, match="X_ij > 0"):
        glove_loss(w_i, w_j, b_i, b_j, torch.zeros_like(x))
    with pytest.raises(InputError, match=r"\(N, D\)"):
        glove_loss(w_i, w_j[:3], b_i, b_j, x)


def test_glove_module_gathers_rows_and_sums_both_tables():
    model = GloVe(5, 2, torch.Generator().manual_seed(0))
    rows, cols, x = torch.tensor([0, 3]), torch.tensor([1, 1]), torch.tensor([2.0, 5.0])
    expected = glove_loss(model.w[rows], model.w_tilde[cols], model.b[rows], model.b_tilde[cols], x)
    assert torch.allclose(model(rows, cols, x), expected)
    assert torch.allclose(model.vectors(), model.w.detach() + model.w_tilde.detach())


# ---------------------------------------------------------------- training on planted structure
ANIMALS = ["cat", "dog", "cow", "horse"]
TOOLS = ["hammer", "saw", "drill", "wrench"]


def _planted_corpus(n=400, seed=0):
    """Animals only ever appear with animal contexts, tools with tool contexts."""
    gen = torch.Generator().manual_seed(seed)
    animal_ctx, tool_ctx = (
        ["eats", "grass", "runs", "field"],
        ["fixes", "metal", "workshop", "bolts"],
    )
    sentences = []
    for i in range(n):
        words, ctx = (ANIMALS, animal_ctx) if i % 2 else (TOOLS, tool_ctx)
        pick = torch.randint(0, 4, (3,), generator=gen).tolist()
        sentences.append([words[pick[0]], ctx[pick[1]], ctx[pick[2]], "the"])
    return sentences


def _within_minus_across(wv: WordVectors) -> float:
    within = [wv.similarity(a, b) for g in (ANIMALS, TOOLS) for a in g for b in g if a < b]
    across = [wv.similarity(a, b) for a in ANIMALS for b in TOOLS]
    return sum(within) / len(within) - sum(across) / len(across)


def test_skipgram_training_lowers_the_loss_and_groups_similar_words():
    sentences = _planted_corpus()
    vocab = build_vocab(sentences)
    wv, history = train_skipgram(
        sentences, vocab, dim=8, window=2, epochs=8, batch_size=256, lr=0.02, seed=0
    )
    assert history[-1] < history[0]
    assert _within_minus_across(wv) > 0.3
    neighbours = [w for w, _ in wv.most_similar("cat", k=3)]
    assert set(neighbours) <= set(ANIMALS) and "cat" not in neighbours


def test_skipgram_training_with_subsampling_still_works():
    sentences = _planted_corpus(seed=1)
    vocab = build_vocab(sentences)
    wv, history = train_skipgram(
        sentences, vocab, dim=8, epochs=8, batch_size=256, lr=0.02, subsample_threshold=0.05
    )
    assert history[-1] < history[0] and _within_minus_across(wv) > 0.3


def test_glove_training_lowers_the_loss_and_groups_similar_words():
    sentences = _planted_corpus()
    vocab = build_vocab(sentences)
    counts = cooccurrence_matrix(vocab.encode(sentences), len(vocab), window=3)
    wv, history = train_glove(counts, vocab, dim=8, epochs=60, lr=0.1, x_max=20, seed=0)
    assert history[-1] < 0.5 * history[0]
    assert _within_minus_across(wv) > 0.3


def test_training_errors():
    sentences = _planted_corpus(n=10)
    vocab = build_vocab(sentences)
    with pytest.raises(ConfigError, match="lr"):
        train_skipgram(sentences, vocab, lr=0)
    with pytest.raises(InputError, match="counts must be"):
        train_glove(torch.ones(3, 3), vocab)
    with pytest.raises(InputError, match="all zeros"):
        train_glove(torch.zeros(len(vocab), len(vocab)), vocab)


# ---------------------------------------------------------------- using the vectors
def test_cosine_functions_match_torch():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 6, generator=gen), torch.randn(3, 6, generator=gen)
    assert torch.allclose(cosine_similarity(a[0], b[0]), F.cosine_similarity(a[0], b[0], dim=0))
    expected = F.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1)
    assert torch.allclose(cosine_matrix(a, b), expected, atol=1e-6)
    assert torch.allclose(torch.diagonal(cosine_matrix(a)), torch.ones(4))
    assert cosine_similarity(torch.zeros(3), torch.ones(3)) == 0  # no 0/0
    with pytest.raises(InputError, match="same length"):
        cosine_similarity(torch.ones(3), torch.ones(4))
    with pytest.raises(InputError, match="same D"):
        cosine_matrix(a, torch.ones(2, 5))


def test_analogy_and_neighbours_on_planted_vectors():
    # Build vectors with an exact "royal" and "female" direction.
    words = ("man", "woman", "king", "queen", "apple")
    man, female, royal = (
        torch.tensor([1.0, 0, 0, 0]),
        torch.tensor([0, 1.0, 0, 0]),
        torch.tensor([0, 0, 1.0, 0]),
    )
    vectors = torch.stack(
        [man, man + female, man + royal, man + female + royal, torch.tensor([0, 0, 0, 1.0])]
    )
    wv = WordVectors(Vocabulary(words, (1,) * 5), vectors)
    assert wv.analogy("man", "woman", "king", k=1)[0][0] == "queen"
    assert wv.most_similar("king", k=1)[0][0] in {"man", "queen"}
    assert wv.similarity("apple", "man") == pytest.approx(0.0)
    assert torch.equal(wv["queen"], vectors[3])
    with pytest.raises(InputError, match="not in the vocabulary"):
        wv.most_similar("kingdom")
    with pytest.raises(InputError, match="one vector per word"):
        WordVectors(Vocabulary(words, (1,) * 5), vectors[:3])


def test_pca_matches_numpy_svd_and_torch_pca_lowrank():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(30, 5, generator=gen, dtype=torch.float64) * torch.tensor([4.0, 2, 1, 0.5, 0.1])
    x = x + 7.0  # an offset that centring must remove
    projected, components, ratio = pca(x, k=2)
    centred = x.numpy() - x.numpy().mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    reference = centred @ vt[:2].T
    for col in range(2):  # equal up to the sign of each component
        assert np.allclose(np.abs(projected[:, col].numpy()), np.abs(reference[:, col]))
    assert np.allclose(ratio.numpy(), (s**2 / (s**2).sum())[:2])
    # pca_lowrank is randomised; asking for every component (q = D) makes it exact.
    _, _, v = torch.pca_lowrank(x, q=x.shape[1], center=True)
    assert torch.allclose(torch.abs(components), torch.abs(v[:, :2].T), atol=1e-6)
    # The sign convention: each projected column's largest-magnitude entry is positive.
    biggest = projected.abs().argmax(dim=0)
    assert (projected[biggest, torch.arange(2)] > 0).all()
    assert torch.allclose(projected, (x - x.mean(0)) @ components.T)


def test_pca_errors():
    with pytest.raises(InputError, match=r"\(N, D\)"):
        pca(torch.ones(5))
    with pytest.raises(ConfigError, match="k=4"):
        pca(torch.randn(3, 6), k=4)
