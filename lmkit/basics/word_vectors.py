"""Word vectors from scratch: skip-gram with negative sampling (word2vec) and GloVe.

Introduced in chapter 3. Both methods turn "words that appear in similar contexts" into "vectors
that point in similar directions", but they get there differently:

- **SGNS** (Mikolov et al., 2013) walks over (center, context) pairs and, for each, maximises
  ``log σ(u_oᵀ v_c) + Σ_k log σ(−u_kᵀ v_c)``: the true context word ``o`` should score high,
  ``K`` noise words drawn from the unigram distribution raised to the power 0.75 should score low.
- **GloVe** (Pennington et al., 2014) first counts a co-occurrence matrix ``X`` (each pair
  weighted by 1/distance), then fits ``wᵢᵀ w̃ⱼ + bᵢ + b̃ⱼ ≈ log Xᵢⱼ`` by weighted least squares,
  with weight ``f(x) = min(1, (x / x_max)^α)``.

Hand-derived gradients of both losses sit next to the losses so the chapter (and the tests) can
check them against autograd. Everything is sized for small corpora: the co-occurrence matrix is
dense, which is fine for a few thousand words.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.errors import ConfigError, InputError

__all__ = [
    "GloVe",
    "SkipGram",
    "Vocabulary",
    "WordVectors",
    "build_vocab",
    "cooccurrence_matrix",
    "cosine_matrix",
    "cosine_similarity",
    "glove_gradients",
    "glove_loss",
    "glove_weight",
    "noise_distribution",
    "pca",
    "sgns_gradients",
    "sgns_loss",
    "skipgram_pairs",
    "subsample",
    "tokenize_sentences",
    "train_glove",
    "train_skipgram",
]

_SENTENCE_END = re.compile(r"[.!?。！？\n]+")
# English words (lower-cased, with inner apostrophes) or single CJK characters.
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|[\u4e00-\u9fff]")
_MAX_DENSE_VOCAB = 20_000


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return value


def _positive_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{name} must be a number > 0, got {value!r}.")
    return float(value)


# ---------------------------------------------------------------- text → ids
def tokenize_sentences(text: str) -> list[list[str]]:
    """Split ``text`` into sentences of lower-cased words; each Chinese character is a word.

    Context windows never cross a sentence end, so the sentences are kept apart.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}.")
    sentences = [_WORD.findall(part.lower()) for part in _SENTENCE_END.split(text)]
    return [s for s in sentences if s]


@dataclass(frozen=True)
class Vocabulary:
    """Words sorted by frequency (ties alphabetically) with their counts."""

    words: tuple[str, ...]
    counts: tuple[int, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.words) != len(self.counts):
            raise ConfigError("words and counts must have the same length.")
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.words)})

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def id(self, word: str) -> int:
        """The id of ``word``; an unknown word raises :class:`InputError` with close matches."""
        if word not in self._index:
            close = difflib.get_close_matches(str(word), self.words, n=3)
            hint = f" Close words: {', '.join(close)}." if close else ""
            raise InputError(
                f"{word!r} is not in the vocabulary ({len(self)} words; rare words are dropped "
                f"by min_count).{hint}"
            )
        return self._index[word]

    def encode(self, sentences: Iterable[Sequence[str]]) -> list[list[int]]:
        """Map each sentence to ids, silently dropping words outside the vocabulary."""
        return [[self._index[w] for w in s if w in self._index] for s in sentences]

    def count_tensor(self) -> torch.Tensor:
        """The counts as a float tensor of shape (V,)."""
        return torch.tensor(self.counts, dtype=torch.float64)


def build_vocab(
    sentences: Iterable[Sequence[str]], *, min_count: int = 1, max_size: int | None = None
) -> Vocabulary:
    """Count words and keep those seen at least ``min_count`` times (at most ``max_size``)."""
    min_count = _positive_int("min_count", min_count)
    if max_size is not None:
        max_size = _positive_int("max_size", max_size)
    counts = Counter(w for s in sentences for w in s)
    kept = sorted(
        ((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0])
    )
    if max_size is not None:
        kept = kept[:max_size]
    if not kept:
        raise InputError(
            f"No word occurs at least min_count={min_count} times "
            f"({len(counts)} distinct words in total). Use more text or a lower min_count."
        )
    return Vocabulary(tuple(w for w, _ in kept), tuple(c for _, c in kept))


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
    threshold = _positive_float("threshold", threshold)
    freq = counts.double() / counts.sum()
    keep = torch.clamp(torch.sqrt(threshold / freq), max=1.0)
    return torch.rand(len(ids), generator=generator, dtype=torch.float64) < keep[ids]


def _flatten(sentences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([i for s in sentences for i in s], dtype=torch.long)
    owner = torch.repeat_interleave(
        torch.arange(len(sentences)), torch.tensor([len(s) for s in sentences])
    )
    return ids, owner


def skipgram_pairs(
    sentences: Sequence[Sequence[int]], window: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (center, context) pair with the context at most ``window`` words away.

    Returns two (P,) id tensors. Pairs never cross a sentence boundary.
    """
    window = _positive_int("window", window)
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
            _positive_int("vocab_size", vocab_size), _positive_int("dim", dim)
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


# ---------------------------------------------------------------- GloVe
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
    vocab_size = _positive_int("vocab_size", vocab_size)
    window = _positive_int("window", window)
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
    x_max, alpha = _positive_float("x_max", x_max), _positive_float("alpha", alpha)
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
        vocab_size, dim = _positive_int("vocab_size", vocab_size), _positive_int("dim", dim)
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
def _device(device: str | torch.device | None) -> torch.device:
    from lmkit.device import pick_device

    return pick_device(device)


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
    dim, negatives = _positive_int("dim", dim), _positive_int("negatives", negatives)
    epochs, batch_size = _positive_int("epochs", epochs), _positive_int("batch_size", batch_size)
    lr = _positive_float("lr", lr)
    device = _device(device)
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
        _positive_int("dim", dim),
        _positive_int("epochs", epochs),
        _positive_int("batch_size", batch_size),
    )
    lr = _positive_float("lr", lr)
    device = _device(device)
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


# ---------------------------------------------------------------- using the vectors
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
    k = _positive_int("k", k)
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
        top = torch.topk(scores, min(_positive_int("k", k), len(self.vocab) - len(exclude)))
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
