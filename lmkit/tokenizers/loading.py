"""Load any tokenizer file lmkit saved, whatever its type.

Each saved file names its ``"type"``; :class:`~lmkit.tokenizers.base.Tokenizer` subclasses
register that name when their module is imported. This module imports the three core types and
knows where the others live, so loading a file imports only what that file needs.
Introduced in chapter 2.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from lmkit.tokenizers.base import Tokenizer, read_tokenizer_file
from lmkit.tokenizers.bpe import ByteBPETokenizer
from lmkit.tokenizers.char import CharTokenizer
from lmkit.tokenizers.hf import HFTokenizer

CORE_TYPES = (CharTokenizer, ByteBPETokenizer, HFTokenizer)
# Tokenizer types defined elsewhere -> the module that registers them, imported on first use.
LAZY_TYPES: dict[str, str] = {
    "bert_byte_bpe": "lmkit.tokenizers.bert_bpe",
    "hf-minilm-classifier": "lmkit.minilm.loader",
}


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load any tokenizer saved by lmkit, choosing the class from the file's ``"type"``."""
    type_name = read_tokenizer_file(Path(path))["type"]
    if type_name not in Tokenizer._registry and type_name in LAZY_TYPES:
        importlib.import_module(LAZY_TYPES[type_name])
    return Tokenizer.load(path)


__all__ = ["LAZY_TYPES", "load_tokenizer"]
