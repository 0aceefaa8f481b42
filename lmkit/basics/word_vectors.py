"""Using word vectors: cosine similarity, nearest words, analogies and PCA for plotting.

Introduced in chapter 3. :class:`WordVectors` pairs a :class:`~lmkit.basics.vocabulary.Vocabulary`
with one vector per word, whichever method made them (:mod:`lmkit.basics.word2vec`,
:mod:`lmkit.basics.glove`, or any embedding table).
"""

from __future__ import annotations

import math

import torch

from lmkit.basics.vocabulary import Vocabulary
from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int

__all__ = ["WordVectors", "cosine_matrix", "cosine_similarity", "pca"]


def cosine_similarity(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``aᵀb / (‖a‖‖b‖)`` along the last dimension (broadcasting); a zero vector gives 0."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.shape[-1] != b.shape[-1]:
        raise InputError(f"vectors must have the same length, got {a.shape[-1]} and {b.shape[-1]}.")
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(eps)


def cosine_matrix(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """All pairwise cosine similarities between the rows of ``a`` (N, D) and ``b`` (M, D): (N, M)."""
    a = torch.as_tensor(a)
    b = a if b is None else torch.as_tensor(b)
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise InputError(
            f"need two (N, D) matrices with the same D, got {tuple(a.shape)} and {tuple(b.shape)}."
        )
    a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    b_unit = b / b.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return a_unit @ b_unit.T


def pca(x: torch.Tensor, k: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Principal component analysis via the SVD of the centred data.

    Returns ``(projected (N, k), components (k, D), explained_variance_ratio (k,))``. Each
    component's sign is chosen so that the largest-magnitude entry of its projected column is
    positive: an SVD only fixes directions up to sign, and this makes results repeatable.
    """
    x = torch.as_tensor(x)
    if x.dim() != 2 or x.shape[0] < 2:
        raise InputError(f"pca needs an (N, D) matrix with N >= 2, got shape {tuple(x.shape)}.")
    k = check_int("k", k, minimum=1)
    if k > min(x.shape):
        raise ConfigError(f"k={k} components need k <= min(N, D) = {min(x.shape)}.")
    centred = x - x.mean(dim=0, keepdim=True)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    components = vh[:k]  # (k, D)
    projected = centred @ components.T  # (N, k)
    biggest = projected.abs().argmax(dim=0)
    signs = torch.sign(projected[biggest, torch.arange(k)])
    signs[signs == 0] = 1
    variance = singular**2
    return projected * signs, components * signs[:, None], variance[:k] / variance.sum()


class WordVectors:
    """A vocabulary and one vector per word, with similarity look-ups."""

    def __init__(self, vocab: Vocabulary, vectors: torch.Tensor) -> None:
        if vectors.dim() != 2 or vectors.shape[0] != len(vocab):
            raise InputError(
                f"need one vector per word: {len(vocab)} words, vectors of shape {tuple(vectors.shape)}."
            )
        self.vocab = vocab
        self.vectors = vectors.float()
        self._unit = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def __getitem__(self, word: str) -> torch.Tensor:
        return self.vectors[self.vocab.id(word)]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self._unit[self.vocab.id(a)] @ self._unit[self.vocab.id(b)])

    def _nearest(self, query: torch.Tensor, exclude: set[int], k: int) -> list[tuple[str, float]]:
        scores = self._unit @ (query / query.norm().clamp_min(1e-12))
        if exclude:
            scores[list(exclude)] = -math.inf
        top = torch.topk(scores, min(check_int("k", k, minimum=1), len(self.vocab) - len(exclude)))
        return [
            (self.vocab.words[i], float(s)) for s, i in zip(top.values, top.indices, strict=True)
        ]

    def most_similar(self, word: str, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` nearest words by cosine similarity (the word itself excluded)."""
        index = self.vocab.id(word)
        return self._nearest(self._unit[index], {index}, k)

    def analogy(self, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
        """ "``a`` is to ``b`` as ``c`` is to ?": nearest words to ``b − a + c`` (inputs excluded)."""
        ia, ib, ic = (self.vocab.id(w) for w in (a, b, c))
        query = self._unit[ib] - self._unit[ia] + self._unit[ic]
        return self._nearest(query, {ia, ib, ic}, k)
