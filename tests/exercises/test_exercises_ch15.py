"""Chapter 15 exercises: lmkit.tasks.pii's own functions and independent references (SciPy's
exact permutation test) pass; typical slips get the feedback designed for them."""

from __future__ import annotations

import re

import pytest
from exercise_asserts import fails_with

from lmkit.exercises import check
from lmkit.tasks.pii import cn_id_check_char, luhn_valid, redact


def test_luhn_valid():
    assert check("ch15.luhn_valid", luhn_valid, seed=0, quiet=True)
    assert check("ch15.luhn_valid", luhn_valid, seed=7, quiet=True)

    def from_left(number):
        total = 0
        for i, c in enumerate(number):
            v = int(c) * (2 if i % 2 else 1)
            total += v - 9 if v > 9 else v
        return total % 10 == 0

    fails_with("ch15.luhn_valid", from_left, "from the")


def test_cn_id_check_digit():
    assert check("ch15.cn_id_check_digit", cn_id_check_char, seed=0, quiet=True)
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]

    def remainder(first17):
        r = sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11
        return "X" if r == 10 else str(r)

    fails_with("ch15.cn_id_check_digit", remainder, "remainder")


def test_redact_emails():
    def with_lmkit(text):  # lmkit redacts every kind; the cases hold e-mails only
        return redact(text, "[{kind}]")

    assert check("ch15.redact_emails", with_lmkit, seed=0, quiet=True)
    fails_with("ch15.redact_emails", lambda t: re.sub(r"\S+@\S+", "[EMAIL]", t), "swallows")


def test_permutation_p_value_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    import numpy as np

    def with_scipy(a, b):
        result = stats.permutation_test(
            (np.array(a), np.array(b)),
            lambda x, y: np.mean(x) - np.mean(y),
            permutation_type="independent",
            alternative="two-sided",
            n_resamples=np.inf,
        )
        return float(result.pvalue)

    def with_scipy_abs(a, b):  # SciPy's two-sided = 2 × the smaller tail; ours counts |diff|
        result = stats.permutation_test(
            (np.array(a), np.array(b)),
            lambda x, y: abs(np.mean(x) - np.mean(y)),
            permutation_type="independent",
            alternative="greater",
            n_resamples=np.inf,
        )
        return float(result.pvalue)

    assert check("ch15.permutation_p_value", with_scipy_abs, seed=0, quiet=True)
    assert check("ch15.permutation_p_value", with_scipy_abs, seed=3, quiet=True)

    def one_sided(a, b):
        result = stats.permutation_test(
            (np.array(a), np.array(b)), lambda x, y: np.mean(x) - np.mean(y),
            permutation_type="independent", alternative="greater", n_resamples=np.inf,
        )  # fmt: skip
        return float(result.pvalue)

    fails_with("ch15.permutation_p_value", one_sided, "one-sided")
    assert with_scipy([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(0.1)


def test_detector_f1():
    assert check("ch15.detector_f1", 2 * (34 / 40) * (34 / 50) / (34 / 40 + 34 / 50), quiet=True)
    fails_with("ch15.detector_f1", 34 / 40, "precision")
    fails_with("ch15.detector_f1", (34 / 40 + 34 / 50) / 2, "harmonic")
