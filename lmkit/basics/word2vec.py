"""word2vec from scratch: skip-gram with negative sampling (SGNS).

Introduced in chapter 3. SGNS (Mikolov et al., 2013) walks over (center, context) pairs and,
for each, maximises ``log σ(u_oᵀ v_c) + Σ_k log σ(−u_kᵀ v_c)``: the true context word ``o``
should score high, ``K`` noise words drawn from the unigram distribution raised to the power
0.75 should score low. The hand-derived gradients sit next to the loss so the chapter (and the
tests) can check them against autograd. GloVe, the count-based alternative, is in
:mod:`lmkit.basics.glove`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.basics.vocabulary import Vocabulary, _flatten
from lmkit.basics.word_vectors import WordVectors
from lmkit.device import pick_device
from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int, check_number

__all__ = [
    "SkipGram",
    "noise_distribution",
    "sgns_gradients",
    "sgns_loss",
    "skipgram_pairs",
    "subsample",
    "train_skipgram",
]


# ---------------------------------------------------------------- (center, context) pairs
def subsample(
    sentences: Sequence[Sequence[int]],
    counts: torch.Tensor,
    threshold: float = 1e-3,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Randomly drop frequent words: word ``w`` is kept with probability ``min(1, √(t / f(w)))``.

    ``f(w)`` is the word's share of all tokens. Very common words ("the", "was") carry little
    information about their neighbours, and dropping some of them also widens the windows.
    """
    ids, owner = _flatten(sentences)
    mask = _keep_mask(ids, counts, threshold, generator)
    kept = torch.bincount(owner[mask], minlength=len(sentences)).tolist()
    return [chunk.tolist() for chunk in torch.split(ids[mask], kept)]


def _keep_mask(
    ids: torch.Tensor, counts: torch.Tensor, threshold: float, generator: torch.Generator | None
) -> torch.Tensor:
    threshold = check_number("threshold", threshold, minimum=0, above=True)
    freq = counts.double() / counts.sum()
    keep = torch.clamp(torch.sqrt(threshold / freq), max=1.0)
    return torch.rand(len(ids), generator=generator, dtype=torch.float64) < keep[ids]


def skipgram_pairs(
    sentences: Sequence[Sequence[int]], window: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (center, context) pair with the context at most ``window`` words away.

    Returns two (P,) id tensors. Pairs never cross a sentence boundary.
    """
    window = check_int("window", window, minimum=1)
    return _pairs(*_flatten(sentences), window)


def _pairs(
    ids: torch.Tensor, owner: torch.Tensor, window: int
) -> tuple[torch.Tensor, torch.Tensor]:
    centers, contexts = [], []
    for d in range(1, window + 1):
        same = owner[:-d] == owner[d:]
        left, right = ids[:-d][same], ids[d:][same]
        centers += [left, right]  # each pair counts in both directions
        contexts += [right, left]
    if sum(len(c) for c in centers) == 0:
        raise InputError("The sentences are too short to form any (center, context) pair.")
    return torch.cat(centers), torch.cat(contexts)


def noise_distribution(counts: torch.Tensor, power: float = 0.75) -> torch.Tensor:
    """Unigram counts raised to ``power`` and normalised: where SGNS draws negative words.

    The 3/4 power lifts rare words a little compared with their raw frequency.
    """
    counts = torch.as_tensor(counts, dtype=torch.float64)
    if counts.dim() != 1 or (counts < 0).any() or counts.sum() <= 0:
        raise InputError("counts must be a 1-D tensor of non-negative numbers with a positive sum.")
    weights = counts**power
    return weights / weights.sum()


# ---------------------------------------------------------------- skip-gram with negative sampling
def sgns_loss(
    v_center: torch.Tensor,
    u_context: torch.Tensor,
    u_negative: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """Negative SGNS objective: ``−[log σ(u_oᵀv_c) + Σ_k log σ(−u_kᵀv_c)]`` per pair.

    Shapes: ``v_center`` and ``u_context`` (B, D), ``u_negative`` (B, K, D). ``reduction`` is
    "mean", "sum" or "none" (one loss per pair).
    """
    if v_center.dim() != 2 or u_context.shape != v_center.shape:
        raise InputError(
            f"v_center and u_context must both be (B, D); got {tuple(v_center.shape)} and "
            f"{tuple(u_context.shape)}."
        )
    if (
        u_negative.dim() != 3
        or u_negative.shape[0] != v_center.shape[0]
        or u_negative.shape[2] != v_center.shape[1]
    ):
        raise InputError(
            f"u_negative must be (B, K, D) = ({v_center.shape[0]}, K, {v_center.shape[1]}); got {tuple(u_negative.shape)}."
        )
    positive = (u_context * v_center).sum(-1)  # (B,)
    negative = torch.einsum("bkd,bd->bk", u_negative, v_center)  # (B, K)
    # logsigmoid is the stable way to write log(σ(s)); it never takes log(0).
    per_pair = -(F.logsigmoid(positive) + F.logsigmoid(-negative).sum(-1))
    if reduction == "mean":
        return per_pair.mean()
    if reduction == "sum":
        return per_pair.sum()
    if reduction == "none":
        return per_pair
    raise ConfigError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")


def sgns_gradients(
    v_center: torch.Tensor, u_context: torch.Tensor, u_negative: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hand-derived gradients of the per-pair SGNS loss (``reduction="sum"``).

    With ``s_o = u_oᵀv_c`` and ``s_k = u_kᵀv_c`` (using ``d/ds log σ(s) = 1 − σ(s)``):
    ``∂ℓ/∂v_c = (σ(s_o) − 1) u_o + Σ_k σ(s_k) u_k``, ``∂ℓ/∂u_o = (σ(s_o) − 1) v_c``,
    ``∂ℓ/∂u_k = σ(s_k) v_c``. Returns gradients shaped like the three inputs.
    """
    sgns_loss(v_center, u_context, u_negative)  # validates shapes
    s_o = (u_context * v_center).sum(-1, keepdim=True)  # (B, 1)
    s_k = torch.einsum("bkd,bd->bk", u_negative, v_center).unsqueeze(-1)  # (B, K, 1)
    grad_v = (torch.sigmoid(s_o) - 1) * u_context + (torch.sigmoid(s_k) * u_negative).sum(1)
    grad_uo = (torch.sigmoid(s_o) - 1) * v_center
    grad_uk = torch.sigmoid(s_k) * v_center.unsqueeze(1)
    return grad_v, grad_uo, grad_uk


class SkipGram(nn.Module):
    """Two embedding tables: ``center`` (the v vectors we keep) and ``context`` (the u vectors)."""

    def __init__(self, vocab_size: int, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.center = nn.Embedding(
            check_int("vocab_size", vocab_size, minimum=1), check_int("dim", dim, minimum=1)
        )
        self.context = nn.Embedding(vocab_size, dim)
        with torch.no_grad():  # small random centers, zero contexts: the word2vec starting point
            self.center.weight.uniform_(-0.5 / dim, 0.5 / dim, generator=generator)
            self.context.weight.zero_()

    def forward(
        self, centers: torch.Tensor, contexts: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        """Mean SGNS loss of a batch: ids (B,), (B,) and (B, K)."""
        return sgns_loss(self.center(centers), self.context(contexts), self.context(negatives))


# ---------------------------------------------------------------- training
def train_skipgram(
    sentences: Sequence[Sequence[str]],
    vocab: Vocabulary,
    *,
    dim: int = 32,
    window: int = 2,
    negatives: int = 5,
    epochs: int = 3,
    batch_size: int = 1024,
    lr: float = 0.01,
    subsample_threshold: float | None = None,
    seed: int = 0,
    device: str | torch.device | None = "cpu",
) -> tuple[WordVectors, list[float]]:
    """Train SGNS with Adam on mini-batches of pairs; returns the center vectors and the mean loss
    of each epoch. ``subsample_threshold`` (e.g. 1e-3) turns on frequent-word subsampling."""
    dim = check_int("dim", dim, minimum=1)
    negatives = check_int("negatives", negatives, minimum=1)
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lr = check_number("lr", lr, minimum=0, above=True)
    device = pick_device(device)
    generator = torch.Generator().manual_seed(seed)
    ids, owner = _flatten(vocab.encode(sentences))
    counts = vocab.count_tensor()
    noise = noise_distribution(counts).float()
    model = SkipGram(len(vocab), dim, generator).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        if subsample_threshold:
            keep = _keep_mask(ids, counts, subsample_threshold, generator)
            centers, contexts = _pairs(ids[keep], owner[keep], window)
        else:
            centers, contexts = _pairs(ids, owner, window)
        order = torch.randperm(len(centers), generator=generator)
        total, seen = 0.0, 0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            noise_ids = torch.multinomial(
                noise, len(batch) * negatives, replacement=True, generator=generator
            )
            loss = model(
                centers[batch].to(device),
                contexts[batch].to(device),
                noise_ids.view(len(batch), negatives).to(device),
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
            seen += len(batch)
        history.append(total / seen)
    return WordVectors(vocab, model.center.weight.detach().cpu()), history
