"""GloVe from scratch: word vectors fitted to a co-occurrence matrix.

Introduced in chapter 3. GloVe (Pennington et al., 2014) first counts a co-occurrence matrix
``X`` (each pair weighted by 1/distance), then fits ``wᵢᵀ w̃ⱼ + bᵢ + b̃ⱼ ≈ log Xᵢⱼ`` by weighted
least squares, with weight ``f(x) = min(1, (x / x_max)^α)``. The hand-derived gradients sit next
to the loss so the chapter (and the tests) can check them against autograd. The matrix is dense,
which is fine for a few thousand words. Skip-gram, the prediction-based alternative, is in
:mod:`lmkit.basics.word2vec`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lmkit.basics.vocabulary import Vocabulary, _flatten
from lmkit.basics.word_vectors import WordVectors
from lmkit.device import pick_device
from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int, check_number

__all__ = [
    "GloVe",
    "cooccurrence_matrix",
    "glove_gradients",
    "glove_loss",
    "glove_weight",
    "train_glove",
]

_MAX_DENSE_VOCAB = 20_000


# ---------------------------------------------------------------- counts, weights and the loss
def cooccurrence_matrix(
    sentences: Sequence[Sequence[int]],
    vocab_size: int,
    window: int = 5,
    *,
    distance_weighting: bool = True,
) -> torch.Tensor:
    """Symmetric (V, V) co-occurrence counts within ``window`` words; a pair d apart adds 1/d.

    ``distance_weighting=False`` adds 1 for every pair instead.
    """
    vocab_size = check_int("vocab_size", vocab_size, minimum=1)
    window = check_int("window", window, minimum=1)
    if vocab_size > _MAX_DENSE_VOCAB:
        raise ConfigError(
            f"vocab_size {vocab_size} is too large for a dense matrix (limit {_MAX_DENSE_VOCAB}); "
            "raise min_count or set max_size when building the vocabulary."
        )
    ids, owner = _flatten(sentences)
    if len(ids) and int(ids.max()) >= vocab_size:
        raise InputError(f"id {int(ids.max())} is out of range for vocab_size {vocab_size}.")
    counts = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)
    for d in range(1, window + 1):
        same = owner[:-d] == owner[d:]
        left, right = ids[:-d][same], ids[d:][same]
        weight = torch.full(
            (len(left),), 1.0 / d if distance_weighting else 1.0, dtype=torch.float64
        )
        counts.index_put_((left, right), weight, accumulate=True)
        counts.index_put_((right, left), weight, accumulate=True)
    return counts.float()


def glove_weight(x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """GloVe's weight ``f(x) = (x / x_max)^α``, capped at 1, so frequent pairs do not dominate."""
    x_max = check_number("x_max", x_max, minimum=0, above=True)
    alpha = check_number("alpha", alpha, minimum=0, above=True)
    x = torch.as_tensor(x)
    if (x < 0).any():
        raise InputError("co-occurrence counts must be >= 0.")
    return torch.clamp((x / x_max) ** alpha, max=1.0)


def _glove_residual(w_i, w_j, b_i, b_j, x, x_max, alpha):
    if (
        w_i.dim() != 2
        or w_j.shape != w_i.shape
        or b_i.shape != (w_i.shape[0],)
        or b_j.shape != b_i.shape
        or x.shape != b_i.shape
    ):
        raise InputError(
            "GloVe terms need w_i and w_j of shape (N, D) and b_i, b_j, x of shape (N,); got "
            f"{tuple(w_i.shape)}, {tuple(w_j.shape)}, {tuple(b_i.shape)}, {tuple(b_j.shape)}, {tuple(x.shape)}."
        )
    if (x <= 0).any():
        raise InputError(
            "GloVe sums only over pairs that co-occur: pass entries with X_ij > 0 (log 0 is -inf)."
        )
    residual = (w_i * w_j).sum(-1) + b_i + b_j - torch.log(x)  # (N,)
    return residual, glove_weight(x, x_max, alpha)


def glove_loss(
    w_i: torch.Tensor,
    w_j: torch.Tensor,
    b_i: torch.Tensor,
    b_j: torch.Tensor,
    x: torch.Tensor,
    *,
    x_max: float = 100.0,
    alpha: float = 0.75,
) -> torch.Tensor:
    """``Σ f(Xᵢⱼ) (wᵢᵀw̃ⱼ + bᵢ + b̃ⱼ − log Xᵢⱼ)²`` over N nonzero entries (rows already gathered)."""
    residual, weight = _glove_residual(w_i, w_j, b_i, b_j, x, x_max, alpha)
    return (weight * residual**2).sum()


def glove_gradients(
    w_i: torch.Tensor,
    w_j: torch.Tensor,
    b_i: torch.Tensor,
    b_j: torch.Tensor,
    x: torch.Tensor,
    *,
    x_max: float = 100.0,
    alpha: float = 0.75,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hand-derived gradients of :func:`glove_loss` per entry: with ``e`` the residual,
    ``∂/∂wᵢ = 2 f e w̃ⱼ``, ``∂/∂w̃ⱼ = 2 f e wᵢ``, ``∂/∂bᵢ = ∂/∂b̃ⱼ = 2 f e``."""
    residual, weight = _glove_residual(w_i, w_j, b_i, b_j, x, x_max, alpha)
    scale = 2 * weight * residual  # (N,)
    return scale[:, None] * w_j, scale[:, None] * w_i, scale, scale.clone()


class GloVe(nn.Module):
    """Word vectors ``w``, context vectors ``w̃`` and a bias for each; the result is ``w + w̃``."""

    def __init__(self, vocab_size: int, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        vocab_size = check_int("vocab_size", vocab_size, minimum=1)
        dim = check_int("dim", dim, minimum=1)
        scale = 0.5 / dim
        self.w = nn.Parameter((torch.rand(vocab_size, dim, generator=generator) - 0.5) * 2 * scale)
        self.w_tilde = nn.Parameter(
            (torch.rand(vocab_size, dim, generator=generator) - 0.5) * 2 * scale
        )
        self.b = nn.Parameter(torch.zeros(vocab_size))
        self.b_tilde = nn.Parameter(torch.zeros(vocab_size))

    def forward(
        self,
        rows: torch.Tensor,
        cols: torch.Tensor,
        x: torch.Tensor,
        *,
        x_max: float = 100.0,
        alpha: float = 0.75,
    ) -> torch.Tensor:
        """GloVe loss of the entries ``X[rows, cols] = x``."""
        return glove_loss(
            self.w[rows],
            self.w_tilde[cols],
            self.b[rows],
            self.b_tilde[cols],
            x,
            x_max=x_max,
            alpha=alpha,
        )

    def vectors(self) -> torch.Tensor:
        """``w + w̃`` (V, D): the sum works slightly better than either table (GloVe paper, §4.2)."""
        return (self.w + self.w_tilde).detach()


# ---------------------------------------------------------------- training
def train_glove(
    counts: torch.Tensor,
    vocab: Vocabulary,
    *,
    dim: int = 32,
    epochs: int = 50,
    batch_size: int = 4096,
    lr: float = 0.05,
    x_max: float = 100.0,
    alpha: float = 0.75,
    seed: int = 0,
    device: str | torch.device | None = "cpu",
) -> tuple[WordVectors, list[float]]:
    """Fit GloVe to a co-occurrence matrix with AdaGrad (as in the paper) on shuffled nonzero
    entries; returns the ``w + w̃`` vectors and the total loss of each epoch."""
    counts = torch.as_tensor(counts)
    if counts.dim() != 2 or counts.shape != (len(vocab), len(vocab)):
        raise InputError(
            f"counts must be ({len(vocab)}, {len(vocab)}) for this vocabulary, got {tuple(counts.shape)}."
        )
    dim, epochs, batch_size = (
        check_int("dim", dim, minimum=1),
        check_int("epochs", epochs, minimum=1),
        check_int("batch_size", batch_size, minimum=1),
    )
    lr = check_number("lr", lr, minimum=0, above=True)
    device = pick_device(device)
    generator = torch.Generator().manual_seed(seed)
    rows, cols = torch.nonzero(counts > 0, as_tuple=True)
    if len(rows) == 0:
        raise InputError("The co-occurrence matrix is all zeros: there is nothing to fit.")
    values = counts[rows, cols].float()
    model = GloVe(len(vocab), dim, generator).to(device)
    optimizer = torch.optim.Adagrad(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        order = torch.randperm(len(rows), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            loss = model(
                rows[batch].to(device),
                cols[batch].to(device),
                values[batch].to(device),
                x_max=x_max,
                alpha=alpha,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
        history.append(total)
    return WordVectors(vocab, model.vectors().cpu()), history
