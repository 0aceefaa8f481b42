"""Cut a long stream of token ids into (input, target) batches for next-token prediction.

Introduced in chapter 8. Every batch is a pure function of ``(seed, step, micro_step)``: no
hidden iterator state. That is what makes resuming from a checkpoint exact (step 500 after a
restart draws the same windows as step 500 in an uninterrupted run) and what lets several
processes in data-parallel training agree on one global batch without talking to each other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int

__all__ = ["LMBatches", "split_train_val"]


def _as_token_array(tokens: object, name: str = "tokens") -> np.ndarray:
    """A 1-D integer NumPy view of ``tokens`` (no copy for tensors on the CPU or arrays)."""
    if isinstance(tokens, torch.Tensor):
        if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
            raise InputError(f"{name} must hold integer token ids, got a {tokens.dtype} tensor.")
        array = tokens.detach().cpu().numpy()
    elif isinstance(tokens, np.ndarray):
        array = tokens
    elif isinstance(tokens, Sequence) and not isinstance(tokens, (str, bytes)):
        array = np.asarray(tokens)
        if array.size == 0:
            array = array.astype(np.int64)
    else:
        raise InputError(
            f"{name} must be a 1-D LongTensor, a NumPy integer array or a list of ints, "
            f"got {type(tokens).__name__}."
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise InputError(f"{name} must hold integer token ids, got dtype {array.dtype}.")
    if array.ndim != 1:
        raise InputError(
            f"{name} must be 1-D (one long stream of ids), got shape {tuple(array.shape)}. "
            "Concatenate your documents, e.g. with torch.cat or np.concatenate."
        )
    return array


class LMBatches:
    """Random ``block_size`` windows of a token stream, ``batch_size`` of them per batch.

    ``batch(step)`` returns ``x`` of shape ``(B, T)`` and ``y``, the same windows shifted one
    token to the right, so ``y[b, t]`` is the token that follows ``x[b, :t + 1]``. The windows
    are chosen by a generator seeded from ``(seed, step, micro_step)``.

    ``batch_size`` is the *global* batch of one micro-step: with ``world_size`` processes, rank
    ``r`` gets rows ``r * B/W … (r + 1) * B/W - 1`` of the very batch a single process draws.
    Introduced in chapter 8.
    """

    def __init__(
        self,
        tokens: torch.Tensor | np.ndarray | Sequence[int],
        block_size: int,
        batch_size: int,
        *,
        seed: int = 0,
    ) -> None:
        self.block_size = check_int("block_size", block_size, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.seed = check_int("seed", seed, 0)
        self.tokens = _as_token_array(tokens)
        needed = self.block_size + 1  # one window plus the token that follows it
        if len(self.tokens) < needed:
            raise InputError(
                f"Need at least block_size + 1 = {needed} tokens to cut one training window, "
                f"got {len(self.tokens)}. Use more text or a smaller block_size."
            )
        # Scanned once so a bad id fails here, not deep inside an embedding lookup.
        self.min_token_id = int(self.tokens.min())
        self.max_token_id = int(self.tokens.max())
        if self.min_token_id < 0:
            raise InputError(f"Token ids must be >= 0, found {self.min_token_id}.")

    @property
    def num_tokens(self) -> int:
        """How many tokens the stream holds."""
        return len(self.tokens)

    @property
    def tokens_per_batch(self) -> int:
        """Tokens in one global micro-batch, ``batch_size * block_size``."""
        return self.batch_size * self.block_size

    def __repr__(self) -> str:
        return (
            f"LMBatches(num_tokens={self.num_tokens}, block_size={self.block_size}, "
            f"batch_size={self.batch_size}, seed={self.seed})"
        )

    def window_starts(self, step: int, micro_step: int = 0) -> np.ndarray:
        """Start offsets of the ``batch_size`` windows of the global batch, shape ``(B,)``."""
        step = check_int("step", step, 0)
        micro_step = check_int("micro_step", micro_step, 0)
        rng = np.random.default_rng([self.seed, step, micro_step])
        # A window starting at i needs tokens i … i + block_size (inclusive) for its targets.
        return rng.integers(0, len(self.tokens) - self.block_size, size=self.batch_size)

    def batch(
        self, step: int, micro_step: int = 0, rank: int = 0, world_size: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``, both LongTensors of shape ``(batch_size // world_size, block_size)``."""
        world_size = check_int("world_size", world_size, 1)
        rank = check_int("rank", rank, 0)
        if rank >= world_size:
            raise ConfigError(f"rank must be < world_size ({world_size}), got {rank}.")
        if self.batch_size % world_size:
            raise ConfigError(
                f"batch_size ({self.batch_size}) must be divisible by the number of processes "
                f"({world_size}) so each gets an equal share of the global batch."
            )
        starts = self.window_starts(step, micro_step)
        per_rank = self.batch_size // world_size
        starts = starts[rank * per_rank : (rank + 1) * per_rank]
        offsets = np.arange(self.block_size + 1)
        windows = self.tokens[starts[:, None] + offsets]  # (B/W, T + 1)
        windows = torch.from_numpy(windows.astype(np.int64, copy=False))
        x = windows[:, :-1].contiguous()  # (B/W, T)
        y = windows[:, 1:].contiguous()  # (B/W, T)
        return x, y


def split_train_val(
    tokens: torch.Tensor | np.ndarray | Sequence[int], val_fraction: float = 0.1
) -> tuple:
    """Split a token stream into ``(train, val)``: the last ``val_fraction`` goes to validation.

    A contiguous tail (not random tokens) so that no validation window overlaps training text.
    Returns slices of the same type as ``tokens``. Introduced in chapter 8.
    """
    array = _as_token_array(tokens)
    if (
        isinstance(val_fraction, bool)
        or not isinstance(val_fraction, (int, float))
        or not 0.0 < val_fraction < 1.0
    ):
        raise ConfigError(f"val_fraction must be strictly between 0 and 1, got {val_fraction!r}.")
    n_train = int(len(array) * (1.0 - val_fraction))
    if n_train < 1 or n_train >= len(array):
        raise InputError(
            f"Cannot split {len(array)} tokens with val_fraction={val_fraction}: one side would "
            "be empty. Use more tokens or a val_fraction closer to 0.5."
        )
    if isinstance(tokens, (torch.Tensor, np.ndarray)):
        return tokens[:n_train], tokens[n_train:]
    return list(tokens[:n_train]), list(tokens[n_train:])
