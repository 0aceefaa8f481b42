"""Two small models built on recurrent layers: a token language model and a sequence classifier.

Introduced in chapter 5. Both are embedding → RNN/LSTM/GRU (:mod:`lmkit.basics.rnn_layers`, or
torch.nn's fused version with ``backend="torch"``) → a linear head; they differ in what the
head reads: every step's output (next-token prediction) or each sequence's last real state
(one label per sequence).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.basics.rnn_cells import GATES
from lmkit.basics.rnn_layers import GRU, LSTM, RNN
from lmkit.decoding.sampling import sample_next_token
from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int

__all__ = ["RecurrentLM", "SequenceClassifier"]

_SEQUENCE_TYPES = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def _make_recurrent(
    cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float, backend: str
) -> nn.Module:
    if cell not in GATES:
        raise ConfigError(f"cell must be one of {tuple(GATES)}, got {cell!r}.")
    if backend not in ("lmkit", "torch"):
        raise ConfigError(
            f"backend must be 'lmkit' (the from-scratch loops) or 'torch' (torch.nn's fused kernels), got {backend!r}."
        )
    types = (
        _SEQUENCE_TYPES if backend == "lmkit" else {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
    )
    return types[cell](
        input_size, hidden_size, num_layers=num_layers, batch_first=True, dropout=dropout
    )


def _check_ids(idx: object, vocab_size: int) -> torch.Tensor:
    if not isinstance(idx, torch.Tensor) or idx.dtype not in (torch.int64, torch.int32):
        raise InputError(
            f"idx must be a LongTensor of token ids, got {getattr(idx, 'dtype', type(idx).__name__)}."
        )
    if idx.dim() != 2 or idx.shape[1] == 0:
        raise InputError(f"idx must have shape (batch, seq_len >= 1), got {tuple(idx.shape)}.")
    if idx.numel() and (idx.min() < 0 or idx.max() >= vocab_size):
        raise InputError(
            f"token ids must be in [0, {vocab_size}), got min {int(idx.min())}, max {int(idx.max())}."
        )
    return idx.long()


class RecurrentLM(nn.Module):
    """Next-token model: embedding → RNN/LSTM/GRU layers → linear head. Introduced in chapter 5.

    ``forward(idx, targets)`` returns ``(logits, loss)`` like :class:`lmkit.gpt.model.GPT`;
    :meth:`run` also hands back the recurrent state, which is all the model remembers.
    ``backend="torch"`` swaps in torch.nn's fused layer; the parameter names are the same, so a
    state dict trained with one backend loads into the other.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        *,
        embed_dim: int | None = None,
        dropout: float = 0.0,
        backend: str = "lmkit",
    ) -> None:
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size, minimum=1)
        embed_dim = hidden_size if embed_dim is None else embed_dim
        embed_dim = check_int("embed_dim", embed_dim, minimum=1)
        self.cell, self.backend = cell, backend
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.rnn = _make_recurrent(
            cell,
            embed_dim,
            check_int("hidden_size", hidden_size, minimum=1),
            check_int("num_layers", num_layers, minimum=1),
            dropout,
            backend,
        )
        self.head = nn.Linear(hidden_size, vocab_size)

    def run(self, idx: torch.Tensor, state: object = None) -> tuple[torch.Tensor, object]:
        """Logits (B, T, V) for every position, and the state after the last one."""
        idx = _check_ids(idx, self.vocab_size)
        out, state = self.rnn(self.embed(idx), state)  # (B, T, H)
        return self.head(out), state

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """``(logits, loss)``; ``loss`` is the mean cross-entropy, or None without targets."""
        logits, _ = self.run(idx)
        if targets is None:
            return logits, None
        if not isinstance(targets, torch.Tensor) or targets.shape != idx.shape:
            raise InputError(
                f"targets must have the shape of idx {tuple(idx.shape)}, got {getattr(targets, 'shape', targets)!r}."
            )
        loss = F.cross_entropy(logits.reshape(-1, self.vocab_size), targets.reshape(-1).long())
        return logits, loss

    @torch.no_grad()
    def generate(
        self,
        prompt_ids: Sequence[int],
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> list[int]:
        """Continue ``prompt_ids`` by ``max_new_tokens`` sampled tokens (0 temperature = greedy).

        Each new token costs one recurrent step: the state carries the whole past.
        """
        ids = list(prompt_ids)
        if not ids:
            raise InputError("prompt_ids is empty: give at least one token to start from.")
        max_new_tokens = check_int("max_new_tokens", max_new_tokens)
        was_training = self.training
        self.eval()
        device = self.head.weight.device
        logits, state = self.run(torch.tensor([ids], device=device))
        new: list[int] = []
        for _ in range(max_new_tokens):
            next_id = sample_next_token(
                logits[0, -1], temperature=temperature, top_k=top_k, generator=generator
            )
            new.append(int(next_id))
            logits, state = self.run(next_id.view(1, 1), state)
        self.train(was_training)
        return new


class SequenceClassifier(nn.Module):
    """Embedding → RNN/LSTM/GRU → the last real step's hidden state → one logit per class.

    Introduced in chapter 5. The head has ``num_classes`` outputs (not one per vocabulary word),
    and each sequence is summarised by its state after its *own* last token, so right padding
    does not change the prediction.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int = 2,
        *,
        embed_dim: int = 64,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
        dropout: float = 0.0,
        backend: str = "lmkit",
    ) -> None:
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size, minimum=1)
        self.num_classes = check_int("num_classes", num_classes, minimum=1)
        if self.num_classes < 2:
            raise ConfigError(f"A classifier needs at least 2 classes, got {num_classes}.")
        self.backend = backend
        self.embed = nn.Embedding(vocab_size, check_int("embed_dim", embed_dim, minimum=1))
        self.rnn = _make_recurrent(
            cell,
            embed_dim,
            check_int("hidden_size", hidden_size, minimum=1),
            check_int("num_layers", num_layers, minimum=1),
            dropout,
            backend,
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, num_classes) for right-padded ``ids`` (B, T) with true ``lengths`` (B,)."""
        ids = _check_ids(ids, self.vocab_size)
        x = self.embed(ids)  # (B, T, E)
        if lengths is not None:
            lengths = torch.as_tensor(lengths).cpu()
            if (
                lengths.shape != (ids.shape[0],)
                or lengths.is_floating_point()
                or (lengths < 1).any()
                or (lengths > ids.shape[1]).any()
            ):
                raise InputError(
                    f"lengths must hold one integer in [1, {ids.shape[1]}] per sequence, got {lengths.tolist()}."
                )
        if self.backend == "torch" and lengths is not None:
            x = nn.utils.rnn.pack_padded_sequence(
                x, lengths, batch_first=True, enforce_sorted=False
            )
            _, state = self.rnn(x)
        elif self.backend == "torch":
            _, state = self.rnn(x)
        else:
            _, state = self.rnn(x, lengths=lengths)
        h_n = state[0] if isinstance(state, tuple) else state  # (layers, B, H)
        return self.head(self.drop(h_n[-1]))  # (B, num_classes)
