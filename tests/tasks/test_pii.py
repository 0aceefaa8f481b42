"""lmkit.tasks.pii: the checksums against independent references (ISO 7064's recursive method,
a Luhn written from its digit-doubling table, Python's ipaddress), the hand-labelled set, redaction
and the guards."""

from __future__ import annotations

import ipaddress
import random

import pytest

from lmkit.errors import InputError
from lmkit.tasks.pii import (
    MAX_CHARS,
    PiiSpan,
    cn_id_check_char,
    cn_id_valid,
    find_pii,
    labelled_cases,
    luhn_valid,
    redact,
)


def _iso7064_recursive(first17: str) -> str:
    """ISO 7064 MOD 11-2 by its recursive (pure system) form, not by the weights."""
    p = 0
    for digit in first17:
        p = ((p + int(digit)) * 2) % 11
    check = (12 - p) % 11
    return "X" if check == 10 else str(check)


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # the Luhn table: digit -> digit sum of 2*digit


def _luhn_by_table(number: str) -> bool:
    digits = [int(c) for c in number]
    odd = sum(digits[-1::-2])
    even = sum(_DOUBLED[d] for d in digits[-2::-2])
    return (odd + even) % 10 == 0


def test_published_examples():
    # GB 11643-1999's own example, and well-known test card numbers
    assert cn_id_check_char("11010519491231002") == "X"
    assert cn_id_valid("11010519491231002X") and not cn_id_valid("110105194912310021")
    for card in ("4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"):
        assert luhn_valid(card)
    assert not luhn_valid("4111111111111112")
    assert luhn_valid("4111 1111-1111 1111")


def test_check_digit_and_luhn_match_independent_references():
    rng = random.Random(15)
    for _ in range(2000):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        assert cn_id_check_char(first17) == _iso7064_recursive(first17)
        number = "".join(rng.choice("0123456789") for _ in range(rng.randint(12, 19)))
        assert luhn_valid(number) == _luhn_by_table(number)


def test_ipv4_agrees_with_ipaddress():
    rng = random.Random(4)
    for _ in range(500):
        parts = [str(rng.choice([0, 7, 10, 99, 192, 255, 256, 300, rng.randint(0, 400)]))
                 for _ in range(4)]  # fmt: skip
        candidate = ".".join(parts)
        try:
            ipaddress.IPv4Address(candidate)
            valid = True
        except ValueError:
            valid = False
        found = [s.text for s in find_pii(f"host {candidate} up") if s.kind == "IP"]
        assert (found == [candidate]) == valid, candidate


def test_the_labelled_set_precision_recall_and_known_misses():
    cases = labelled_cases()
    assert len(cases) >= 40 and sum(not e for _, e in cases) >= 15  # many tricky negatives
    tp = fp = fn = 0
    for text, expected in cases:
        got = {(s.kind, s.text) for s in find_pii(text)}
        tp, fp, fn = tp + len(got & set(expected)), fp + len(got - set(expected)), fn + len(
            set(expected) - got
        )
    assert tp / (tp + fp) >= 0.95 and tp / (tp + fn) >= 0.9
    # the misses the module docstring admits: full-width digits, spelt-out e-mails, versions
    assert find_pii("手机 １３８１２３４５６７８") == []
    assert find_pii("tom[at]example.com") == []
    assert [s.kind for s in find_pii("Version 1.2.3.4")] == ["IP"]


def test_spans_and_tricky_negatives():
    text = "小红：13912345678，xiaohong@example.com，身份证 11010519491231002X。"
    spans = find_pii(text)
    assert [s.kind for s in spans] == ["PHONE", "EMAIL", "CN_ID"]
    assert all(text[s.start : s.end] == s.text for s in spans)
    assert isinstance(spans[0], PiiSpan)
    for negative in ("2024-05-01", "订单号 202311251234567890", "110105194912310021",
                     "4111 1111 1111 1112", "12812345678", "999.168.1.1", "1.2.3.4.5"):
        assert find_pii(negative) == [], negative  # fmt: skip


def test_a_valid_id_is_not_also_a_card():
    assert [s.kind for s in find_pii("510107197208153316")] == ["CN_ID"]


def test_redact():
    text = "Call 138-1234-5678 or mail tom@example.com."
    assert redact(text) == "Call [PHONE] or mail [EMAIL]."
    assert redact(text, "***") == "Call *** or mail ***."
    assert redact("nothing here") == "nothing here"
    assert redact("") == ""


def test_guards_say_what_to_do():
    with pytest.raises(InputError, match="Split it"):
        find_pii("a" * (MAX_CHARS + 1))
    with pytest.raises(InputError, match="string"):
        find_pii(b"tom@example.com")
    with pytest.raises(InputError, match="kind"):
        redact("x", "[{name}]")
    with pytest.raises(InputError, match="17 digits"):
        cn_id_check_char("123")
    with pytest.raises(InputError, match="digits only"):
        luhn_valid("4111-abcd")
