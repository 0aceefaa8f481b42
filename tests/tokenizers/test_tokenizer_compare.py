"""compare_tokenizers: ids are exactly each tokenizer's encode(), pieces its id_to_token(), and
the story-world character tokenizer covers the bilingual corpus and maps the rest to <unk>."""

from __future__ import annotations

from hypothesis import given, settings
from tricky_text import any_text

from lmkit.data import StoryWorld
from lmkit.tokenizers import ByteBPETokenizer, CharTokenizer
from lmkit.tokenizers.compare import compare_tokenizers, story_char_tokenizer

BPE = ByteBPETokenizer.train("the cat sat on the mat. 我喜欢吃苹果。" * 5, vocab_size=280)


def test_story_char_tokenizer_knows_every_story_character_and_not_emoji():
    tokenizer = story_char_tokenizer()
    text = StoryWorld(seed=7).corpus(5, "en") + StoryWorld(seed=7).corpus(5, "zh")
    ids = tokenizer.encode(text)
    assert tokenizer.unk_id not in ids and tokenizer.decode(ids) == text
    assert tokenizer.encode("🍎") == [tokenizer.unk_id]


@given(any_text)
@settings(max_examples=80, deadline=None)
def test_ids_and_pieces_are_each_tokenizers_own(text):
    tokenizers = {"char": story_char_tokenizer(), "bpe": BPE}
    results = compare_tokenizers(text, tokenizers)
    assert [r.name for r in results] == ["char", "bpe"]
    for result, tokenizer in zip(results, tokenizers.values(), strict=True):
        assert list(result.ids) == tokenizer.encode(text)
        assert list(result.pieces) == [tokenizer.id_to_token(i) for i in result.ids]
        assert result.count == len(result.ids)
        unk = tokenizer.unk_id
        assert result.unknown == (result.ids.count(unk) if unk is not None else 0)


def test_special_token_text_typed_by_a_user_stays_ordinary_text():
    char = CharTokenizer.train("<|endoftext|>ab", ["<|endoftext|>"])
    (result,) = compare_tokenizers("a<|endoftext|>", {"c": char})
    assert char.special_tokens["<|endoftext|>"] not in result.ids
    assert result.count == len("a<|endoftext|>")


def test_bad_arguments_are_refused():
    import pytest

    from lmkit.errors import InputError

    with pytest.raises(InputError):
        compare_tokenizers(b"bytes", {"bpe": BPE})
    with pytest.raises(InputError):
        compare_tokenizers("text", {})
