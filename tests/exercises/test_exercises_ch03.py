"""Chapter 3 exercises: correct answers pass; typical mistakes get the feedback designed for them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from exercise_asserts import fails_with

from lmkit.basics.word_vectors import pca
from lmkit.exercises import check


def test_cosine_similarity():
    good = lambda a, b: (a @ b) / (a.norm() * b.norm())  # noqa: E731
    assert check("ch03.cosine_similarity", good, seed=1, quiet=True)
    assert check(
        "ch03.cosine_similarity", lambda a, b: F.cosine_similarity(a, b, dim=0), quiet=True
    )
    fails_with("ch03.cosine_similarity", lambda a, b: a @ b, "[-1, 1]", "divided by both")
    fails_with("ch03.cosine_similarity", lambda a, b: (a @ b) / a.norm() ** 2, "times 3")
    fails_with("ch03.cosine_similarity", lambda a, b: None, "forget a `return`")


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


def test_glove_weight():
    good = lambda x, x_max, alpha: torch.clamp((x / x_max) ** alpha, max=1.0)  # noqa: E731
    assert check("ch03.glove_weight", good, seed=3, quiet=True)
    uncapped = lambda x, x_max, alpha: (x / x_max) ** alpha  # noqa: E731
    result = fails_with("ch03.glove_weight", uncapped, "capped at 1")
    assert "x_max=100" in result.message  # fails on the case with counts above x_max
    fails_with("ch03.glove_weight", lambda x, x_max, alpha: (x / x_max) * alpha, "Values differ")


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
