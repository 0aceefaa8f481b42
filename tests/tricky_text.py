"""Text that tends to break tokenizers, shared by the tokenizer property tests."""

from __future__ import annotations

from hypothesis import strategies as st

EOT = "<|endoftext|>"

# Multi-byte characters, joiners, combining marks, control characters, odd spaces, and
# special-token text.
TRICKY = [
    "我",
    "喜欢",
    "。",
    "😀",
    "👨\u200d👩\u200d👧",
    "e\u0301",
    "\x00",
    "\x1f",
    "\n",
    " ",
    "\t",
    "\u3000",
    EOT,
    "'s",
    "9",
]

any_text = st.one_of(st.text(), st.lists(st.sampled_from(TRICKY)).map("".join))
