"""Chapter 3 exercises: cosine similarity, the SGNS loss of one pair, GloVe's weight, PCA."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmkit.exercises.core import Case, Exercise, register


def _as_float_tensor(value):
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


# ---------------------------------------------------------------- cosine similarity
def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a @ b) / (a.norm() * b.norm()))


def _cosine_cases(gen: torch.Generator) -> list[Case]:
    d = int(torch.randint(3, 9, (1,), generator=gen))
    a = torch.randn(d, generator=gen)
    eye = torch.eye(d)
    return [
        Case((eye[0], eye[1]), "two different one-hot vectors"),
        Case((a, 3.0 * a), "a vector and the same vector times 3"),
        Case((a, -a), "a vector and its negative"),
        Case((a * 10, torch.randn(d, generator=gen) * 10), f"two random {d}-d vectors, long"),
        Case((torch.randn(d, generator=gen), torch.randn(d, generator=gen)), "random vectors"),
    ]


def _cosine_diagnose(expected, got, args: tuple) -> str | None:
    value = _as_float_tensor(got)
    if value is not None and value.numel() == 1 and abs(float(value)) > 1 + 1e-6:
        return (
            "a cosine similarity always lies in [-1, 1]; a bigger value means the dot product "
            "was not divided by both vector lengths."
        )
    return None


register(
    Exercise(
        id="ch03.cosine_similarity",
        title="cosine similarity of two vectors",
        kind="function",
        reference=_cosine,
        make_cases=_cosine_cases,
        hints=("cos(a, b) = (a · b) / (‖a‖ ‖b‖); torch.linalg.norm or a.norm() gives ‖a‖.",),
        diagnose=_cosine_diagnose,
    )
)


# ---------------------------------------------------------------- SGNS loss of one pair
def _sgns_pair(v_c: torch.Tensor, u_o: torch.Tensor, u_neg: torch.Tensor) -> float:
    return float(-F.logsigmoid(u_o @ v_c) - F.logsigmoid(-(u_neg @ v_c)).sum())


def _sgns_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, k, scale in (
        ("K=1 negative", 1, 0.5),
        ("K=5 negatives", 5, 0.5),
        ("K=3, large vectors", 3, 3.0),
    ):
        d = int(torch.randint(2, 7, (1,), generator=gen))
        cases.append(
            Case(
                (
                    torch.randn(d, generator=gen) * scale,
                    torch.randn(d, generator=gen) * scale,
                    torch.randn(k, d, generator=gen) * scale,
                ),
                label,
            )
        )
    return cases


def _sgns_diagnose(expected, got, args: tuple) -> str | None:
    value = _as_float_tensor(got)
    if value is not None and value.numel() == 1 and float(value) < 0:
        return (
            "the loss is a sum of −log σ(·) terms and each one is positive; a negative loss "
            "means a minus sign went missing (we *minimise* −log σ)."
        )
    return None


register(
    Exercise(
        id="ch03.sgns_pair_loss",
        title="skip-gram negative-sampling loss for one (center, context) pair",
        kind="function",
        reference=_sgns_pair,
        make_cases=_sgns_cases,
        hints=(
            "loss = −log σ(u_o·v_c) − Σ_k log σ(−u_k·v_c): note the minus *inside* σ for the "
            "negatives. torch.nn.functional.logsigmoid computes log σ stably.",
        ),
        diagnose=_sgns_diagnose,
    )
)


# ---------------------------------------------------------------- GloVe weighting function
def _glove_weight(x: torch.Tensor, x_max: float, alpha: float) -> torch.Tensor:
    return torch.clamp((x / x_max) ** alpha, max=1.0)


def _glove_cases(gen: torch.Generator) -> list[Case]:
    below = torch.rand(6, generator=gen) * 90 + 0.5
    mixed = torch.tensor([0.5, 1.0, 10.0, 100.0, 250.0, 1000.0])
    return [
        Case((below, 100.0, 0.75), "counts below x_max=100"),
        Case((mixed, 100.0, 0.75), "counts below and above x_max=100"),
        Case((torch.rand(5, generator=gen) * 20 + 1, 10.0, 0.5), "x_max=10, alpha=0.5"),
    ]


def _glove_diagnose(expected, got, args: tuple) -> str | None:
    value = _as_float_tensor(got)
    if value is not None and value.numel() and float(value.max()) > 1 + 1e-6:
        return "f(x) is capped at 1: counts above x_max must all get weight exactly 1."
    return None


register(
    Exercise(
        id="ch03.glove_weight",
        title="GloVe's weighting function f(x)",
        kind="function",
        reference=_glove_weight,
        make_cases=_glove_cases,
        hints=("f(x) = (x / x_max)^alpha when x < x_max, else 1 (torch.clamp(..., max=1)).",),
        diagnose=_glove_diagnose,
    )
)


# ---------------------------------------------------------------- PCA to two dimensions
def _pca_2d(x: torch.Tensor) -> torch.Tensor:
    centred = x - x.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    projected = centred @ vh[:2].T  # (N, 2)
    biggest = projected.abs().argmax(dim=0)
    signs = torch.sign(projected[biggest, torch.arange(2)])
    return projected * signs


def _pca_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, n, d in (
        ("8 points in 4-d", 8, 4),
        ("12 points in 6-d", 12, 6),
        ("20 points in 3-d", 20, 3),
    ):
        # Distinct variances per direction, and an offset, so centring matters.
        scales = torch.tensor([5.0, 2.0] + [0.5] * (d - 2))
        x = torch.randn(n, d, generator=gen) * scales
        rotation, _ = torch.linalg.qr(torch.randn(d, d, generator=gen))
        cases.append(Case((x @ rotation + 3.0,), label))
    return cases


def _pca_diagnose(expected, got, args: tuple) -> str | None:
    value = _as_float_tensor(got)
    if value is None or value.shape != expected.shape:
        return None
    expected = expected.double()
    if torch.allclose(value.abs(), expected.abs(), atol=1e-4, rtol=1e-4):
        return (
            "right up to the sign of a column: an SVD only fixes each direction up to ±. Flip each "
            "column so its entry of largest magnitude is positive."
        )
    if torch.allclose(value.abs(), expected.flip(1).abs(), atol=1e-4, rtol=1e-4):
        return "your two columns are swapped: the first column must be the top principal component."
    return None


register(
    Exercise(
        id="ch03.pca_2d",
        title="project points onto their top two principal components",
        kind="function",
        reference=_pca_2d,
        make_cases=_pca_cases,
        rtol=1e-4,
        atol=1e-4,
        hints=(
            "centre the data first (subtract the column means), take torch.linalg.svd, project "
            "onto the first two rows of Vh, then fix each column's sign.",
        ),
        diagnose=_pca_diagnose,
    )
)
