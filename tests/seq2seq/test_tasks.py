"""The text-to-text front end: task tags, the tokenizer, guards and the Translation it returns."""

from __future__ import annotations

import pytest
import torch

import lmkit
from lmkit.errors import ConfigError, InputError
from lmkit.seq2seq.config import Seq2SeqConfig
from lmkit.seq2seq.decoding import greedy
from lmkit.seq2seq.model import Seq2SeqTransformer
from lmkit.seq2seq.tasks import (
    TASK_TAGS,
    encode_source,
    encode_target,
    seq2seq_tokenizer,
    summarize,
    translate,
)


@pytest.fixture(scope="module")
def tokenizer():
    return seq2seq_tokenizer(lmkit.load("tiny-bert", device="cpu").tokenizer)


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    config = Seq2SeqConfig(
        vocab_size=tokenizer.vocab_size, d_model=16, n_heads=2, n_encoder_layers=1,
        n_decoder_layers=1, d_ff=32, max_source_len=24, max_target_len=12,
        pad_id=tokenizer.pad_id, bos_id=tokenizer.cls_id, eos_id=tokenizer.sep_id,
    )  # fmt: skip
    return Seq2SeqTransformer(config).eval()


def test_the_tokenizer_keeps_tiny_berts_ids_and_adds_the_tags(tokenizer):
    base = lmkit.load("tiny-bert", device="cpu").tokenizer
    text = "Anna cooked a cake for Jack. 安娜给杰克做了一个蛋糕。"
    assert tokenizer.encode(text) == base.encode(text)
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text
    tags = [tokenizer.special_tokens[t] for t in TASK_TAGS.values()]
    assert tags == [base.vocab_size, base.vocab_size + 1, base.vocab_size + 2]
    assert tokenizer.vocab_size == base.vocab_size + 3


def test_sources_and_targets_have_their_tags(tokenizer):
    src = encode_source(tokenizer, " Tom went home. ", "zh-en", 24)
    assert src[0] == tokenizer.special_tokens["<zh-en>"] and src[-1] == tokenizer.sep_id
    assert tokenizer.decode(src[1:-1]) == "Tom went home."
    tgt = encode_target(tokenizer, "汤姆回家了。")
    assert tgt[0] == tokenizer.cls_id and tgt[-1] == tokenizer.sep_id


def test_translation_carries_tokens_and_cross_attention(model, tokenizer):
    out = translate(model, tokenizer, "Tom went home.", "en-zh", max_new_tokens=6)
    src = encode_source(tokenizer, "Tom went home.", "en-zh", 24)
    assert out.source_tokens == [tokenizer.id_to_token(i) for i in src]
    ids = greedy(
        model, src, 6, banned_ids=[tokenizer.special_tokens[t] for t in TASK_TAGS.values()]
    ).ids
    assert out.target_tokens == [tokenizer.id_to_token(i) for i in ids]
    assert out.text == tokenizer.decode(ids)
    assert out.cross_attention.shape == (len(ids), len(src))
    torch.testing.assert_close(out.cross_attention.sum(-1), torch.ones(len(ids)))
    beam = summarize(model, tokenizer, "Tom went home.", beam_size=3, max_new_tokens=6)
    assert beam.cross_attention.shape == (len(beam.target_tokens), len(src))


def test_bad_requests_are_clear_errors(model, tokenizer):
    with pytest.raises(InputError, match="empty"):
        translate(model, tokenizer, "   ")
    with pytest.raises(InputError, match="at most 22"):
        translate(model, tokenizer, "Tom went home. " * 20)
    with pytest.raises(InputError, match="direction"):
        translate(model, tokenizer, "Tom went home.", direction="en-fr")
    for beam_size in (0, 17, 2.5, True):
        with pytest.raises(ConfigError, match="beam_size"):
            summarize(model, tokenizer, "Tom went home.", beam_size=beam_size)
    plain = lmkit.load("tiny-bert", device="cpu").tokenizer
    with pytest.raises(ConfigError, match="no <en-zh> token"):
        translate(model, plain, "Tom went home.")
