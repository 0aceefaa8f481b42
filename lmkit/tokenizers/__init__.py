"""Tokenizers: characters, byte-level BPE from scratch, and an adapter for Hugging Face ones.

Introduced in chapter 2. All share :class:`Tokenizer`'s interface, so the models, the data
pipeline and the app work with any of them.
"""

from lmkit.tokenizers.base import Tokenizer
from lmkit.tokenizers.bpe import ByteBPETokenizer
from lmkit.tokenizers.char import CharTokenizer
from lmkit.tokenizers.char_ngram import CharNgramTokenizer
from lmkit.tokenizers.hf import HFTokenizer
from lmkit.tokenizers.loading import load_tokenizer

__all__ = [
    "ByteBPETokenizer",
    "CharNgramTokenizer",
    "CharTokenizer",
    "HFTokenizer",
    "Tokenizer",
    "load_tokenizer",
]
