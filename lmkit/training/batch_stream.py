"""Batches that come from an iterator, one after the other, for the Trainer.

Introduced in chapter 9, where BERT is pretrained on freshly masked, length-grouped batches
of whole stories: dicts such as ``{"input_ids", "attention_mask", "labels"}`` that the model
takes as keyword arguments (``model(**batch).loss``). Unlike :class:`~lmkit.training.batching.LMBatches`,
whose batch ``i`` is a pure function of ``i``, a stream can only go forward: it serves each
batch once, in order, to a single process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int

__all__ = ["BatchStream"]


class BatchStream:
    """The batches of ``batches`` (dicts of tensors, or ``(x, y)`` pairs), in order.

    ``batch_size`` is the number of examples per batch, for the Trainer's checks and its
    examples-per-second; ``block_size`` is ``None`` because batches may differ in length.
    Introduced in chapter 9.
    """

    block_size = None

    def __init__(self, batches: Iterable[Any], batch_size: int) -> None:
        self._batches = iter(batches)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self._last: tuple[int, int] | None = None  # (step, micro_step) served last

    def __repr__(self) -> str:
        return f"BatchStream(batch_size={self.batch_size}, last={self._last})"

    def batch(self, step: int, micro_step: int = 0, rank: int = 0, world_size: int = 1) -> Any:
        """The next batch; ``(step, micro_step)`` must follow the one asked for before."""
        if world_size != 1 or rank != 0:
            raise ConfigError(
                "A BatchStream feeds a single process; under torchrun use LMBatches, whose "
                "batches every process can cut its share from."
            )
        position = (step, micro_step)
        if (self._last is None and position != (0, 0)) or (
            self._last is not None and position <= self._last
        ):
            raise InputError(
                f"A BatchStream serves each batch once, in order: batch {position} was asked "
                f"for after {self._last or 'none'}. It cannot be rewound, evaluated on twice or "
                "resumed from a checkpoint; build a new stream and train from step 0."
            )
        try:
            batch = next(self._batches)
        except StopIteration:
            raise InputError(
                f"The BatchStream ran out of batches at step {step}; give it an endless "
                "iterator or no more steps than it has batches."
            ) from None
        self._last = position
        return batch
