"""Language-model batches: shifted windows of one token stream, a pure function of seed, step and
micro-step, split across ranks; the train/validation split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmkit.errors import ConfigError, InputError
from lmkit.training.batching import LMBatches, split_train_val

VOCAB, BLOCK = 30, 16


def tokens(n: int = 600, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (n,), generator=torch.Generator().manual_seed(seed))


def test_batches_are_shifted_windows_of_the_stream() -> None:
    stream = tokens(200)
    data = LMBatches(stream, block_size=8, batch_size=5, seed=1)
    x, y = data.batch(3)
    assert x.shape == y.shape == (5, 8) and x.dtype == y.dtype == torch.long
    for start, row_x, row_y in zip(data.window_starts(3), x, y, strict=True):
        assert torch.equal(row_x, stream[start : start + 8])
        assert torch.equal(row_y, stream[start + 1 : start + 9])


def test_batches_are_a_pure_function_of_seed_step_and_micro_step() -> None:
    data = LMBatches(tokens(), BLOCK, 4, seed=7)
    again = LMBatches(tokens(), BLOCK, 4, seed=7)
    assert torch.equal(data.batch(5, 1)[0], again.batch(5, 1)[0])
    assert not torch.equal(data.batch(5, 0)[0], data.batch(6, 0)[0])
    assert not torch.equal(data.batch(5, 0)[0], data.batch(5, 1)[0])
    assert not torch.equal(data.batch(5)[0], LMBatches(tokens(), BLOCK, 4, seed=8).batch(5)[0])


def test_ranks_split_the_single_process_batch() -> None:
    data = LMBatches(tokens(), BLOCK, 6, seed=2)
    x, y = data.batch(4, 1)
    parts = [data.batch(4, 1, rank=r, world_size=3) for r in range(3)]
    assert torch.equal(torch.cat([p[0] for p in parts]), x)
    assert torch.equal(torch.cat([p[1] for p in parts]), y)


def test_numpy_and_torch_streams_give_the_same_batches() -> None:
    stream = tokens()
    a = LMBatches(stream, BLOCK, 3, seed=4).batch(2)
    b = LMBatches(stream.numpy().astype(np.uint16), BLOCK, 3, seed=4).batch(2)
    assert torch.equal(a[0], b[0]) and b[0].dtype == torch.long


def test_batching_rejects_bad_input() -> None:
    with pytest.raises(InputError, match=r"Need at least block_size \+ 1 = 17 tokens.*got 10"):
        LMBatches(tokens(10), BLOCK, 2)
    with pytest.raises(InputError, match="integer token ids"):
        LMBatches(torch.rand(100), BLOCK, 2)
    with pytest.raises(InputError, match="must be 1-D"):
        LMBatches(tokens(100).view(10, 10), 4, 2)
    with pytest.raises(InputError, match="must be >= 0"):
        LMBatches(torch.tensor([-1] + [1] * 40), 4, 2)
    with pytest.raises(InputError, match="1-D LongTensor"):
        LMBatches("some text", 4, 2)
    with pytest.raises(ConfigError, match="block_size must be an integer >= 1"):
        LMBatches(tokens(), 0, 2)
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1"):
        LMBatches(tokens(), 4, 2.5)
    data = LMBatches(tokens(), 4, 4)
    with pytest.raises(ConfigError, match="divisible by the number of processes"):
        data.batch(0, world_size=3)
    with pytest.raises(ConfigError, match="rank must be < world_size"):
        data.batch(0, rank=2, world_size=2)
    with pytest.raises(ConfigError, match="step must be an integer >= 0"):
        data.batch(-1)


def test_split_train_val() -> None:
    stream = tokens(100)
    train, val = split_train_val(stream, 0.1)
    assert torch.equal(torch.cat([train, val]), stream) and len(val) == 10
    train_list, val_list = split_train_val(list(range(10)), 0.3)
    assert train_list == list(range(7)) and val_list == [7, 8, 9]
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        split_train_val(stream, 1.0)
    with pytest.raises(InputError, match="one side would be empty"):
        split_train_val([5], 0.1)
