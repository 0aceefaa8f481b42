"""Our byte-level BPE with BERT's special tokens: ``[PAD] [CLS] [SEP] [MASK]``.

Introduced in chapter 11. :meth:`BertBPETokenizer.encode` wraps every text as
``[CLS] text [SEP]``, the form a BERT model reads (the classifier looks at the [CLS] vector).
Pass ``add_special_tokens=False`` for the bare ids. As with every lmkit tokenizer, the text
``"[MASK]"`` is ordinary text unless ``allowed_special`` lets it through:
``encode("The [MASK] ran.", allowed_special={"[MASK]"})``.
"""

from __future__ import annotations

from typing import ClassVar

from lmkit.errors import TokenizerError
from lmkit.tokenizers.base import AllowedSpecial
from lmkit.tokenizers.bpe import ByteBPETokenizer

PAD, CLS, SEP, MASK = "[PAD]", "[CLS]", "[SEP]", "[MASK]"
BERT_SPECIAL_TOKENS = (PAD, CLS, SEP, MASK)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
BERT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"  # English contractions
    rf"|[{_CJK}]"  # one Chinese character per chunk, as Google's Chinese BERT does
    rf"| ?[^\W\d_{_CJK}]+"  # letters of other scripts, with at most one leading space
    r"| ?\d+"
    r"| ?(?:[^\s\w]|_)+"
    r"|\s+(?!\S)"
    r"|\s+"
)
"""The GPT-2-like chunking of :mod:`lmkit.tokenizers.bpe`, except that every Chinese character
is a chunk of its own. Chinese has no spaces, so the default pattern lets merges glue whole
phrases (他们去了, 玩得很开心) into one token; a masked-LM then has to guess a phrase, and
``fill_mask`` cannot hide one character. With this pattern a token is at most one character."""


class BertBPETokenizer(ByteBPETokenizer):
    """A :class:`~lmkit.tokenizers.ByteBPETokenizer` whose ``encode`` adds [CLS] and [SEP]."""

    type_name: ClassVar[str] = "bert_byte_bpe"

    @classmethod
    def train_bert(cls, text: str, vocab_size: int, *, progress: bool = False) -> BertBPETokenizer:
        """Learn merges from ``text`` with :data:`BERT_PATTERN`; the four BERT special tokens
        get the last ids."""
        return cls.train(
            text, vocab_size, pattern=BERT_PATTERN, special_tokens=list(BERT_SPECIAL_TOKENS),
            progress=progress,
        )  # fmt: skip

    def _special(self, name: str) -> int:
        if name not in self.special_tokens:
            raise TokenizerError(
                f"This tokenizer has no {name} token; BERT models need {list(BERT_SPECIAL_TOKENS)}."
            )
        return self.special_tokens[name]

    @property
    def cls_id(self) -> int:
        return self._special(CLS)

    @property
    def sep_id(self) -> int:
        return self._special(SEP)

    @property
    def mask_id(self) -> int:
        return self._special(MASK)

    @property
    def mask_token(self) -> str:
        """The text that marks a blank for :func:`lmkit.bert.mlm.fill_mask`."""
        return MASK

    @property
    def pad_id(self) -> int:  # type: ignore[override]
        return self._special(PAD)

    def encode(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = "none",
        add_special_tokens: bool = True,
    ) -> list[int]:
        """Text -> ``[CLS] ids [SEP]`` (or the bare ids with ``add_special_tokens=False``)."""
        ids = super().encode(text, allowed_special=allowed_special)
        return [self.cls_id, *ids, self.sep_id] if add_special_tokens else ids


__all__ = ["BERT_PATTERN", "BERT_SPECIAL_TOKENS", "CLS", "MASK", "PAD", "SEP", "BertBPETokenizer"]
