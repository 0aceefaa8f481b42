"""Semantic search: embed documents once, then rank them by cosine similarity to a query.

Introduced in chapter 3, after sentence embeddings; the app's Embeddings page searches the
built-in FAQ (:mod:`lmkit.data.faq`) with it. Vectors are unit length, so the cosine
similarity of a query and a document is a plain dot product.

:class:`SemanticIndex` also keeps a 2-D PCA of the document vectors, so a query can be placed
on the same map as the documents (:meth:`SemanticIndex.project`). The projection is fitted on
the documents only; the query is mapped with the same centre and directions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lmkit.basics.word_vectors import pca
from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int

__all__ = ["SearchHit", "SemanticIndex", "faq_index"]

Encoder = Callable[[list[str]], torch.Tensor]


@dataclass(frozen=True)
class SearchHit:
    """One result: the document's position in the index, its text, and the cosine score."""

    index: int
    text: str
    score: float


class SemanticIndex:
    """Documents and their unit-length embeddings, searchable by meaning.

    ``encode`` turns a list of texts into an ``(N, D)`` tensor (by default MiniLM's
    :func:`lmkit.minilm.embeddings.encode_sentences`); tests may pass any function.
    """

    def __init__(self, texts: Sequence[str], encode: Encoder | None = None) -> None:
        texts = list(texts)
        if len(texts) < 2 or not all(isinstance(t, str) and t.strip() for t in texts):
            raise InputError("A search index needs at least two non-empty document texts.")
        if encode is None:
            from lmkit.minilm.embeddings import encode_sentences

            def encode(batch: list[str]) -> torch.Tensor:
                return encode_sentences(batch, device="cpu")

        self._encode = encode
        self.texts = texts
        self.vectors = self._embed(texts)
        if self.vectors.shape[0] != len(texts):
            raise ConfigError(
                f"encode returned {self.vectors.shape[0]} vectors for {len(texts)} texts."
            )
        self.points, self._components, self.explained = pca(self.vectors, k=2)
        self._mean = self.vectors.mean(dim=0, keepdim=True)

    def _embed(self, texts: list[str]) -> torch.Tensor:
        vectors = torch.as_tensor(self._encode(texts), dtype=torch.float32).detach().cpu()
        if vectors.dim() != 2:
            raise ConfigError(f"encode must return (N, D) vectors, got {tuple(vectors.shape)}.")
        return F.normalize(vectors, p=2, dim=-1)

    def embed_query(self, query: str) -> torch.Tensor:
        """The unit-length vector of one query, ``(D,)``."""
        if not isinstance(query, str) or not query.strip():
            raise InputError("The query is empty: type a question to search for.")
        return self._embed([query])[0]

    def scores(self, query: str) -> torch.Tensor:
        """Cosine similarity of the query to every document, ``(N,)``, in index order."""
        return self.vectors @ self.embed_query(query)

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """The ``k`` documents most similar to ``query``, best first (ties: lower index first)."""
        k = check_int("k", k, minimum=1)
        scores = self.scores(query)
        # A stable sort on the negated scores keeps equal scores in index order.
        order = torch.sort(-scores, stable=True).indices[:k].tolist()
        return [SearchHit(i, self.texts[i], float(scores[i])) for i in order]

    def project(self, query: str) -> torch.Tensor:
        """Where ``query`` falls on the documents' 2-D PCA map, ``(2,)``."""
        return ((self.embed_query(query)[None] - self._mean) @ self._components.T)[0]


def faq_index(encode: Encoder | None = None) -> SemanticIndex:
    """A :class:`SemanticIndex` over the built-in FAQ (:data:`lmkit.data.faq.FAQ`), in its order.

    Each entry is embedded as its question followed by its answer: the answer's extra words
    help a paraphrase that shares little with the question itself (measured on hand-written
    paraphrases in the tests). ``hit.index`` points into ``FAQ``; show ``FAQ[hit.index]``.
    """
    from lmkit.data.faq import FAQ

    return SemanticIndex([f"{entry.question} {entry.answer}" for entry in FAQ], encode)
