"""Right-padding: turn token-id lists of different lengths into one rectangular batch.

Introduced in chapter 5. A batch of texts becomes one ``(B, T)`` tensor by appending
``pad_id`` to every row shorter than the longest (or than ``width``). The mask says which
positions are real tokens (1) and which are padding (0), so attention and pooling can ignore
the padding and a classifier can find each row's last real token.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from lmkit.errors import InputError
from lmkit.validators import check_int, is_int

__all__ = ["pad_right"]


def _row(index: int, row: object) -> torch.Tensor | list[int]:
    """Row ``index`` as a 1-D integer tensor or a list of ints; InputError otherwise."""
    if isinstance(row, torch.Tensor):
        if row.dim() != 1 or row.is_floating_point() or row.is_complex() or row.dtype == torch.bool:
            raise InputError(
                f"Sequence {index} must be a 1-D tensor of integer token ids, got a "
                f"{row.dim()}-D {str(row.dtype).replace('torch.', '')} tensor."
            )
        return row
    if isinstance(row, (str, bytes)) or not isinstance(row, Iterable):
        raise InputError(
            f"Sequence {index} must be a list of integer token ids, got {type(row).__name__}. "
            "Encode text with a tokenizer first."
        )
    ids = list(row)
    bad = next((i for i in ids if not is_int(i)), None)
    if bad is not None:
        raise InputError(f"Sequence {index} holds {bad!r}; token ids must be integers.")
    return [int(i) for i in ids]


def pad_right(
    sequences: Sequence[Sequence[int] | torch.Tensor],
    pad_id: int,
    *,
    width: int | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token-id rows to ``(ids, mask)``, both ``(B, T)`` LongTensors.

    ``sequences`` holds lists of ints or 1-D integer tensors; ``T`` is ``width`` if given,
    else the longest row. ``mask[b, t]`` is 1 where ``ids[b, t]`` is a real token and 0 where it
    is ``pad_id``. The tensors go on ``device``, else on the first tensor row's device, else
    the CPU. Introduced in chapter 5.

    >>> ids, mask = pad_right([[5, 6, 7], [8]], pad_id=0)
    >>> ids.tolist(), mask.tolist()
    ([[5, 6, 7], [8, 0, 0]], [[1, 1, 1], [1, 0, 0]])
    """
    if isinstance(sequences, (str, bytes, torch.Tensor)) or not isinstance(sequences, Sequence):
        raise InputError(
            f"sequences must be a list of token-id lists, got {type(sequences).__name__}."
        )
    if len(sequences) == 0:
        raise InputError("sequences is empty: a batch needs at least one sequence.")
    pad_id = check_int("pad_id", pad_id)
    rows = [_row(i, row) for i, row in enumerate(sequences)]
    longest = max(len(row) for row in rows)
    if width is None:
        width = longest
    width = check_int("width", width)
    if longest > width:
        index = next(i for i, row in enumerate(rows) if len(row) > width)
        raise InputError(
            f"Sequence {index} has {len(rows[index])} tokens, more than width={width}. "
            "Truncate it first or pass a larger width."
        )
    if device is None:
        device = next((row.device for row in rows if isinstance(row, torch.Tensor)), "cpu")
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros(len(rows), width, dtype=torch.long, device=device)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = torch.as_tensor(row, dtype=torch.long, device=device)
        mask[r, : len(row)] = 1
    return ids, mask
