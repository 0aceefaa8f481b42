"""Sentence embeddings from the pretrained MiniLM encoder that ships with lmkit (offline).

Introduced in chapter 3. ``all-MiniLM-L6-v2`` is a 6-layer BERT-style encoder trained so that
sentences with similar meaning get nearby vectors. One sentence becomes one vector in three
steps, which :func:`encode_sentences` writes out with plain ``transformers``:

1. run the encoder: one 384-dimensional vector per token, shape (B, T, 384);
2. **mean pooling**: average the token vectors, ignoring padding (the attention mask);
3. **L2 normalisation**: scale to length 1, so a dot product *is* the cosine similarity.

``backend="sentence-transformers"`` runs the same model through the sentence-transformers
library instead; chapter 3 checks that the two agree. The model is English-only: most Chinese
characters are not in its WordPiece vocabulary and become ``[UNK]``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from lmkit._optional import require
from lmkit.basics.word_vectors import cosine_matrix
from lmkit.errors import ConfigError, InputError
from lmkit.minilm.loader import load_minilm, minilm_folder
from lmkit.validators import check_int

__all__ = ["encode_sentences", "mean_pool", "similarity_matrix"]

_PURPOSE = "compute sentence embeddings with the offline MiniLM model"
_LOADED: dict[str, Any] = {}  # sentence-transformers pipelines, per device


def _max_length(folder: Path) -> int:
    # sentence-transformers truncates at this length (256 for this model); we do the same.
    with open(folder / "sentence_bert_config.json", encoding="utf-8") as handle:
        return int(json.load(handle)["max_seq_length"])


def _sentence_transformer(device: torch.device) -> Any:
    st = require("sentence_transformers", _PURPOSE)
    key = str(device)
    if key not in _LOADED:
        _LOADED[key] = st.SentenceTransformer(
            str(minilm_folder(_PURPOSE)), device=str(device), local_files_only=True
        )
    return _LOADED[key]


def mean_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors where ``attention_mask`` is 1: (B, T, H), (B, T) → (B, H)."""
    if token_embeddings.dim() != 3 or attention_mask.shape != token_embeddings.shape[:2]:
        raise InputError(
            "mean_pool needs token embeddings (B, T, H) and a mask (B, T); got "
            f"{tuple(token_embeddings.shape)} and {tuple(attention_mask.shape)}."
        )
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)  # (B, T, 1)
    total = (token_embeddings * mask).sum(dim=1)  # padding contributes zero
    count = mask.sum(dim=1).clamp_min(1e-9)  # (B, 1)
    return total / count


def _check_texts(texts: str | Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, Sequence) or len(texts) == 0:
        raise InputError("texts must be a non-empty list of strings.")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise InputError(
            f"every text must be a str; item {bad[0]} is {type(texts[bad[0]]).__name__}."
        )
    return list(texts)


@torch.no_grad()
def encode_sentences(
    texts: str | Sequence[str],
    *,
    batch_size: int = 32,
    normalize: bool = True,
    backend: str = "transformers",
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """One vector per text, shape (N, 384), float32 on the CPU; unit length when ``normalize``.

    ``backend`` is ``"transformers"`` (tokenize → encoder → :func:`mean_pool` → L2 norm, written
    out here) or ``"sentence-transformers"`` (the library's own pipeline, for comparison).
    """
    from lmkit.device import pick_device

    texts = _check_texts(texts)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if backend == "sentence-transformers":
        model = _sentence_transformer(pick_device(device))
        out = model.encode(
            texts, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=normalize
        )
        return out.float().cpu()
    if backend != "transformers":
        raise ConfigError(
            f"backend must be 'transformers' or 'sentence-transformers', got {backend!r}."
        )
    tokenizer, model = load_minilm(device, purpose=_PURPOSE)
    max_length = _max_length(minilm_folder(_PURPOSE))
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        hidden = model(**batch).last_hidden_state  # (B, T, 384)
        pooled = mean_pool(hidden, batch["attention_mask"])  # (B, 384)
        chunks.append(F.normalize(pooled, p=2, dim=-1) if normalize else pooled)
    return torch.cat(chunks).float().cpu()


def similarity_matrix(embeddings: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between every pair of rows of ``embeddings`` (N, D): an (N, N) matrix."""
    return cosine_matrix(embeddings)
