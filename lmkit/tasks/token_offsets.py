"""Where each token of a text sits in it: character offsets for byte-level BPE tokens.

Introduced in chapter 13. Token classification and extractive QA label *characters* (an entity
is ``text[start:end]``, an answer starts at a character), but models see tokens. lmkit's BPE
tokenizers work on UTF-8 bytes, so :func:`encode_with_offsets` walks the tokens' bytes and maps
them back to characters. A token's span leaves out the leading space GPT-2-style tokens carry
(``" Tom"`` covers ``Tom``); a token that is only whitespace gets an empty span.

Words, for first-sub-word labelling (:func:`word_starts`): a word is a run of letters or digits
of a script that writes spaces (Latin, Cyrillic…); every other visible character (a Chinese
character, a punctuation mark) is a word of its own. So ``Zhao Lei's`` is the words ``Zhao``,
``Lei``, ``'``, ``s``, and ``张伟`` is ``张``, ``伟``.
"""

from __future__ import annotations

from typing import Any

from lmkit.errors import InputError

__all__ = ["encode_with_offsets", "is_cjk", "word_spans", "word_starts"]

Offsets = list[tuple[int, int]]


def is_cjk(char: str) -> bool:
    """True for a Chinese (CJK unified or compatibility) character."""
    code = ord(char)
    return 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF


def _is_word_char(char: str) -> bool:
    return char.isalnum() and not is_cjk(char)


def encode_with_offsets(tokenizer: Any, text: str) -> tuple[list[int], Offsets]:
    """The bare ids of ``text`` (no [CLS]/[SEP]) and each token's ``(start, end)`` characters.

    Needs a byte-level tokenizer (one with ``token_bytes``); a token that holds only part of a
    character's bytes is given that whole character.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}.")
    if not hasattr(tokenizer, "token_bytes"):
        raise InputError("encode_with_offsets needs a byte-level BPE tokenizer (token_bytes).")
    encode = tokenizer.encode
    ids = encode(text, add_special_tokens=False) if hasattr(tokenizer, "cls_id") else encode(text)
    char_of_byte = [i for i, ch in enumerate(text) for _ in range(len(ch.encode("utf-8")))]
    offsets: Offsets = []
    pos = 0
    for token_id in ids:
        n = len(tokenizer.token_bytes(token_id))
        start, end = char_of_byte[pos], char_of_byte[pos + n - 1] + 1
        pos += n
        while start < end and text[start].isspace():
            start += 1
        offsets.append((start, end) if start < end else (end, end))
    return ids, offsets


def word_starts(text: str, offsets: Offsets) -> list[bool]:
    """For each token: does it begin a word (see the module docstring)? Whitespace tokens and
    the second piece of a split character do not."""
    out = []
    previous_start = -1
    for start, end in offsets:
        if start in (end, previous_start):
            out.append(False)
            continue
        glued = start > 0 and _is_word_char(text[start]) and _is_word_char(text[start - 1])
        out.append(not glued)
        previous_start = start
    return out


def word_spans(offsets: Offsets, starts: list[bool]) -> tuple[list[int], Offsets]:
    """The index of every word's first token and the word's character span (its first token's
    start to its last token's end)."""
    firsts: list[int] = []
    spans: Offsets = []
    for i, ((start, end), begins) in enumerate(zip(offsets, starts, strict=True)):
        if begins:
            firsts.append(i)
            spans.append((start, end))
        elif spans and start < end:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
    return firsts, spans
