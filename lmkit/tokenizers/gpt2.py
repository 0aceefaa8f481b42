"""GPT-2's own tokenizer, offline: the shipped ``vocab.json`` and ``merges.txt`` of GPT-2.

Introduced in chapter 7, to show without a download what GPT-2's byte-level BPE does to a
Chinese prompt (erratum 11). The files live in ``lmkit/data/gpt2_bpe/`` with their provenance
and licence. The tokenizer is assembled the way GPT-2's is: a BPE model over byte-level
symbols, GPT-2's pre-tokenizing regex, no prefix space, and ``<|endoftext|>`` (id 50256) as its
one special token.
"""

from __future__ import annotations

from pathlib import Path

from lmkit._optional import require
from lmkit.tokenizers.hf import HFTokenizer

__all__ = ["GPT2_FILES", "gpt2_tokenizer"]

GPT2_FILES = Path(__file__).resolve().parents[1] / "data" / "gpt2_bpe"
END_OF_TEXT = "<|endoftext|>"


def gpt2_tokenizer() -> HFTokenizer:
    """GPT-2's tokenizer from the shipped files, as an lmkit tokenizer. Introduced in chapter 7."""
    tokenizers = require("tokenizers", "build GPT-2's tokenizer")
    bpe = tokenizers.models.BPE.from_file(
        str(GPT2_FILES / "vocab.json"), str(GPT2_FILES / "merges.txt")
    )
    raw = tokenizers.Tokenizer(bpe)
    raw.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = tokenizers.decoders.ByteLevel()
    raw.add_special_tokens([END_OF_TEXT])  # already id 50256 in vocab.json: marks it special
    return HFTokenizer(raw, roles={"eos": END_OF_TEXT})
