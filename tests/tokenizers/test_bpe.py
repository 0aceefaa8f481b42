"""Byte-level BPE: independent reference implementations, round trips, files and errors."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from functools import cache
from itertools import pairwise

import pytest
from hypothesis import given, settings
from tricky_text import EOT, any_text

from lmkit.errors import ConfigError, InputError, TokenizerError
from lmkit.tokenizers import ByteBPETokenizer, CharTokenizer, load_tokenizer
from lmkit.tokenizers.bpe import DEFAULT_PATTERN

CORPUS = (
    "The quick brown fox jumps over the lazy dog. The dog doesn't mind; it's lazy!\n"
    "我喜欢吃苹果。苹果是一种水果。我也喜欢吃香蕉，香蕉也是水果。\n"
    "Numbers like 12345 and 2024 appear, as do emoji 😀😀 and café, naïve, über.\n"
    "  Indented   text\twith tabs\r\nand snake_case_names, URLs http://example.com/a?b=c.\n"
) * 3


@cache
def trained(vocab_size: int = 400, pattern: str | None = "default") -> ByteBPETokenizer:
    return ByteBPETokenizer.train(CORPUS, vocab_size, pattern=pattern, special_tokens=[EOT])


def chunks_of(text: str, pattern: str | None) -> list[str]:
    if pattern is None:
        return [text] if text else []
    return re.findall(pattern, text)


def naive_merge(ids: list[int], pair: tuple[int, int], new: int) -> list[int]:
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def naive_encode(tok: ByteBPETokenizer, text: str) -> list[int]:
    """Reference encoder: per chunk, merge the lowest-ranked pair present until none is left."""
    new_id = dict(tok.merges)
    out: list[int] = []
    for chunk in chunks_of(text, tok.pattern):
        ids = list(chunk.encode("utf-8"))
        while len(ids) >= 2:
            pair = min(pairwise(ids), key=lambda p: new_id.get(p, float("inf")))
            if pair not in new_id:
                break
            ids = naive_merge(ids, pair, new_id[pair])
        out.extend(ids)
    return out


# ----- training -------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["default", None])
def test_every_merge_was_the_most_frequent_pair(pattern):
    """Recount all pairs from scratch before every merge and check the trainer's choice."""
    tok = ByteBPETokenizer.train(CORPUS, 256 + 120, pattern=pattern)
    chunks = [list(c.encode("utf-8")) for c in chunks_of(CORPUS, tok.pattern)]
    assert len(tok.merges) == 120
    for rank, ((pair, new), count) in enumerate(zip(tok.merges, tok.merge_counts, strict=True)):
        counts = Counter(p for ids in chunks for p in pairwise(ids))
        best = max(counts.values())
        assert new == 256 + rank
        assert counts[pair] == best == count, f"merge {rank}"
        # Documented tie-break: the smallest (left, right) ids among the most frequent pairs.
        assert pair == min(p for p, c in counts.items() if c == best)
        chunks = [naive_merge(ids, pair, new) for ids in chunks]


def test_overlapping_pairs_are_counted_and_merged_left_to_right():
    tok = ByteBPETokenizer.train("aaaaa aaa", 258, pattern=None)
    a, aa = ord("a"), 256
    assert tok.merges[0] == ((a, a), aa)
    assert tok.merge_counts[0] == 6  # overlapping occurrences, as a naive count sees them
    assert tok.merges[1] == ((aa, a), 257)  # "aaaaa aaa" became aa aa a _ aa a
    assert tok.encode("aaaaa") == naive_encode(tok, "aaaaa") == [aa, 257]  # aa (aa a)


def test_vocab_size_layout_and_special_ids():
    tok = trained()
    assert tok.vocab_size == 400
    assert len(tok.merges) == 400 - 256 - 1
    assert tok.special_tokens == {EOT: 399}
    assert tok.eos_id == 399 and tok.bos_id is None and tok.pad_id is None and tok.unk_id is None
    assert [tok.token_bytes(i) for i in range(256)] == [bytes([b]) for b in range(256)]


def test_merge_history_is_readable_text():
    history = trained().merge_history()
    assert len(history) == len(trained().merges)
    first = history[0]
    assert first.rank == 0 and first.merged == first.left + first.right
    assert first.count == trained().merge_counts[0] > 0
    # Chinese characters are three UTF-8 bytes; their merges show partial bytes as \xNN.
    merged = {step.merged for step in history}
    assert "苹果" in merged or "苹" in merged
    assert any(step.merged.startswith("\\x") for step in history)


def test_early_stop_warns_and_reports_actual_size():
    with pytest.warns(UserWarning, match="ran out of pairs"):
        tok = ByteBPETokenizer.train("abab", 300, special_tokens=[EOT])
    assert len(tok.merges) == 2  # "ab", then "abab"
    assert tok.vocab_size == 256 + 2 + 1
    assert tok.special_tokens == {EOT: 258}
    assert tok.decode(tok.encode("abab")) == "abab"


@pytest.mark.parametrize("bad", [255, 256.0, "512", True, None])
def test_bad_vocab_size_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="vocab_size"):
        ByteBPETokenizer.train(CORPUS, bad)


def test_vocab_size_must_leave_room_for_special_tokens():
    with pytest.raises(ConfigError, match=r"integer >= 258, got 257\. .*256 byte tokens plus 2"):
        ByteBPETokenizer.train(CORPUS, 257, special_tokens=["<a>", "<b>"])
    assert ByteBPETokenizer.train(CORPUS, 258, special_tokens=["<a>", "<b>"]).merges == []


def test_empty_training_text_is_an_input_error():
    with pytest.raises(InputError, match="empty"):
        ByteBPETokenizer.train("", 300)


@pytest.mark.filterwarnings("ignore:The training text ran out")
def test_special_token_text_is_not_trained_on():
    tok = ByteBPETokenizer.train((EOT + "hi ") * 50, 270, special_tokens=[EOT])
    assert not any("endoftext" in step.merged for step in tok.merge_history())


def test_training_progress_bar_runs(capsys):
    ByteBPETokenizer.train(CORPUS, 280, progress=True)
    assert "BPE merges" in capsys.readouterr().err


# ----- pre-splitting --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_pattern_covers_every_character(text):
    assert "".join(re.findall(DEFAULT_PATTERN, text)) == text


@pytest.mark.parametrize(
    ("text", "chunks"),
    [
        ("我喜欢吃苹果。", ["我喜欢吃苹果", "。"]),
        ("Hello world, don't!", ["Hello", " world", ",", " don", "'t", "!"]),
        ("I'M 2024  ok", ["I", "'M", " 2024", " ", " ok"]),
        ("snake_case 😀👍", ["snake", "_", "case", " 😀👍"]),
        ("数字123和English", ["数字", "123", "和English"]),
    ],
)
def test_default_pattern_chunks(text, chunks):
    assert re.findall(DEFAULT_PATTERN, text) == chunks


def test_custom_patterns_must_keep_every_character():
    with pytest.raises(ConfigError, match="would be lost"):
        ByteBPETokenizer.train("a b", 260, pattern=r"\w+")  # would drop the space
    with pytest.raises(ConfigError, match="capturing"):
        ByteBPETokenizer.train("a b", 260, pattern=r"(\w)+|\W")
    with pytest.raises(ConfigError, match="regular expression"):
        ByteBPETokenizer.train("a b", 260, pattern="(unclosed")


# ----- encoding -------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_round_trip_for_any_text(text):
    tok = trained()
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode(text, allowed_special="all")) == text


@settings(max_examples=150, deadline=None)
@given(any_text)
def test_encoder_matches_naive_reference(text):
    for tok in (trained(), trained(pattern=None)):
        assert tok.encode(text) == naive_encode(tok, text)


@settings(max_examples=100, deadline=None)
@given(any_text)
def test_tokenize_pieces_line_up_with_ids_and_bytes(text):
    tok = trained()
    ids = tok.encode(text)
    pieces = tok.tokenize(text)
    assert len(pieces) == len(ids)
    assert b"".join(tok.token_bytes(i) for i in ids) == text.encode("utf-8")
    assert pieces == [tok.id_to_token(i) for i in ids]


def test_chinese_example():
    tok = trained()
    text = "我喜欢吃苹果。"
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(ids) < len(text.encode("utf-8"))  # the corpus taught it some Chinese merges
    assert "".join(tok.tokenize(text)) == text  # every piece here is whole characters
    assert tok.encode(text) == naive_encode(tok, text)


def test_unseen_characters_fall_back_to_bytes():
    tok = trained()
    text = "Ω𝔘𓀀"  # never seen in training
    assert tok.encode(text) == list(text.encode("utf-8"))
    assert tok.decode(tok.encode(text)) == text


def test_special_token_policies():
    tok = trained()
    text = f"hi{EOT}there"
    ordinary = tok.encode(text)
    assert tok.eos_id not in ordinary  # default "none": special text is ordinary text
    assert tok.encode(text, allowed_special="all") == [*tok.encode("hi"), 399, *tok.encode("there")]
    assert tok.encode(text, allowed_special={EOT}) == tok.encode(text, allowed_special="all")
    with pytest.raises(TokenizerError, match="none_raise"):
        tok.encode(text, allowed_special="none_raise")
    assert tok.encode("plain", allowed_special="none_raise") == tok.encode("plain")
    with pytest.raises(TokenizerError, match="not special tokens"):
        tok.encode(text, allowed_special={"<|nope|>"})
    with pytest.raises(ConfigError):
        tok.encode(text, allowed_special="some")
    assert tok.tokenize(text, allowed_special="all")[len(tok.encode("hi"))] == EOT


def test_longer_special_token_wins_over_its_prefix():
    tok = ByteBPETokenizer.train(CORPUS, 300, special_tokens=["<|end|>", "<|end|>x"])
    ids = tok.encode("a<|end|>xb", allowed_special="all")
    assert tok.special_tokens["<|end|>x"] in ids and tok.special_tokens["<|end|>"] not in ids


def test_decode_rejects_unknown_ids():
    tok = trained()
    for bad in ([400], [-1], [5, 10**9]):
        with pytest.raises(TokenizerError, match="does not exist"):
            tok.decode(bad)
    with pytest.raises(TokenizerError):
        tok.decode([1.5])
    with pytest.raises(TokenizerError):
        tok.id_to_token(400)


def test_decode_of_partial_characters_uses_replacement():
    tok = trained()
    first_byte = "我".encode()[:1]
    assert tok.decode(list(first_byte)) == "\ufffd"


def test_decode_accepts_tensors_and_arrays():
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    tok = trained()
    ids = tok.encode("hello 苹果")
    assert tok.decode(torch.tensor(ids)) == tok.decode(np.array(ids)) == "hello 苹果"


def test_token_to_id_and_back():
    tok = trained()
    for i in [0, 65, 255, 256, 300, 398]:
        same_display = {j for j in range(399) if tok.id_to_token(j) == tok.id_to_token(i)}
        assert tok.token_to_id(tok.id_to_token(i)) in same_display
        assert tok.token_bytes(tok.token_to_id(tok.token_bytes(i))) == tok.token_bytes(i)
    assert tok.token_to_id(EOT) == 399 and tok.id_to_token(399) == EOT
    with pytest.raises(TokenizerError):
        tok.token_to_id("definitely not a token")
    with pytest.raises(TokenizerError):
        tok.token_to_id(EOT.encode())  # raw bytes name ordinary tokens only


def test_lone_surrogate_is_a_clear_error():
    with pytest.raises(TokenizerError, match="surrogate"):
        trained().encode("ok\ud800")


def test_empty_text_and_batches():
    tok = trained()
    assert tok.encode("") == [] and tok.decode([]) == "" and tok.tokenize("") == []
    texts = ["", "我喜欢吃苹果。", "hello"]
    assert tok.decode_batch(tok.encode_batch(texts)) == texts


def test_huge_input_round_trips_exactly():
    # Speed is measured in bench/, not here; pytest-timeout still stops a quadratic blow-up.
    rng = random.Random(0)
    words = ["the", "apple", "苹果", "我喜欢", "fox", "12", "😀", "don't", "\n"]
    text = " ".join(rng.choice(words) for _ in range(200_000))[:1_000_000]
    tok = trained()
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    # A single 100,000-character chunk (no spaces) must not recurse or go quadratic.
    long_word = "".join(rng.choice("abcdefgh") for _ in range(100_000))
    assert tok.decode(tok.encode(long_word)) == long_word


@pytest.mark.slow
def test_training_on_a_megabyte_reaches_the_vocabulary_size():
    """~1 MB of mixed English/Chinese text to 4096 tokens (its speed is a bench/ target)."""
    rng = random.Random(1)
    english = ["the", "of", "and", "to", "in", "is", "that", "it", "was", "for", "on", "with"]
    han = [chr(c) for c in range(0x4E00, 0x4E00 + 800)]  # 800 distinct Han characters
    parts = []
    size = 0
    while size < 1_000_000:
        if rng.random() < 0.5:
            part = " ".join(rng.choice(english) for _ in range(12)) + ". "
        else:
            part = "".join(rng.choice(han) for _ in range(rng.randint(4, 15))) + "。"
        parts.append(part)
        size += len(part.encode("utf-8"))
    text = "".join(parts)
    tok = ByteBPETokenizer.train(text, 4096)
    assert tok.vocab_size == 4096
    assert tok.decode(tok.encode(text[:20_000])) == text[:20_000]


# ----- files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["default", None, r"\w+|\W+"])
def test_save_load_round_trip(tmp_path, pattern):
    tok = ByteBPETokenizer.train(CORPUS, 320, pattern=pattern, special_tokens=[EOT, "<|pad|>"])
    path = tok.save(tmp_path / "bpe.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["type"] == "byte_bpe" and data["format_version"] == 1
    for loaded in (ByteBPETokenizer.load(path), load_tokenizer(path)):
        assert isinstance(loaded, ByteBPETokenizer)
        assert loaded.merges == tok.merges and loaded.pattern == tok.pattern
        assert loaded.special_tokens == tok.special_tokens and loaded.pad_id == tok.pad_id
        assert loaded.merge_history() == tok.merge_history()
        for text in ["我喜欢吃苹果。", CORPUS, f"a{EOT}b"]:
            assert loaded.encode(text, allowed_special="all") == tok.encode(
                text, allowed_special="all"
            )


def test_loading_bad_files(tmp_path):
    tok = trained()
    good = json.loads(tok.save(tmp_path / "good.json").read_text(encoding="utf-8"))

    def write(name, content):
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
        return path

    cases = {
        "truncated.json": (tmp_path / "good.json").read_text("utf-8")[:50],
        "list.json": [1, 2, 3],
        "foreign.json": {"model": {"type": "BPE"}, "version": "1.0"},  # a HF tokenizer.json
        "unknown_type.json": {**good, "type": "sentencepiece"},
        "future.json": {**good, "format_version": 99},
        "future_merge.json": {**good, "merges": [[0, 300]]},
        "bad_merge.json": {**good, "merges": [[1, 2, 3]]},
        "no_merges.json": {k: v for k, v in good.items() if k != "merges"},
        "bad_specials.json": {**good, "special_tokens": {EOT: 5}},
        "bad_pattern.json": {**good, "pattern": "(unclosed"},
    }
    for name, content in cases.items():
        with pytest.raises(TokenizerError):
            load_tokenizer(write(name, content))
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TokenizerError, match="not a JSON"):
        load_tokenizer(tmp_path / "binary.json")
    with pytest.raises(TokenizerError, match="No tokenizer file"):
        load_tokenizer(tmp_path / "missing.json")
    char_path = CharTokenizer.train("abc").save(tmp_path / "char.json")
    with pytest.raises(TokenizerError, match="load_tokenizer"):
        ByteBPETokenizer.load(char_path)


def test_encoder_matches_hugging_face_bpe_model():
    """Given our merges, the `tokenizers` library's BPE model must pick the same ids."""
    tokenizers = pytest.importorskip("tokenizers")
    tok = trained(vocab_size=430)
    ordinary = 256 + len(tok.merges)
    # Map each byte to one printable character, as GPT-2 does, so HF can work on strings.
    as_chars = {i: "".join(chr(0x100 + b) for b in tok.token_bytes(i)) for i in range(ordinary)}
    vocab = {text: i for i, text in as_chars.items()}
    if len(vocab) != ordinary:
        pytest.skip("two merges spell the same bytes; the HF vocabulary cannot hold both")
    merges = [(as_chars[a], as_chars[b]) for (a, b), _ in tok.merges]
    hf = tokenizers.Tokenizer(tokenizers.models.BPE(vocab=vocab, merges=merges))
    text = CORPUS + "unseen words: tokenization, 苹果汁, 😀😀😀 naïveté 123456789"
    for chunk in chunks_of(text, tok.pattern):
        mapped = "".join(chr(0x100 + b) for b in chunk.encode("utf-8"))
        assert hf.encode(mapped).ids == tok.encode(chunk), chunk
