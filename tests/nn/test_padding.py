"""lmkit.nn.padding.pad_right: one right-padding helper for every batch of token ids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmkit.errors import ConfigError, InputError
from lmkit.nn.padding import pad_right


def test_rows_are_padded_on_the_right_with_a_mask_of_real_tokens():
    ids, mask = pad_right([[5, 6, 7], [8], [9, 10]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert ids.dtype == torch.long and mask.dtype == torch.long


def test_pad_id_fills_the_padding_and_width_sets_the_length():
    ids, mask = pad_right([[1, 2], [3]], pad_id=99, width=4)
    assert ids.tolist() == [[1, 2, 99, 99], [3, 99, 99, 99]]
    assert mask.tolist() == [[1, 1, 0, 0], [1, 0, 0, 0]]


def test_a_pad_id_that_is_also_a_real_token_is_still_masked_correctly():
    ids, mask = pad_right([[0, 0], [0]], pad_id=0)
    assert ids.tolist() == [[0, 0], [0, 0]]
    assert mask.tolist() == [[1, 1], [1, 0]]


def test_tensors_tuples_and_numpy_rows_are_accepted():
    ids, mask = pad_right(
        [torch.tensor([4, 5, 6]), (7,), np.array([8, 9], dtype=np.int64)], pad_id=1
    )
    assert ids.tolist() == [[4, 5, 6], [7, 1, 1], [8, 9, 1]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]


def test_empty_rows_are_all_padding():
    ids, mask = pad_right([[3], []], pad_id=2)
    assert ids.tolist() == [[3], [2]]
    assert mask.tolist() == [[1], [0]]


def test_output_follows_the_device_of_tensor_rows_or_the_device_argument():
    ids, mask = pad_right([[1]], pad_id=0)
    assert ids.device.type == "cpu" and mask.device.type == "cpu"
    ids, _ = pad_right([torch.tensor([1, 2])], pad_id=0, device="cpu")
    assert ids.device.type == "cpu"


def test_bad_batches_are_explained():
    with pytest.raises(InputError, match="sequences is empty"):
        pad_right([], pad_id=0)
    with pytest.raises(InputError, match="list of token-id lists"):
        pad_right("hello", pad_id=0)
    with pytest.raises(InputError, match="list of token-id lists"):
        pad_right(torch.tensor([[1, 2]]), pad_id=0)
    with pytest.raises(InputError, match=r"Sequence 1 holds 2\.5; token ids must be integers"):
        pad_right([[1], [2.5]], pad_id=0)
    with pytest.raises(InputError, match="Sequence 0 holds True"):
        pad_right([[True]], pad_id=0)
    with pytest.raises(InputError, match="Sequence 0 must be a list of integer token ids, got str"):
        pad_right(["abc"], pad_id=0)
    with pytest.raises(InputError, match="Sequence 0 must be a 1-D tensor of integer token ids"):
        pad_right([torch.tensor([1.0, 2.0])], pad_id=0)
    with pytest.raises(InputError, match="Sequence 0 must be a 1-D tensor"):
        pad_right([torch.tensor([[1, 2]])], pad_id=0)


def test_a_row_longer_than_width_is_refused():
    with pytest.raises(InputError, match="Sequence 1 has 3 tokens, more than width=2"):
        pad_right([[1], [1, 2, 3]], pad_id=0, width=2)


def test_bad_pad_id_and_width_are_explained():
    with pytest.raises(ConfigError, match="pad_id must be an integer >= 0, got -1"):
        pad_right([[1]], pad_id=-1)
    with pytest.raises(ConfigError, match=r"pad_id must be an integer >= 0, got 0\.0"):
        pad_right([[1]], pad_id=0.0)
    with pytest.raises(ConfigError, match="width must be an integer >= 0, got '3'"):
        pad_right([[1]], pad_id=0, width="3")
