"""BERT masking (15%, 80/10/10) checked statistically with fixed generators, and fill_mask."""

from __future__ import annotations

import math

import pytest
import torch

from lmkit.bert.mlm import MaskCandidate, fill_mask, mask_tokens
from lmkit.bert.model import BertConfig, BertForMaskedLM, BertForSequenceClassification
from lmkit.data import StoryWorld
from lmkit.errors import ConfigError, InputError
from lmkit.tokenizers.bert_bpe import BertBPETokenizer

VOCAB, PAD, CLS, SEP, MASK = 50, 0, 1, 2, 3
SPECIAL = (PAD, CLS, SEP, MASK)


def sample_batch(rows: int = 400, width: int = 60, seed: int = 0) -> torch.Tensor:
    """[CLS] ordinary tokens [SEP] [PAD]…: each row has 50 ordinary tokens and 8 pads."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, VOCAB, (rows, width), generator=g)
    ids[:, 0], ids[:, 51] = CLS, SEP
    ids[:, 52:] = PAD
    return ids


def masked(ids: torch.Tensor, seed: int = 0, **kwargs):
    return mask_tokens(
        ids, mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL,
        generator=torch.Generator().manual_seed(seed), **kwargs,
    )  # fmt: skip


def within(observed: float, p: float, n: int, sigmas: float = 5.0) -> bool:
    return abs(observed - p) <= sigmas * math.sqrt(p * (1 - p) / n)


def test_rates_follow_berts_rule():
    ids = sample_batch()
    out = masked(ids)
    ordinary = ids >= 4
    n_ordinary = int(ordinary.sum())  # 20,000
    picked = out.labels != -100
    assert within(picked.sum().item() / n_ordinary, 0.15, n_ordinary)
    n_picked = int(picked.sum())
    became_mask = (out.input_ids == MASK) & picked
    changed = (out.input_ids != ids) & picked & ~became_mask
    kept = (out.input_ids == ids) & picked
    # A random token equals the original with probability 1/46 (46 ordinary ids).
    assert within(became_mask.sum().item() / n_picked, 0.8, n_picked)
    assert within(changed.sum().item() / n_picked, 0.1 * (1 - 1 / 46), n_picked)
    assert within(kept.sum().item() / n_picked, 0.1 + 0.1 / 46, n_picked)


def test_labels_hold_the_originals_and_nothing_else_changes():
    ids = sample_batch(rows=50)
    before = ids.clone()
    out = masked(ids, seed=4)
    assert torch.equal(ids, before)  # the input is left alone
    picked = out.labels != -100
    assert torch.equal(out.labels[picked], ids[picked])
    assert torch.equal(out.input_ids[~picked], ids[~picked])


def test_special_and_padding_tokens_are_never_picked_or_drawn():
    ids = sample_batch(rows=200)
    out = masked(ids, seed=7, mask_prob=1.0, replace_prob=0.0, random_prob=1.0)
    special = ids < 4
    assert torch.all(out.labels[special] == -100)
    assert torch.equal(out.input_ids[special], ids[special])
    assert torch.all(out.input_ids[~special] >= 4)  # random draws are ordinary tokens
    everything = masked(ids, seed=7, mask_prob=1.0, replace_prob=1.0, random_prob=0.0)
    assert torch.all(everything.input_ids[~special] == MASK)


def test_rows_and_positions_are_picked_evenly():
    out = masked(sample_batch(), seed=11)
    per_position = (out.labels[:, 1:51] != -100).float().mean(0)  # 400 rows per position
    assert per_position.min() > 0.15 - 5 * math.sqrt(0.15 * 0.85 / 400)
    assert per_position.max() < 0.15 + 5 * math.sqrt(0.15 * 0.85 / 400)


def test_a_fixed_generator_repeats_and_another_seed_differs():
    ids = sample_batch(rows=20)
    a, b, c = masked(ids, seed=1), masked(ids, seed=1), masked(ids, seed=2)
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.labels, c.labels)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mask_prob": 1.5}, ConfigError, "mask_prob"),
        ({"replace_prob": 0.95, "random_prob": 0.1}, ConfigError, "<= 1"),
        ({"mask_id": 9}, ConfigError, "mask_id"),
        ({"special_ids": range(VOCAB)}, ConfigError, "Every id is special"),
    ],
)
def test_bad_settings(kwargs, error, match):
    settings = {"mask_id": MASK, "vocab_size": VOCAB, "special_ids": SPECIAL, **kwargs}
    with pytest.raises(error, match=match):
        mask_tokens(sample_batch(rows=2), **settings)


def test_bad_ids():
    with pytest.raises(InputError, match="B, T"):
        mask_tokens(torch.tensor([5, 6]), mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL)
    with pytest.raises(InputError, match=r"\[0, 50\)"):
        mask_tokens(torch.tensor([[5, 60]]), mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL)


# ---------------------------------------------------------------- fill_mask
@pytest.fixture(scope="module")
def model_and_tokenizer():
    tokenizer = BertBPETokenizer.train_bert(StoryWorld(0).corpus(6, "both"), 300)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, max_position=32, n_layer=1, n_head=2, n_embd=16,
        intermediate=32, dropout=0.0, pad_id=tokenizer.pad_id,
    )  # fmt: skip
    return BertForMaskedLM(config).eval(), tokenizer


def test_fill_mask_returns_the_models_top_k_for_each_blank(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    text = "Tom went to the [MASK] and ate an [MASK]."
    result = fill_mask(model, tokenizer, text, top_k=4)
    assert len(result) == 2 and all(len(r) == 4 for r in result)
    # The same thing computed by hand: the space before [MASK] belongs to the hidden word.
    ids = [tokenizer.cls_id]
    for piece in ("Tom went to the", "[MASK]", " and ate an", "[MASK]", "."):
        ids += (
            [tokenizer.mask_id]
            if piece == "[MASK]"
            else tokenizer.encode(piece, add_special_tokens=False)
        )
    ids.append(tokenizer.sep_id)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    logits[:, list(tokenizer.special_tokens.values())] = float("-inf")
    probs = logits.softmax(-1)
    for blank, position in zip(
        result, [i for i, t in enumerate(ids) if t == tokenizer.mask_id], strict=True
    ):
        expected = torch.topk(probs[position], 4)
        assert [c.token_id for c in blank] == expected.indices.tolist()
        assert [c.probability for c in blank] == pytest.approx(expected.values.tolist())
        assert all(
            isinstance(c, MaskCandidate) and c.token == tokenizer.decode([c.token_id])
            for c in blank
        )
        assert all(c.token_id not in tokenizer.special_tokens.values() for c in blank)
    assert not model.training


def test_fill_mask_accepts_a_loaded_model(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer

    class Loaded:  # what lmkit.load returns, as far as fill_mask cares
        pass

    loaded = Loaded()
    loaded.model, loaded.tokenizer = model, tokenizer
    assert fill_mask(loaded, "我喜欢吃[MASK]。") == fill_mask(model, tokenizer, "我喜欢吃[MASK]。")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("Tom went to the park.", "no \\[MASK\\] token"),
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("word " * 40 + "[MASK]", "at most 32"),
    ],
)
def test_fill_mask_bad_text(model_and_tokenizer, text, match):
    model, tokenizer = model_and_tokenizer
    with pytest.raises(InputError, match=match):
        fill_mask(model, tokenizer, text)


def test_fill_mask_needs_a_masked_lm_and_its_tokenizer(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    classifier = BertForSequenceClassification(
        BertConfig(**{**model.config.to_dict(), "labels": ["a", "b"]})
    )
    with pytest.raises(InputError, match="masked language model"):
        fill_mask(classifier, tokenizer, "a [MASK]")
    with pytest.raises(InputError, match="tokenizer"):
        fill_mask(model, None, "a [MASK]")
    with pytest.raises(ConfigError, match="top_k"):
        fill_mask(model, tokenizer, "a [MASK]", top_k=0)
