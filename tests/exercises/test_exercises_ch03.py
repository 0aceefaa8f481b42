"""Chapter 3 exercises: correct answers pass; typical mistakes get the feedback designed for them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from exercise_asserts import fails_with

from lmkit.basics.word2vec import sgns_loss, skipgram_pairs
from lmkit.basics.word_vectors import pca
from lmkit.exercises import check


def _pairs(sentences, window):
    out = []
    for s in sentences:
        for i in range(len(s)):
            out += [
                (s[i], s[j])
                for j in range(max(0, i - window), min(len(s), i + window + 1))
                if j != i
            ]
    return out


def test_skipgram_pairs_agree_with_lmkit_and_name_slips():
    assert check("ch03.skipgram_pairs", _pairs, seed=1, quiet=True)
    # lmkit orders its pairs by distance, not by position: the same multiset of pairs
    sentences = [[0, 1, 2, 3, 4], [5, 6], [7]]
    centers, contexts = skipgram_pairs(sentences, window=2)
    assert sorted(zip(centers.tolist(), contexts.tolist(), strict=True)) == sorted(
        _pairs(sentences, 2)
    )
    fails_with("ch03.skipgram_pairs", lambda s, w: _pairs([[i for x in s for i in x]], w), "cross")
    fails_with("ch03.skipgram_pairs", lambda s, w: _pairs(s, w + 1), "one too large")
    fails_with("ch03.skipgram_pairs", lambda s, w: sorted(_pairs(s, w)), "another order")
    right_only = lambda s, w: [(c, o) for c, o, i, j in _indexed(s, w) if j > i]  # noqa: E731
    fails_with("ch03.skipgram_pairs", right_only, "both sides")


def _indexed(sentences, window):
    for s in sentences:
        for i in range(len(s)):
            for j in range(max(0, i - window), min(len(s), i + window + 1)):
                if j != i:
                    yield s[i], s[j], i, j


def test_cbow_loss_is_sgns_on_the_mean_context_and_names_slips():
    def good(v_in, u_out, context, center, negatives):
        h = v_in[context].mean(0)
        return sgns_loss(
            h[None], u_out[center][None], u_out[negatives][None]
        )  # same objective, h as centre

    assert check("ch03.cbow_loss", good, seed=1, quiet=True)

    def summed(v_in, u_out, context, center, negatives):
        return good(v_in * len(context), u_out, context, center, negatives)

    fails_with("ch03.cbow_loss", summed, "averages")
    fails_with("ch03.cbow_loss", lambda v, u, c, o, n: good(v, v, c, o, n), "output vectors")
    fails_with("ch03.cbow_loss", lambda *a: -good(*a), "sign is flipped")


def test_sgns_pair_loss():
    def good(v, u, neg):
        return -F.logsigmoid(u @ v) - F.logsigmoid(-(neg @ v)).sum()

    assert check("ch03.sgns_pair_loss", good, seed=2, quiet=True)
    fails_with(
        "ch03.sgns_pair_loss", lambda v, u, neg: -good(v, u, neg), "opposite sign", "minus sign"
    )

    def no_minus_inside(v, u, neg):  # pushes negatives *up*: the seeds' kind of sign slip
        return -F.logsigmoid(u @ v) - F.logsigmoid(neg @ v).sum()

    fails_with("ch03.sgns_pair_loss", no_minus_inside, "minus *inside* σ")


def test_pca_2d():
    assert check("ch03.pca_2d", lambda x: pca(x, k=2)[0], seed=4, quiet=True)

    def pick_sign(x):  # one column flipped relative to the convention
        projected = pca(x, k=2)[0]
        return projected * torch.tensor([1.0, -1.0])

    fails_with("ch03.pca_2d", pick_sign, "sign of a column")
    swapped = lambda x: pca(x, k=2)[0].flip(1)  # noqa: E731
    fails_with("ch03.pca_2d", swapped, "columns are swapped")

    def not_centred(x):
        _, _, vh = torch.linalg.svd(x, full_matrices=False)
        return x @ vh[:2].T

    fails_with("ch03.pca_2d", not_centred, "centre the data first")
