"""Chapter 3 exercises: build word2vec's pieces. The skip-gram training pairs, the CBOW loss of
one example, the SGNS loss of one pair, and PCA to two dimensions.

Introduced in chapter 3. ``diagnose`` rebuilds the usual slips on the failed case (pairs across
sentence boundaries, a window off by one, contexts summed instead of averaged, the minus inside
σ forgotten, a column's sign) and names the one the answer matches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmkit.exercises.core import Case, Exercise, register
from lmkit.exercises.feedback import matching_slip


def _as_float_tensor(value):
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


# ---------------------------------------------------------------- skip-gram training pairs
def _skipgram_pairs(
    sentences: list[list[int]], window: int, *, flatten: bool = False, one_side: bool = False
) -> list[tuple[int, int]]:
    if flatten:
        sentences = [[i for s in sentences for i in s]]
    pairs = []
    for sentence in sentences:
        for i, center in enumerate(sentence):
            for j in range(max(0, i - window), min(len(sentence), i + window + 1)):
                if j != i and not (one_side and j < i):
                    pairs.append((center, sentence[j]))
    return pairs


def _pairs_cases(gen: torch.Generator) -> list[Case]:
    cases = [
        Case(([[0, 1, 2, 3]], 1), "one sentence [0, 1, 2, 3], window 1"),
        Case(([[0, 1, 2], [3, 4]], 2), "two sentences [0, 1, 2] and [3, 4], window 2"),
        Case(([[5], [6, 7]], 3), "a one-word sentence (no pairs) and [6, 7], window 3"),
    ]
    for _ in range(2):
        sentences = [
            torch.randint(
                0, 9, (int(torch.randint(1, 7, (1,), generator=gen)),), generator=gen
            ).tolist()
            for _ in range(int(torch.randint(2, 5, (1,), generator=gen)))
        ]
        window = int(torch.randint(1, 4, (1,), generator=gen))
        cases.append(Case((sentences, window), f"random sentences {sentences}, window {window}"))
    return cases


def _pairs_diagnose(expected, got, args: tuple) -> str | None:
    sentences, window = args
    if not isinstance(got, list):
        return None
    got = [tuple(p) for p in got]
    slips = [
        (
            _skipgram_pairs(sentences, window, flatten=True),
            "your pairs cross from one sentence into the next; pairs never cross a sentence "
            "boundary, so work sentence by sentence.",
        ),
        (
            _skipgram_pairs(sentences, window, one_side=True),
            "only contexts to the right were paired; a centre's context is on both sides.",
        ),
        (
            _skipgram_pairs(sentences, window - 1),
            "the window is one too small: include distance window.",
        ),
        (
            _skipgram_pairs(sentences, window + 1),
            "the window is one too large: stop at distance window.",
        ),
    ]
    for wrong, explanation in slips:
        if got == wrong and wrong != expected:
            return explanation
    if sorted(got) == sorted(expected):
        return (
            "the right pairs in another order: go sentence by sentence, centre by centre, and "
            "for each centre take its contexts from left to right."
        )
    return None


register(
    Exercise(
        id="ch03.skipgram_pairs",
        title="the (centre, context) pairs skip-gram trains on",
        kind="function",
        reference=_skipgram_pairs,
        make_cases=_pairs_cases,
        hints=(
            "for each sentence, each position i, each j in range(max(0, i - window), "
            "min(len(s), i + window + 1)) with j != i: append (s[i], s[j]).",
        ),
        diagnose=_pairs_diagnose,
    )
)


# ---------------------------------------------------------------- the CBOW loss of one example
def _cbow_loss(in_vectors, out_vectors, context_ids, center_id, negative_ids) -> torch.Tensor:
    h = in_vectors[context_ids].mean(dim=0)
    return (
        -F.logsigmoid(out_vectors[center_id] @ h)
        - F.logsigmoid(-(out_vectors[negative_ids] @ h)).sum()
    )


def _cbow_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, vocab, dim, n_context, k in (
        ("vocabulary 6, 2 context words, K=1", 6, 3, 2, 1),
        ("vocabulary 10, 4 context words, K=3", 10, 5, 4, 3),
        ("vocabulary 12, 3 context words, K=5", 12, 4, 3, 5),
    ):
        ids = torch.randperm(vocab, generator=gen)
        cases.append(
            Case(
                (
                    torch.randn(vocab, dim, generator=gen, dtype=torch.float64),
                    torch.randn(vocab, dim, generator=gen, dtype=torch.float64),
                    ids[:n_context],
                    int(ids[n_context]),
                    torch.randint(0, vocab, (k,), generator=gen),
                ),
                label,
            )
        )
    return cases


def _cbow_diagnose(expected, got, args: tuple) -> str | None:
    v_in, u_out, context, center, negatives = args
    h = v_in[context].mean(dim=0)

    def loss(h, table=u_out, inside=-1.0):
        return (
            -F.logsigmoid(table[center] @ h) - F.logsigmoid(inside * (table[negatives] @ h)).sum()
        )

    return matching_slip(
        got,
        [
            (
                loss(v_in[context].sum(dim=0)),
                "you summed the context vectors; CBOW averages them (mean over the window).",
            ),
            (
                loss(h, table=v_in),
                "the scores use the input table; score h against the output vectors u.",
            ),
            (loss(h, inside=1.0), "the noise words need a minus *inside* σ: log σ(−u_k · h)."),
            (-loss(h), "the sign is flipped: the loss is −log σ(…), a positive number."),
        ],
    )


register(
    Exercise(
        id="ch03.cbow_loss",
        title="CBOW with negative sampling: the loss of one example",
        kind="function",
        reference=_cbow_loss,
        make_cases=_cbow_cases,
        hints=(
            "h = in_vectors[context_ids].mean(0); loss = −log σ(u_center · h) − Σ_k log σ(−u_k · h), "
            "with u rows of out_vectors.",
        ),
        diagnose=_cbow_diagnose,
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
